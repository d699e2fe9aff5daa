import t from 'tap'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import { AppApiClient, AppApiError } from '../../../plugins/reporting/app-api.js'
import { RequestPacer } from '../../../plugins/reporting/pacer.js'
import { GatewayMetrics } from '../../../plugins/metrics/metrics.js'
import { sampleValue, type Teardownable } from '../../helpers/app.js'
import { startFakeAppApi, type FakeAppApiOptions } from './fixtures/fake-app-api.js'

const API_KEY = 'sk-test-app-api-key-5f3c9a'

function logCapture (): { logger: Logger, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

async function setup (t: Teardownable, fake: Partial<FakeAppApiOptions>, client: { timeoutMs?: number, attempts?: number } = {}) {
  const api = await startFakeAppApi(t, { apiKey: API_KEY, campaigns: [], campaignSeries: () => ({}), ...fake })
  const registry = new Registry()
  const metrics = new GatewayMetrics(registry, { defaultMetrics: false })
  const { logger, lines } = logCapture()
  const appApi = new AppApiClient({
    baseUrl: api.url,
    apiKey: API_KEY,
    timeoutMs: client.timeoutMs ?? 5000,
    metrics,
    logger,
    // Quick retries: these tests are about which answers are retried, not how long the waits are.
    retry: { attempts: client.attempts ?? 4, initialDelayMs: 20, maxDelayMs: 100, maxRetryAfterMs: 5000 },
    pacer: new RequestPacer({ limit: 100, perMs: 1000 })
  })
  t.teardown(async () => await appApi.close())
  return { api, appApi, registry, lines }
}

t.test('campaigns: bearer token, the list as published, v2 daily metrics in UTC', async (t) => {
  const { api, appApi, registry } = await setup(t, {
    campaigns: [{ id: 5, name: 'Welcome', state: 'running', updated: 1_790_000_000 }, { id: 6, name: 'Old', state: 'stopped', updated: 1_780_000_000 }],
    campaignSeries: (_id, days) => ({ delivered: days.map((_day, index) => index + 1), opened: days.map(() => 0) })
  })
  const campaigns = await appApi.listCampaigns()
  t.same(campaigns, [
    { id: 5, name: 'Welcome', state: 'running', active: true, updated: 1_790_000_000 },
    { id: 6, name: 'Old', state: 'stopped', active: false, updated: 1_780_000_000 }
  ])
  const start = Date.parse('2026-03-01T00:00:00Z') / 1000
  const series = await appApi.campaignMetrics(5, start, start + 2 * 86400 + 3600)
  t.same(series, new Map([['delivered', [1, 2, 3]], ['opened', [0, 0, 0]]]))
  t.same(api.problems, [], 'the fake API found nothing wrong with the requests')
  const query = api.requests[1]?.query
  t.same(Object.fromEntries(query ?? []), { version: '2', res: 'days', tz: 'UTC', start: String(start), end: String(start + 2 * 86400 + 3600) })
  t.equal(await sampleValue(registry, 'cio_gateway_reporting_requests_total', { endpoint: '/v1/campaigns/{id}/metrics', status: '200' }), 1)
  t.equal(await appApi.campaignMetrics(99, start, start + 86400), undefined, 'a campaign that is gone (404) has no series')
})

t.test('newsletters: the list is asked with a limit and followed over next; metrics ask at most 45 days', async (t) => {
  const newsletters = Array.from({ length: 5 }, (_v, index) => ({ id: 100 + index, name: `N${index}`, sent_at: 1_700_000_000 + index }))
  const { api, appApi } = await setup(t, {
    newsletters,
    newsletterPageSize: 2,
    newsletterSeries: (_id, days) => ({ sent: days.map(() => 4) })
  })
  const listed = await appApi.listNewsletters()
  t.same(listed.map((newsletter) => newsletter.id), [100, 101, 102, 103, 104])
  t.equal(listed[4]?.sentAt, 1_700_000_004)
  t.same(api.requests.map((request) => request.query.get('start')), [null, 'offset-2', 'offset-4'], 'three pages, each asked with the previous next token')
  t.same(api.requests.map((request) => request.query.get('limit')), ['100', '100', '100'], 'each page asked with a limit')
  t.same(await appApi.newsletterMetrics(100, 7), new Map([['sent', [4, 4, 4, 4, 4, 4, 4, 4]]]), 'steps=7: the spec\'s steps + 1 days')
  await appApi.newsletterMetrics(100, 90)
  t.same(Object.fromEntries(api.requests.at(-1)?.query ?? []), { period: 'days', steps: '45' }, 'a lookback of 90 asks for the published maximum of 45 days')
  t.equal(await appApi.newsletterMetrics(999, 7), undefined, 'a newsletter that is gone (404) has no series')
  t.same(api.problems, [])
})

t.test('broadcasts: the list and their daily metrics, like newsletters', async (t) => {
  const { api, appApi, registry } = await setup(t, {
    broadcasts: [{ id: 2, name: 'Price drop', state: 'running', updated: 1_790_000_000 }],
    broadcastSeries: (_id, days) => ({ delivered: days.map((_day, index) => index) })
  })
  t.same(await appApi.listBroadcasts(), [{ id: 2, name: 'Price drop', state: 'running', active: true, updated: 1_790_000_000 }])
  t.same(await appApi.broadcastMetrics(2, 3), new Map([['delivered', [0, 1, 2, 3]]]))
  t.same(Object.fromEntries(api.requests.at(-1)?.query ?? []), { period: 'days', steps: '3' })
  t.equal(await sampleValue(registry, 'cio_gateway_reporting_requests_total', { endpoint: '/v1/broadcasts/{id}/metrics', status: '200' }), 1)
  t.same(api.problems, [])
})

t.test('a 429 is retried after its Retry-After, not sooner', async (t) => {
  const { api, appApi, registry } = await setup(t, {
    campaigns: [{ id: 5, name: 'Welcome', state: 'running' }],
    throttle: (_path, index) => index === 0
  })
  const campaigns = await appApi.listCampaigns()
  t.equal(campaigns.length, 1, 'the retry got the answer')
  t.same(api.requests.map((request) => request.status), [429, 200])
  const waited = (api.requests[1]?.at ?? 0) - (api.requests[0]?.at ?? 0)
  t.ok(waited >= 1000, `waited ${waited} ms after Retry-After: 1`)
  t.ok(waited < 3000, `and not much longer (${waited} ms)`)
  t.equal(await sampleValue(registry, 'cio_gateway_reporting_requests_total', { endpoint: '/v1/campaigns', status: '429' }), 1)
})

t.test('5xx answers are retried with backoff until the attempts run out; the key is never logged', async (t) => {
  const { api, appApi, registry, lines } = await setup(t, { fail: () => 503 }, { attempts: 3 })
  const error = await appApi.listCampaigns().then(() => undefined, (caught: unknown) => caught)
  t.type(error, AppApiError)
  t.equal((error as AppApiError).status, 503)
  t.equal(api.requests.length, 3, 'three attempts in all')
  const gaps = api.requests.slice(1).map((request, index) => request.at - (api.requests[index]?.at ?? 0))
  t.ok((gaps[1] ?? 0) > (gaps[0] ?? 0), `the waits grow: ${gaps.join(', ')} ms`)
  t.equal(await sampleValue(registry, 'cio_gateway_reporting_requests_total', { endpoint: '/v1/campaigns', status: '503' }), 3)
  t.equal(lines.filter((line) => line.includes('retrying')).length, 2, 'each retry is logged')
  t.notOk(lines.some((line) => line.includes(API_KEY)), 'no log line holds the API key')
  t.notOk(String((error as Error).message).includes(API_KEY), 'nor does the error')
})

t.test('a rejected key (401) fails at once, with a hint and without the key', async (t) => {
  const { api, appApi } = await setup(t, { apiKey: 'the-right-key' })
  const error = await appApi.listCampaigns().then(() => undefined, (caught: unknown) => caught) as AppApiError
  t.equal(error.status, 401)
  t.match(error.message, /answered 401 \(check reporting\.api_key and reporting\.region\)/)
  t.equal(api.requests.length, 1, 'not retried')
  t.notOk(error.message.includes(API_KEY))
})

t.test('a request that times out is counted as a timeout and retried', async (t) => {
  const { api, appApi, registry, lines } = await setup(t, { hang: () => true }, { timeoutMs: 150, attempts: 2 })
  const begin = Date.now()
  const error = await appApi.listCampaigns().then(() => undefined, (caught: unknown) => caught) as AppApiError
  t.type(error, AppApiError)
  t.match(error.message, /failed after 2 attempts: UND_ERR_HEADERS_TIMEOUT/)
  t.equal(api.requests.length, 2)
  // Without the timeout the stand-in would hold the request for good; the bound is far from both (a loaded machine adds seconds).
  t.ok(Date.now() - begin < 10_000, 'the timeout cut each wait short')
  t.equal(await sampleValue(registry, 'cio_gateway_reporting_requests_total', { endpoint: '/v1/campaigns', status: 'timeout' }), 2)
  t.notOk(lines.some((line) => line.includes(API_KEY)))
})

t.test('an abort ends a request and the waits between attempts at once', async (t) => {
  const { appApi } = await setup(t, { hang: () => true })
  const abort = new AbortController()
  const pending = appApi.listCampaigns(abort.signal)
  setTimeout(() => abort.abort(), 100)
  const begin = Date.now()
  await t.rejects(pending)
  // The stand-in never answers: only the abort ends it (the bound leaves room for a loaded machine).
  t.ok(Date.now() - begin < 5000, 'ended by the abort, not by a timeout')
})
