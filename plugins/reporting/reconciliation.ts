/**
 * Reconciliation: count the webhook events the gateway accepts per (campaign, UTC day of the event,
 * metric), and after each poll compare them with Customer.io's own daily counts. The gap for the
 * last complete day is what is missing (positive) or extra (negative) on the webhook side.
 *
 * Counting stays off the ingest hot path: `count` only bumps an in-memory map, and a timer writes
 * the map to the shared state once a second (one MULTI of HINCRBYs for all campaigns). The price is
 * that a crash loses up to a second of counts, which shows as a small positive gap for that day (a
 * false "missing" reading, never a hidden loss); and a reader may see counts up to a second late,
 * which does not matter for a day that ended before the poll. A write per event (fire-and-forget)
 * would lose less on a crash but double the Redis commands of every webhook.
 */
import type { Logger } from '../../src/logger.js'
import { METRICS_BY_OBJECT_TYPE, type RoutableEvent } from '../../src/events.js'
import { utcDay } from './days.js'
import type { DayCounts, ReportingState } from './state.js'

/** Metrics compared: those webhooks carry. The API's other series (human_opened, 2xx, …) have no webhook. */
export const WEBHOOK_METRICS: ReadonlySet<string> = new Set<string>(Object.values(METRICS_BY_OBJECT_TYPE).flat())

/** Counts waiting for Redis are kept up to this many fields; beyond it new ones are dropped (and logged). */
const MAX_PENDING_FIELDS = 100_000

export function countField (campaignId: string, metric: string): string {
  return `${campaignId}:${metric}`
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

  /** For `Ingestor.onAccepted`: synchronous, no I/O. Events without a campaign, a time or a known metric are not counted. */
  count (event: RoutableEvent): void {
    const campaignId = campaignIdOf(event.data)
    const timestamp = event.timestamp
    if (campaignId === undefined || typeof timestamp !== 'number' || !Number.isFinite(timestamp) || !WEBHOOK_METRICS.has(event.metric)) return
    this.add(utcDay(timestamp * 1000), countField(campaignId, event.metric), 1)
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

/** One gap per (campaign, metric): Customer.io's count for the day minus the webhooks received that day. */
export function reconcile (apiCounts: Iterable<readonly [string, string, number]>, received: DayCounts): Array<[string, string, number]> {
  const gaps: Array<[string, string, number]> = []
  for (const [campaignId, metric, count] of apiCounts) {
    if (!WEBHOOK_METRICS.has(metric)) continue
    gaps.push([campaignId, metric, count - (received.get(countField(campaignId, metric)) ?? 0)])
  }
  return gaps
}

function campaignIdOf (data: unknown): string | undefined {
  const value = (data as { campaign_id?: unknown } | null | undefined)?.campaign_id
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value)
  if (typeof value === 'string' && /^[0-9]{1,15}$/.test(value)) return value
  return undefined
}
