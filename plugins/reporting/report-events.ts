/**
 * Report events (SPEC §7): one event per (campaign, newsletter or broadcast, metric, complete day),
 * routed through routes.yaml under the source name `reporting` like any webhook. Their ids are
 * deterministic, `report:<kind>:<id>:<metric>:<YYYY-MM-DD>`, so a re-poll of the same day is a
 * duplicate.
 *
 * Only complete days are emitted: today's count still grows, and an event id can carry one value
 * only. Zero counts are not emitted (a day with no event reads as 0). Each event is emitted once:
 * the ingest dedupe remembers ids for `dedupe.window` (24 h by default) but a day stays in the
 * lookback for `lookback` days, so the poller also keeps its own "emitted" marks for that long.
 */
import type { Logger } from '../../src/logger.js'
import type { RoutableEvent } from '../../src/events.js'
import { StoreUnavailable, type Ingestor } from '../../src/ingest.js'
import type { JobPayload } from '../../src/sinks/job.js'
import { EASTERN_TIME_ZONE, dayStartMs } from './days.js'
import type { ReportingState } from './state.js'
import { easternKind, type TargetMetrics } from './targets.js'

/** The source name report events are routed under (`match: { source: reporting }`). */
export const REPORTING_SOURCE = 'reporting'

/** Series names become label values and event fields: keep them to plain identifiers. */
export function isMetricName (name: string): boolean {
  return /^[a-z0-9_]{1,64}$/.test(name)
}

export interface ReportEvent extends RoutableEvent {
  event_id: string
  object_type: 'report'
  metric: 'campaign_metrics' | 'newsletter_metrics' | 'broadcast_metrics'
  timestamp: number
  data: Record<string, unknown>
}

/** The events of a target's `days` (complete days in its day boundary), one per series and day with a count. */
export function reportEvents (target: TargetMetrics, days: readonly string[]): ReportEvent[] {
  const { kind, id, name } = target
  const events: ReportEvent[] = []
  for (const [metric, counts] of target.series) {
    if (!isMetricName(metric)) continue
    for (const day of days) {
      const count = counts.get(day) ?? 0
      if (count === 0) continue
      events.push({
        event_id: `report:${kind}:${id}:${metric}:${day}`,
        object_type: 'report',
        metric: `${kind}_metrics`,
        // Midnight UTC of the labelled day, so time-partitioned sinks file it under that date.
        timestamp: dayStartMs(day) / 1000,
        data: { [`${kind}_id`]: id, [`${kind}_name`]: name, metric, date: day, count, time_zone: easternKind(kind) ? EASTERN_TIME_ZONE : 'UTC' }
      })
    }
  }
  return events
}

export interface EmitResult {
  /** Routed now (accepted, duplicate or unrouted). */
  readonly routed: number
  /** Skipped because an earlier poll emitted them. */
  readonly skipped: number
  /** Not stored (the queue was unavailable); tried again next poll. */
  readonly failed: number
}

export async function emitReportEvents (events: readonly ReportEvent[], ingestor: Ingestor, state: ReportingState, logger: Logger): Promise<EmitResult> {
  const byDay = new Map<string, ReportEvent[]>()
  for (const event of events) {
    const day = event.data.date as string
    const list = byDay.get(day)
    if (list === undefined) byDay.set(day, [event])
    else list.push(event)
  }
  let routed = 0
  let skipped = 0
  let failed = 0
  for (const [day, dayEvents] of byDay) {
    const fresh = new Set(await state.notEmitted(day, dayEvents.map((event) => event.event_id)))
    skipped += dayEvents.length - fresh.size
    const done: string[] = []
    try {
      for (const event of dayEvents) {
        if (!fresh.has(event.event_id)) continue
        const body = JSON.stringify(event)
        const payload: JobPayload = { s: REPORTING_SOURCE, r: Date.now(), b: body, e: event.event_id }
        await ingestor.route(REPORTING_SOURCE, event, payload)
        done.push(event.event_id)
      }
    } catch (error) {
      if (!(error instanceof StoreUnavailable)) throw error
      failed += fresh.size - done.length
      logger.warn({ reason: error.reason, day, not_stored: fresh.size - done.length }, 'report events could not be stored; they are tried again at the next poll')
    } finally {
      await state.markEmitted(day, done)
      routed += done.length
    }
  }
  return { routed, skipped, failed }
}
