/**
 * A small client of Customer.io's App API (https://api.customer.io or https://api-eu.customer.io)
 * for the reporting endpoints the poller reads. Every request goes through one pacer (10/s), is
 * retried on 429 (after Retry-After), 5xx, timeouts and network errors, and is counted in
 * `reporting_requests_total{endpoint,status}`. The API key is sent in the Authorization header only
 * and never logged: log lines carry the endpoint template, the status and the attempt.
 *
 * Shapes follow the published App API spec (https://docs.customer.io/integrations/api/app/):
 * - `GET /v1/campaigns` → `{ campaigns: [{ id, name, state, active, updated, … }] }` (listCampaigns);
 * - `GET /v1/campaigns/{id}/metrics?version=2&res=days&tz=&start=&end=` → `{ metric: { series: { <name>: [n, …] } } }`,
 *   one value per period from `start` (campaignMetrics);
 * - `GET /v1/newsletters?limit=&start=` → `{ newsletters: [{ id, name, sent_at, updated, … }], next }` (listNewsletters);
 * - `GET /v1/newsletters/{id}/metrics?period=days&steps=` and `GET /v1/broadcasts/{id}/metrics?period=days&steps=`
 *   → `{ metric: { series: … } }`, "from oldest to newest", at most 45 days, "Days start at 00:00 EST"
 *   (getNewsletterMetrics, broadcastMetrics);
 * - `GET /v1/broadcasts` → `{ broadcasts: [{ id, name, state, active, updated, … }] }` (listBroadcasts).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request, type Dispatcher } from 'undici'
import type { Logger } from '../../src/logger.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import { RequestPacer, APP_API_PACE } from './pacer.js'
import { APP_API_RETRY, backoffMs, retryAfterMs, type RetrySettings } from './retry.js'

/** Bounded `endpoint` label values. */
export type Endpoint =
  | '/v1/campaigns' | '/v1/campaigns/{id}/metrics'
  | '/v1/newsletters' | '/v1/newsletters/{id}/metrics'
  | '/v1/broadcasts' | '/v1/broadcasts/{id}/metrics'

/** The most days `period=days` serves ("Maximums are 24 hours, 45 days, 12 weeks, or 121 months"). */
export const PERIOD_DAYS_MAX = 45

/** Newsletters per page of `GET /v1/newsletters`. */
export const NEWSLETTER_PAGE_LIMIT = 100

/** A campaign or broadcast of the list endpoints. */
export interface WorkflowSummary {
  readonly id: number
  readonly name: string | undefined
  /** `running`, `draft`, `stopped`, … (undefined in older answers). */
  readonly state: string | undefined
  readonly active: boolean
  /** Unix seconds of the last change (starting and stopping change it). */
  readonly updated: number | undefined
}

export interface NewsletterSummary {
  readonly id: number
  readonly name: string | undefined
  /** Unix seconds of the last send, when it was sent. */
  readonly sentAt: number | undefined
}

/** Metric name → counts per period, oldest first (the `metric.series` object of the metrics answers). */
export type Series = ReadonlyMap<string, readonly number[]>

/** A request that failed for good; `status` is the HTTP status, undefined for network errors. */
export class AppApiError extends Error {
  override readonly name = 'AppApiError'
  constructor (message: string, readonly endpoint: Endpoint, readonly status: number | undefined, options?: ErrorOptions) {
    super(message, options)
  }
}

export interface AppApiOptions {
  readonly baseUrl: string
  readonly apiKey: string
  readonly timeoutMs: number
  readonly metrics: GatewayMetrics
  readonly logger: Logger
  readonly pacer?: RequestPacer
  readonly retry?: RetrySettings
}

/** Pages of a list followed at most; a guard against a `next` that never ends. */
const MAX_PAGES = 1000

export class AppApiClient {
  private readonly agent: Agent
  private readonly pacer: RequestPacer
  private readonly retry: RetrySettings
  private readonly authorization: string

  constructor (private readonly options: AppApiOptions) {
    this.agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 })
    this.pacer = options.pacer ?? new RequestPacer(APP_API_PACE)
    this.retry = options.retry ?? APP_API_RETRY
    this.authorization = `Bearer ${options.apiKey}`
  }

  async listCampaigns (signal?: AbortSignal): Promise<WorkflowSummary[]> {
    return workflows(await this.get('/v1/campaigns', '/v1/campaigns', {}, signal), 'campaigns')
  }

  /** Daily series in UTC from `start` to `end` (unix seconds); undefined when the campaign is gone (404). */
  async campaignMetrics (id: number, startSeconds: number, endSeconds: number, signal?: AbortSignal): Promise<Series | undefined> {
    const body = await this.get('/v1/campaigns/{id}/metrics', `/v1/campaigns/${id}/metrics`,
      { version: '2', res: 'days', tz: 'UTC', start: String(startSeconds), end: String(endSeconds) }, signal, { notFoundIsEmpty: true })
    return body === undefined ? undefined : seriesOf(body)
  }

  /** Every newsletter, `limit` a page, following `next` from page to page. */
  async listNewsletters (signal?: AbortSignal): Promise<NewsletterSummary[]> {
    const newsletters: NewsletterSummary[] = []
    const seen = new Set<string>()
    let start: string | undefined
    for (let page = 0; page < MAX_PAGES; page++) {
      const query: Record<string, string> = { limit: String(NEWSLETTER_PAGE_LIMIT), ...(start === undefined ? {} : { start }) }
      const body = await this.get('/v1/newsletters', '/v1/newsletters', query, signal)
      for (const item of arrayAt(body, 'newsletters')) {
        const id = integerAt(item, 'id')
        if (id !== undefined) newsletters.push({ id, name: stringAt(item, 'name'), sentAt: integerAt(item, 'sent_at') })
      }
      const next = stringAt(body, 'next')
      if (next === undefined || next === '' || seen.has(next)) return newsletters
      seen.add(next)
      start = next
    }
    this.options.logger.warn({ endpoint: '/v1/newsletters', pages: MAX_PAGES }, 'newsletter list still had a next page; stopped')
    return newsletters
  }

  /** Daily series (EST days) of the last `days` days, oldest first, at most 45; undefined when the newsletter is gone (404). */
  async newsletterMetrics (id: number, days: number, signal?: AbortSignal): Promise<Series | undefined> {
    const body = await this.get('/v1/newsletters/{id}/metrics', `/v1/newsletters/${id}/metrics`, periodDays(days), signal, { notFoundIsEmpty: true })
    return body === undefined ? undefined : seriesOf(body)
  }

  /** API-triggered broadcasts. */
  async listBroadcasts (signal?: AbortSignal): Promise<WorkflowSummary[]> {
    return workflows(await this.get('/v1/broadcasts', '/v1/broadcasts', {}, signal), 'broadcasts')
  }

  /** Daily series (EST days) of the last `days` days, oldest first, at most 45; undefined when the broadcast is gone (404). */
  async broadcastMetrics (id: number, days: number, signal?: AbortSignal): Promise<Series | undefined> {
    const body = await this.get('/v1/broadcasts/{id}/metrics', `/v1/broadcasts/${id}/metrics`, periodDays(days), signal, { notFoundIsEmpty: true })
    return body === undefined ? undefined : seriesOf(body)
  }

  async close (): Promise<void> {
    await this.agent.close()
  }

  private async get (endpoint: Endpoint, path: string, query: Record<string, string>, signal: AbortSignal | undefined,
    options: { notFoundIsEmpty?: boolean } = {}): Promise<unknown> {
    const url = new URL(path, this.options.baseUrl)
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value)
    for (let attempt = 1; ; attempt++) {
      await this.pacer.acquire(signal)
      const outcome = await this.attempt(endpoint, url, options.notFoundIsEmpty === true, signal)
      if (outcome.kind === 'answer') return outcome.body
      if (attempt >= this.retry.attempts) {
        throw new AppApiError(`GET ${endpoint} failed after ${attempt} attempts: ${outcome.reason}`, endpoint, outcome.status, { cause: outcome.cause })
      }
      const waitMs = outcome.status === 429
        ? Math.min(outcome.retryAfterMs ?? backoffMs(attempt, this.retry), this.retry.maxRetryAfterMs)
        : backoffMs(attempt, this.retry)
      this.options.logger.warn({ endpoint, reason: outcome.reason, attempt, wait_ms: waitMs }, 'reporting API request failed; retrying')
      await sleep(waitMs, undefined, { signal })
    }
  }

  /** One request: its JSON body, a failure worth retrying, or (thrown) a failure that is not. */
  private async attempt (endpoint: Endpoint, url: URL, notFoundIsEmpty: boolean, signal: AbortSignal | undefined): Promise<Attempt> {
    let response: Dispatcher.ResponseData
    try {
      response = await request(url, {
        method: 'GET',
        headers: { authorization: this.authorization, accept: 'application/json' },
        dispatcher: this.agent,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal
      })
    } catch (error) {
      if (signal?.aborted === true) throw error
      const reason = networkReason(error)
      this.options.metrics.reportingRequests.inc({ endpoint, status: reason.includes('TIMEOUT') ? 'timeout' : 'error' })
      return { kind: 'retry', status: undefined, reason, cause: error }
    }
    const status = response.statusCode
    this.options.metrics.reportingRequests.inc({ endpoint, status: String(status) })
    if (status >= 200 && status < 300) {
      try {
        return { kind: 'answer', body: await response.body.json() }
      } catch (error) {
        if (signal?.aborted === true) throw error
        if (error instanceof SyntaxError) throw new AppApiError(`GET ${endpoint} answered ${status} with a body that is not JSON`, endpoint, status)
        return { kind: 'retry', status, reason: `HTTP ${status}, body ${networkReason(error)}`, cause: error }
      }
    }
    await response.body.dump().catch(() => undefined)
    if (status === 404 && notFoundIsEmpty) return { kind: 'answer', body: undefined }
    if (status === 429) return { kind: 'retry', status, reason: 'HTTP 429', retryAfterMs: retryAfterMs(response.headers['retry-after']) }
    if (status >= 500) return { kind: 'retry', status, reason: `HTTP ${status}` }
    const hint = status === 401 || status === 403 ? ' (check reporting.api_key and reporting.region)' : ''
    throw new AppApiError(`GET ${endpoint} answered ${status}${hint}`, endpoint, status)
  }
}

type Attempt =
  | { kind: 'answer', body: unknown }
  | { kind: 'retry', status: number | undefined, reason: string, cause?: unknown, retryAfterMs?: number }

/** A short reason for logs: the error code, never the request (whose headers hold the key). */
function networkReason (error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.name : 'error'
}

/** `period=days&steps=`: never more than the endpoint serves, never below its minimum of 1 (two days). */
function periodDays (days: number): Record<string, string> {
  return { period: 'days', steps: String(Math.max(1, Math.min(PERIOD_DAYS_MAX, days))) }
}

function workflows (body: unknown, key: 'campaigns' | 'broadcasts'): WorkflowSummary[] {
  return arrayAt(body, key).flatMap((item) => {
    const id = integerAt(item, 'id')
    if (id === undefined) return []
    return [{ id, name: stringAt(item, 'name'), state: stringAt(item, 'state'), active: (item as { active?: unknown }).active === true, updated: integerAt(item, 'updated') }]
  })
}

function seriesOf (body: unknown): Series {
  const series = new Map<string, number[]>()
  const raw = (body as { metric?: { series?: unknown } } | null)?.metric?.series
  if (raw === null || typeof raw !== 'object') return series
  for (const [name, values] of Object.entries(raw)) {
    if (!Array.isArray(values)) continue
    series.set(name, values.map((value) => (typeof value === 'number' && Number.isFinite(value) ? value : 0)))
  }
  return series
}

function arrayAt (body: unknown, key: string): unknown[] {
  const value = (body as Record<string, unknown> | null)?.[key]
  return Array.isArray(value) ? value : []
}

function integerAt (item: unknown, key: string): number | undefined {
  const value = (item as Record<string, unknown> | null)?.[key]
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined
}

function stringAt (item: unknown, key: string): string | undefined {
  const value = (item as Record<string, unknown> | null)?.[key]
  return typeof value === 'string' ? value : undefined
}
