/**
 * One poll of the App API: read the daily series of every campaign, newsletter and API-triggered
 * broadcast with activity in the lookback (collect.ts); then emit report events for complete days,
 * set today's campaign gauges, and reconcile the last complete day against the webhooks received.
 *
 * A request that fails for good (after its retries) costs only its target, or the targets of a
 * list that could not be read: the rest of the poll goes on, those keep their previous gauge values,
 * and the poll ends with PollIncomplete so the job is recorded as failed and
 * `reporting_last_success_timestamp_seconds` does not move.
 */
import type { Logger } from '../../src/logger.js'
import type { Ingestor } from '../../src/ingest.js'
import type { AppApiClient } from './app-api.js'
import { collect, reportWindow, type Collected } from './collect.js'
import type { ReportingGauges } from './gauges.js'
import { compareDay, type WebhookCounter } from './reconciliation.js'
import { emitReportEvents, isMetricName, reportEvents, type ReportEvent } from './report-events.js'
import type { ReportingSnapshot, ReportingState } from './state.js'
import type { TargetKind } from './targets.js'

export class PollIncomplete extends Error {
  override readonly name = 'PollIncomplete'
}

export interface PollerOptions {
  readonly client: AppApiClient
  readonly state: ReportingState
  readonly counter: WebhookCounter
  readonly ingestor: Ingestor
  readonly gauges: ReportingGauges
  readonly lookbackDays: number
  readonly logger: Logger
  readonly now?: () => number
}

export interface PollSummary {
  readonly campaigns: number
  readonly newsletters: number
  readonly broadcasts: number
  readonly events: number
  readonly failures: number
}

type Triple = [string, string, number]

export class ReportingPoller {
  private readonly now: () => number
  /** What this process's last poll read (the console reconciles it with reconcileReport); undefined before the first. */
  latest: Collected | undefined

  constructor (private readonly options: PollerOptions) {
    this.now = options.now ?? Date.now
  }

  async poll (signal?: AbortSignal): Promise<PollSummary> {
    const { client, logger, lookbackDays, state } = this.options
    const started = this.now()
    // This process's counts first; other processes write theirs within a second.
    await this.options.counter.flush()
    // At least two days: yesterday is what the gauges reconcile.
    const collected = await collect(client, state, reportWindow(started, Math.max(2, lookbackDays)), logger, signal)
    this.latest = collected
    const failures = [...collected.failures]

    const events: ReportEvent[] = []
    for (const target of collected.targets) events.push(...reportEvents(target, completeDays(collected, target.kind)))
    const emitted = await emitReportEvents(events, this.options.ingestor, state, logger)
    if (emitted.failed > 0) failures.push(`${emitted.failed} report events`)

    const snapshot = await this.snapshot(started, collected, failures.length === 0)
    // This process's gauges first: they need no Redis, and other replicas follow the saved snapshot.
    this.options.gauges.apply(snapshot)
    await state.saveSnapshot(snapshot)

    const count = (kind: TargetKind): number => collected.targets.filter((target) => target.kind === kind).length
    const summary = { campaigns: count('campaign'), newsletters: count('newsletter'), broadcasts: count('broadcast'), events: emitted.routed, failures: failures.length }
    logger.info({ ...summary, skipped_events: emitted.skipped, duration_ms: this.now() - started }, 'reporting poll finished')
    if (failures.length > 0) throw new PollIncomplete(`reporting poll incomplete: ${failures.slice(0, 5).join(', ')}${failures.length > 5 ? ', …' : ''}`)
    return summary
  }

  private async snapshot (polledAt: number, collected: Collected, complete: boolean): Promise<ReportingSnapshot> {
    const todayCounts: Triple[] = []
    const gaps = new Map<TargetKind, Triple[]>([['campaign', []], ['newsletter', []], ['broadcast', []]])
    for (const target of collected.targets) {
      const days = collected.window.days.get(target.kind) as readonly string[]
      const today = days[days.length - 1] as string
      const yesterday = days[days.length - 2] as string
      if (target.kind === 'campaign') {
        for (const [metric, counts] of target.series) {
          const value = counts.get(today)
          if (isMetricName(metric) && value !== undefined) todayCounts.push([String(target.id), metric, value])
        }
      }
      for (const { metric, gap } of compareDay(target, yesterday, collected.received.get(yesterday))) {
        gaps.get(target.kind)?.push([String(target.id), metric, gap])
      }
    }
    // Targets whose series could not be read keep the values of the last poll that read them.
    const failed = collected.failedKinds.size > 0 || collected.failedTargets.size > 0
    const previous = failed || !complete ? await this.options.state.loadSnapshot() : undefined
    const kept = (kind: TargetKind, entries: ReadonlyArray<readonly [string, string, number]> | undefined): Triple[] =>
      (entries ?? []).filter(([id]) => collected.failedKinds.has(kind) || collected.failedTargets.has(`${kind}:${id}`)).map(([a, b, c]) => [a, b, c])
    return {
      polledAt,
      lastSuccessAt: complete ? this.now() : previous?.lastSuccessAt ?? 0,
      campaignMetrics: [...todayCounts, ...kept('campaign', previous?.campaignMetrics)],
      gaps: [...gaps.get('campaign') ?? [], ...kept('campaign', previous?.gaps)],
      newsletterGaps: [...gaps.get('newsletter') ?? [], ...kept('newsletter', previous?.newsletterGaps)],
      broadcastGaps: [...gaps.get('broadcast') ?? [], ...kept('broadcast', previous?.broadcastGaps)]
    }
  }
}

/** The window's days of a kind without today, which is still running. */
function completeDays (collected: Collected, kind: TargetKind): readonly string[] {
  return (collected.window.days.get(kind) as readonly string[]).slice(0, -1)
}
