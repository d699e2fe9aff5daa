/**
 * Puts a poll's results on this process's gauges. The poll runs on one replica, but Prometheus
 * scrapes them all: every worker replica reads the latest snapshot from the shared state and shows
 * the same values, and series of campaigns that stopped running are removed rather than frozen.
 */
import type { Gauge } from 'prom-client'
import type { Logger } from '../../src/logger.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { ReportingSnapshot, ReportingState } from './state.js'

type Triple = readonly [string, string, number]

export class ReportingGauges {
  private readonly shown = new Map<Gauge<'campaign_id' | 'metric'>, Set<string>>()
  private appliedPolledAt = -1
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly metrics: GatewayMetrics, private readonly state: ReportingState, private readonly logger: Logger) {}

  apply (snapshot: ReportingSnapshot): void {
    this.replace(this.metrics.campaignMetric, snapshot.campaignMetrics)
    this.replace(this.metrics.reconciliationGap, snapshot.gaps)
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

  private replace (gauge: Gauge<'campaign_id' | 'metric'>, values: readonly Triple[]): void {
    const before = this.shown.get(gauge) ?? new Set<string>()
    const now = new Set<string>()
    for (const [campaignId, metric, value] of values) {
      gauge.set({ campaign_id: campaignId, metric }, value)
      now.add(`${campaignId}\n${metric}`)
    }
    for (const key of before) {
      if (now.has(key)) continue
      const [campaignId, metric] = key.split('\n') as [string, string]
      gauge.remove({ campaign_id: campaignId, metric })
    }
    this.shown.set(gauge, now)
  }
}
