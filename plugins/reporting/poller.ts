/**
 * One poll of the Reporting API: list campaigns, fetch the daily series of the running ones, list
 * newsletters and fetch those sent within the lookback; then emit report events for complete days,
 * set today's campaign gauges, and reconcile yesterday against the webhooks received.
 *
 * A request that fails for good (after its retries) costs only its campaign or newsletter: the rest
 * of the poll goes on, the failed campaign keeps its previous gauge values, and the poll ends with
 * PollIncomplete so the job is recorded as failed and `reporting_last_success_timestamp_seconds`
 * does not move.
 */
import type { Logger } from '../../src/logger.js'
import type { Ingestor } from '../../src/ingest.js'
import { AppApiError, type AppApiClient, type CampaignSummary, type NewsletterSummary, type Series } from './app-api.js'
import { DAY_MS, lookbackWindow, zonedDay } from './days.js'
import type { ReportingGauges } from './gauges.js'
import { reconcile, type WebhookCounter } from './reconciliation.js'
import {
  NEWSLETTER_TIME_ZONE, campaignReportEvents, emitReportEvents, isMetricName, newsletterReportEvents, type ReportEvent
} from './report-events.js'
import type { ReportingSnapshot, ReportingState } from './state.js'

/** Metrics requests in flight at once; the pacer keeps the rate, this only overlaps latency. */
const FETCH_CONCURRENCY = 4

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
  readonly events: number
  readonly failures: number
}

export class ReportingPoller {
  private readonly now: () => number

  constructor (private readonly options: PollerOptions) {
    this.now = options.now ?? Date.now
  }

  async poll (signal?: AbortSignal): Promise<PollSummary> {
    const { client, logger, lookbackDays } = this.options
    const started = this.now()
    // At least two days: yesterday is what reconciliation compares.
    const window = lookbackWindow(started, Math.max(2, lookbackDays))
    const today = window.days.length - 1
    const yesterday = window.days[today - 1] as string
    const failures: string[] = []
    const fail = (what: string, error: unknown): void => {
      if (signal?.aborted === true || !(error instanceof AppApiError)) throw error
      failures.push(what)
      logger.error({ what, endpoint: error.endpoint, status: error.status, error: error.message }, 'reporting API request failed for good')
    }

    const running = (await client.listCampaigns(signal)).filter((campaign) => campaign.running)
    const campaignSeries = new Map<CampaignSummary, Series>()
    const failedCampaigns = new Set<string>()
    await eachLimit(running, FETCH_CONCURRENCY, async (campaign) => {
      try {
        const series = await client.campaignMetrics(campaign.id, window.startMs / 1000, Math.floor(window.endMs / 1000), signal)
        if (series !== undefined) campaignSeries.set(campaign, series)
      } catch (error) {
        fail(`campaign ${campaign.id}`, error)
        failedCampaigns.add(String(campaign.id))
      }
    })

    const newsletterSeries = new Map<NewsletterSummary, Series>()
    try {
      const since = (started - lookbackDays * DAY_MS) / 1000
      const recent = (await client.listNewsletters(signal)).filter((newsletter) => newsletter.sentAt !== undefined && newsletter.sentAt >= since)
      await eachLimit(recent, FETCH_CONCURRENCY, async (newsletter) => {
        try {
          const series = await client.newsletterMetrics(newsletter.id, lookbackDays, signal)
          if (series !== undefined) newsletterSeries.set(newsletter, series)
        } catch (error) {
          fail(`newsletter ${newsletter.id}`, error)
        }
      })
    } catch (error) {
      fail('newsletter list', error)
    }

    const events: ReportEvent[] = []
    for (const [campaign, series] of campaignSeries) events.push(...campaignReportEvents(campaign, series, window.days))
    const easternToday = zonedDay(started, NEWSLETTER_TIME_ZONE)
    for (const [newsletter, series] of newsletterSeries) events.push(...newsletterReportEvents(newsletter, series, easternToday, lookbackDays))
    const emitted = await emitReportEvents(events, this.options.ingestor, this.options.state, logger)
    if (emitted.failed > 0) failures.push(`${emitted.failed} report events`)

    const snapshot = await this.snapshot(started, campaignSeries, failedCampaigns, today, yesterday, failures.length === 0)
    // This process's gauges first: they need no Redis, and other replicas follow the saved snapshot.
    this.options.gauges.apply(snapshot)
    await this.options.state.saveSnapshot(snapshot)

    const summary = { campaigns: campaignSeries.size, newsletters: newsletterSeries.size, events: emitted.routed, failures: failures.length }
    logger.info({ ...summary, skipped_events: emitted.skipped, duration_ms: this.now() - started }, 'reporting poll finished')
    if (failures.length > 0) throw new PollIncomplete(`reporting poll incomplete: ${failures.slice(0, 5).join(', ')}${failures.length > 5 ? ', …' : ''}`)
    return summary
  }

  private async snapshot (polledAt: number, campaignSeries: ReadonlyMap<CampaignSummary, Series>, failedCampaigns: ReadonlySet<string>,
    today: number, yesterday: string, complete: boolean): Promise<ReportingSnapshot> {
    const todayCounts: Array<[string, string, number]> = []
    const yesterdayCounts: Array<[string, string, number]> = []
    for (const [campaign, series] of campaignSeries) {
      for (const [metric, values] of series) {
        if (!isMetricName(metric)) continue
        const todayValue = values[today]
        const yesterdayValue = values[today - 1]
        if (todayValue !== undefined) todayCounts.push([String(campaign.id), metric, todayValue])
        if (yesterdayValue !== undefined) yesterdayCounts.push([String(campaign.id), metric, yesterdayValue])
      }
    }
    // Webhooks counted by other processes reach the shared state within a second; this process's now.
    await this.options.counter.flush()
    const gaps = reconcile(yesterdayCounts, await this.options.state.received(yesterday))
    const previous = failedCampaigns.size > 0 || !complete ? await this.options.state.loadSnapshot() : undefined
    const kept = (entries: ReadonlyArray<readonly [string, string, number]> | undefined): Array<[string, string, number]> =>
      (entries ?? []).filter(([campaignId]) => failedCampaigns.has(campaignId)).map(([a, b, c]) => [a, b, c])
    return {
      polledAt,
      lastSuccessAt: complete ? this.now() : previous?.lastSuccessAt ?? 0,
      campaignMetrics: [...todayCounts, ...kept(previous?.campaignMetrics)],
      gaps: [...gaps, ...kept(previous?.gaps)]
    }
  }
}

async function eachLimit<T> (items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) await run(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}
