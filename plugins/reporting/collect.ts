/**
 * Reads what reconciliation needs for a window of days: the gateway's webhook counts, and
 * Customer.io's daily series of every campaign, newsletter and API-triggered broadcast with
 * activity in the window. Shared by the poller and `cio-gateway reconcile`.
 *
 * Activity means, for campaigns and broadcasts: running (or `active`), or changed (`updated`, which
 * starting and stopping set) within the window, so one stopped during the window is still compared;
 * for newsletters: sent within the last 45 days (opens and clicks keep coming after the send, and 45
 * days is the longest series the endpoint serves); and for any of them: webhooks counted in the
 * window, which also covers a campaign stopped long ago whose messages are still being opened.
 */
import type { Logger } from '../../src/logger.js'
import { AppApiError, PERIOD_DAYS_MAX, type AppApiClient, type Series, type WorkflowSummary } from './app-api.js'
import { DAY_MS, dayStartMs, daysEndingWith, easternDay, easternDayStartMs, utcDay } from './days.js'
import { countedTargets } from './reconciliation.js'
import type { DayCounts, ReportingState } from './state.js'
import { TARGET_KINDS, seriesFromEnd, seriesFromStart, type TargetKind, type TargetMetrics } from './targets.js'

/** Metrics requests in flight at once; the pacer keeps the rate, this only overlaps latency. */
const FETCH_CONCURRENCY = 4

export interface ReportWindow {
  readonly nowMs: number
  /** kind → its days, oldest first; the last one is today in the kind's day boundary. */
  readonly days: ReadonlyMap<TargetKind, readonly string[]>
}

/**
 * `lookbackDays` days ending today: UTC days for campaigns; EST days for newsletters and
 * broadcasts, at most 45 of them (the most their endpoints serve).
 */
export function reportWindow (nowMs: number, lookbackDays: number): ReportWindow {
  const campaignDays = daysEndingWith(utcDay(nowMs), lookbackDays)
  const easternDays = daysEndingWith(easternDay(nowMs), Math.min(lookbackDays, PERIOD_DAYS_MAX))
  return { nowMs, days: new Map([['campaign', campaignDays], ['newsletter', easternDays], ['broadcast', easternDays]]) }
}

export interface Collected {
  readonly window: ReportWindow
  readonly targets: readonly TargetMetrics[]
  /** Every day of the window → the gateway's counts. */
  readonly received: ReadonlyMap<string, DayCounts>
  /** Kinds whose list could not be read: none of their targets is in `targets`. */
  readonly failedKinds: ReadonlySet<TargetKind>
  /** `<kind>:<id>` of targets whose metrics could not be read. */
  readonly failedTargets: ReadonlySet<string>
  /** One line per failure (what, and the request's error), for logs and the report. */
  readonly failures: readonly string[]
}

interface Candidate { readonly kind: TargetKind, readonly id: number, readonly name: string | undefined }

export async function collect (client: AppApiClient, state: ReportingState, window: ReportWindow, logger: Logger, signal?: AbortSignal): Promise<Collected> {
  const allDays = [...new Set([...window.days.values()].flat())].sort()
  const received = await state.received(allDays)
  const counted = countedTargets(received.values())
  const failures: string[] = []
  const failedKinds = new Set<TargetKind>()
  const failedTargets = new Set<string>()
  const fail = (what: string, error: unknown): void => {
    if (signal?.aborted === true || !(error instanceof AppApiError)) throw error
    failures.push(`${what}: ${error.message}`)
    logger.error({ what, endpoint: error.endpoint, status: error.status, error: error.message }, 'reporting API request failed for good')
  }

  const candidates: Candidate[] = []
  for (const kind of TARGET_KINDS) {
    try {
      candidates.push(...await activeTargets(client, kind, window, counted.get(kind) ?? new Set(), signal))
    } catch (error) {
      fail(`${kind} list`, error)
      failedKinds.add(kind)
    }
  }

  const targets: TargetMetrics[] = []
  await eachLimit(candidates, FETCH_CONCURRENCY, async (candidate) => {
    const days = window.days.get(candidate.kind) as readonly string[]
    try {
      const series = await fetchSeries(client, candidate, days, window.nowMs, signal)
      if (series === undefined) {
        logger.debug({ kind: candidate.kind, id: candidate.id }, 'no metrics: gone from the workspace (404)')
        return
      }
      const byDay = candidate.kind === 'campaign' ? seriesFromStart(series, days) : seriesFromEnd(series, days[days.length - 1] as string, days.length)
      targets.push({ ...candidate, series: byDay })
    } catch (error) {
      fail(`${candidate.kind} ${candidate.id}`, error)
      failedTargets.add(`${candidate.kind}:${candidate.id}`)
    }
  })
  targets.sort((a, b) => TARGET_KINDS.indexOf(a.kind) - TARGET_KINDS.indexOf(b.kind) || a.id - b.id)
  return { window, targets, received, failedKinds, failedTargets, failures }
}

async function activeTargets (client: AppApiClient, kind: TargetKind, window: ReportWindow, counted: ReadonlySet<number>, signal?: AbortSignal): Promise<Candidate[]> {
  const days = window.days.get(kind) as readonly string[]
  const first = days[0] as string
  const listed: Candidate[] = []
  if (kind === 'newsletter') {
    const sentSince = window.nowMs - PERIOD_DAYS_MAX * DAY_MS
    for (const newsletter of await client.listNewsletters(signal)) {
      const recent = newsletter.sentAt !== undefined && newsletter.sentAt * 1000 >= sentSince
      if (recent || counted.has(newsletter.id)) listed.push({ kind, id: newsletter.id, name: newsletter.name })
    }
  } else {
    const windowStartMs = kind === 'campaign' ? dayStartMs(first) : easternDayStartMs(first)
    const workflows = kind === 'campaign' ? await client.listCampaigns(signal) : await client.listBroadcasts(signal)
    for (const workflow of workflows) {
      if (activeIn(workflow, windowStartMs) || counted.has(workflow.id)) listed.push({ kind, id: workflow.id, name: workflow.name })
    }
  }
  // Webhooks of one the list does not show (deleted, or beyond a list's reach) are compared too; a 404 then skips it.
  const known = new Set(listed.map((candidate) => candidate.id))
  for (const id of counted) if (!known.has(id)) listed.push({ kind, id, name: undefined })
  return listed
}

function activeIn (workflow: WorkflowSummary, windowStartMs: number): boolean {
  if (workflow.state === 'draft') return false
  return workflow.state === 'running' || workflow.active || (workflow.updated !== undefined && workflow.updated * 1000 >= windowStartMs)
}

async function fetchSeries (client: AppApiClient, target: Candidate, days: readonly string[], nowMs: number, signal?: AbortSignal): Promise<Series | undefined> {
  if (target.kind === 'campaign') {
    return await client.campaignMetrics(target.id, dayStartMs(days[0] as string) / 1000, Math.floor(nowMs / 1000), signal)
  }
  return target.kind === 'newsletter'
    ? await client.newsletterMetrics(target.id, days.length, signal)
    : await client.broadcastMetrics(target.id, days.length, signal)
}

async function eachLimit<T> (items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) await run(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}
