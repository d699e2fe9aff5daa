/**
 * Puts a poll's results on this process's gauges. The poll runs on one replica, but Prometheus
 * scrapes them all: every worker replica reads the latest snapshot from the shared state and shows
 * the same values, and series of campaigns, newsletters and broadcasts that are no longer polled are
 * removed rather than frozen.
 */
import type { Gauge } from 'prom-client'
import type { Logger } from '../../src/logger.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { ReportingSnapshot, ReportingState } from './state.js'

type Triple = readonly [string, string, number]

export class ReportingGauges {
  private readonly shown = new Map<Gauge<string>, Set<string>>()
  private appliedPolledAt = -1
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly metrics: GatewayMetrics, private readonly state: ReportingState, private readonly logger: Logger) {}

  apply (snapshot: ReportingSnapshot): void {
    this.replace(this.metrics.campaignMetric, 'campaign_id', snapshot.campaignMetrics)
    this.replace(this.metrics.reconciliationGap, 'campaign_id', snapshot.gaps)
    this.replace(this.metrics.newsletterReconciliationGap, 'newsletter_id', snapshot.newsletterGaps ?? [])
    this.replace(this.metrics.broadcastReconciliationGap, 'broadcast_id', snapshot.broadcastGaps ?? [])
    if (snapshot.lastSuccessAt > 0) this.metrics.reportingLastSuccess.set(snapshot.lastSuccessAt / 1000)
    this.appliedPolledAt = snapshot.polledAt
  }

  /** Follows polls made by other replicas. */
  startFollowing (everyMs: number): void {
    this.timer = setInterval(() => { void this.refresh() }, everyMs)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  async refresh (): Promise<void> {
    try {
      const snapshot = await this.state.loadSnapshot()
      if (snapshot !== undefined && snapshot.polledAt !== this.appliedPolledAt) this.apply(snapshot)
    } catch (error) {
      this.logger.debug({ error: (error as Error).message }, 'reporting snapshot not read')
    }
  }

  private replace (gauge: Gauge<string>, idLabel: string, values: readonly Triple[]): void {
    const before = this.shown.get(gauge) ?? new Set<string>()
    const now = new Set<string>()
    for (const [id, metric, value] of values) {
      gauge.set({ [idLabel]: id, metric }, value)
      now.add(`${id}\n${metric}`)
    }
    for (const key of before) {
      if (now.has(key)) continue
      const [id, metric] = key.split('\n') as [string, string]
      gauge.remove({ [idLabel]: id, metric })
    }
    this.shown.set(gauge, now)
  }
}
