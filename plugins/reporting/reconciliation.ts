/**
 * Reconciliation: count the webhook events the gateway accepts per (campaign, newsletter or
 * broadcast, day of the event, compared metric), and compare them with Customer.io's own daily
 * counts. A gap is Customer.io's count minus the gateway's: positive when webhooks are missing,
 * negative when the gateway has more.
 *
 * Counting stays off the ingest hot path: `count` only bumps an in-memory map, and a timer writes
 * the map to the shared state once a second (one MULTI of HINCRBYs). The price is that a crash
 * loses up to a second of counts, which shows as a small positive gap for that day (a false
 * "missing" reading, never a hidden loss); and a reader may see counts up to a second late, which
 * does not matter for a day that ended before the poll. A write per event (fire-and-forget) would
 * lose less on a crash but double the Redis commands of every webhook.
 *
 * A field of the counts is `<kind>:<id>:<metric>`, `metric` being a row of COMPARED_METRICS; the
 * day is the one the kind's API series uses (UTC for campaigns, EST for newsletters and broadcasts).
 */
import type { Logger } from '../../src/logger.js'
import type { RoutableEvent } from '../../src/events.js'
import { COMPARED_METRICS, rowsCounting } from './metric-map.js'
import type { DayCounts, ReportingState } from './state.js'
import { TARGET_KINDS, dayOf, type TargetKind, type TargetMetrics } from './targets.js'

/** Counts waiting for Redis are kept up to this many fields; beyond it new ones are dropped (and logged). */
const MAX_PENDING_FIELDS = 100_000

export function countField (kind: TargetKind, id: number, metric: string): string {
  return `${kind}:${id}:${metric}`
}

/**
 * The gateway's count of one field. Before newsletters and broadcasts were counted, campaign fields
 * were written as `<campaign_id>:<metric>`; those are still read (they expire with the counts'
 * retention), and added, since the day of an upgrade holds both.
 */
export function gatewayCount (counts: DayCounts | undefined, kind: TargetKind, id: number, metric: string): number {
  const current = counts?.get(countField(kind, id, metric)) ?? 0
  return kind === 'campaign' ? current + (counts?.get(`${id}:${metric}`) ?? 0) : current
}

/** kind → ids that received at least one counted webhook on any of the days. */
export function countedTargets (received: Iterable<DayCounts>): Map<TargetKind, Set<number>> {
  const targets = new Map<TargetKind, Set<number>>(TARGET_KINDS.map((kind) => [kind, new Set<number>()]))
  for (const counts of received) {
    for (const field of counts.keys()) {
      const parts = field.split(':')
      const [kind, id] = parts.length === 2 ? ['campaign', parts[0]] : [parts[0], parts[1]]
      targets.get(kind as TargetKind)?.add(Number(id))
    }
  }
  return targets
}

/** kind and id of the campaign, broadcast or newsletter that sent the message, from the webhook's `data`. */
export function targetOf (data: unknown): { kind: TargetKind, id: number } | undefined {
  if (data === null || typeof data !== 'object') return undefined
  const record = data as Record<string, unknown>
  for (const [kind, key] of [['campaign', 'campaign_id'], ['broadcast', 'broadcast_id'], ['newsletter', 'newsletter_id']] as const) {
    const id = idOf(record[key])
    if (id !== undefined) return { kind, id }
  }
  return undefined
}

export class WebhookCounter {
  private pending = new Map<string, Map<string, number>>()
  private pendingFields = 0
  private dropped = 0
  private flushing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private lastWarning = 0

  constructor (private readonly state: ReportingState, private readonly logger: Logger, private readonly flushMs = 1000) {}

  start (): void {
    this.timer = setInterval(() => { void this.flush() }, this.flushMs)
    this.timer.unref()
  }

  /**
   * For `Ingestor.onAccepted`: synchronous, no I/O. Events without a campaign, broadcast or
   * newsletter, without a time, or of a metric the API has no series of are not counted.
   */
  count (event: RoutableEvent): void {
    const target = targetOf(event.data)
    const timestamp = event.timestamp
    if (target === undefined || typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return
    const day = dayOf(target.kind, timestamp * 1000)
    for (const row of rowsCounting(event.metric, event.data as Record<string, unknown>)) {
      this.add(day, countField(target.kind, target.id, row.metric), 1)
    }
  }

  /** Writes what is pending; concurrent callers wait for the write under way, then for theirs. */
  async flush (): Promise<void> {
    while (this.flushing !== undefined) await this.flushing
    if (this.pending.size === 0) return
    const batch = this.pending
    this.pending = new Map()
    this.pendingFields = 0
    this.flushing = this.write(batch)
    try {
      await this.flushing
    } finally {
      this.flushing = undefined
    }
  }

  async close (): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    await this.flush()
    // The last chance: a write that failed (a connection not ready yet, a slow Redis) is tried once
    // more after the state's connection is up, rather than lost with the process.
    if (this.pending.size > 0) {
      await this.state.ready().catch(() => {})
      await this.flush()
    }
  }

  private async write (batch: Map<string, Map<string, number>>): Promise<void> {
    try {
      await this.state.addReceived(batch)
    } catch (error) {
      // Kept for the next flush: Redis is usually back within seconds.
      for (const [day, fields] of batch) for (const [field, count] of fields) this.add(day, field, count)
      this.warn('webhook counts could not be written; kept for the next try', error)
    }
  }

  private add (day: string, field: string, count: number): void {
    let fields = this.pending.get(day)
    if (fields === undefined) this.pending.set(day, fields = new Map())
    const before = fields.get(field)
    if (before === undefined) {
      if (this.pendingFields >= MAX_PENDING_FIELDS) {
        this.dropped += count
        this.warn('webhook counts dropped: too many waiting for Redis')
        return
      }
      this.pendingFields++
    }
    fields.set(field, (before ?? 0) + count)
  }

  private warn (message: string, error?: unknown): void {
    if (Date.now() - this.lastWarning < 10_000) return
    this.lastWarning = Date.now()
    this.logger.warn({ error: error instanceof Error ? error.message : undefined, dropped: this.dropped }, message)
  }
}

export interface Comparison {
  /** The compared metric (a row of COMPARED_METRICS). */
  readonly metric: string
  readonly customerio: number
  readonly gateway: number
  /** customerio − gateway. */
  readonly gap: number
}

/** One day of one target: every compared metric whose series Customer.io returned for that day. */
export function compareDay (target: TargetMetrics, day: string, counts: DayCounts | undefined): Comparison[] {
  const comparisons: Comparison[] = []
  for (const row of COMPARED_METRICS) {
    const customerio = target.series.get(row.series)?.get(day)
    if (customerio === undefined) continue
    const gateway = gatewayCount(counts, target.kind, target.id, row.metric)
    comparisons.push({ metric: row.metric, customerio, gateway, gap: customerio - gateway })
  }
  return comparisons
}

function idOf (value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value
  if (typeof value === 'string' && /^[0-9]{1,15}$/.test(value)) return Number(value)
  return undefined
}
