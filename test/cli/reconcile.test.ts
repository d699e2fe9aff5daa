/**
 * `cio-gateway reconcile` (issue 16): a stand-in App API serving Customer.io's counts, a webhook
 * stream with known counts through a real gateway, and every row the report prints checked, to the
 * event, against the gap constructed for it.
 */
import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { build, defaultYaml, tempDir, type Teardownable } from '../helpers/app.js'
import { cleanEnv, processYaml, runCli } from '../helpers/process.js'
import { deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { reconcile, type ReconcileArgs } from '../../src/commands/reconcile.js'
import type { GatewayConfig } from '../../src/config/types.js'
import { API_KEY, DAY_MS, countsByDay, reportingYaml, startFakeAppApi, utcDayOf, type FakeAppApi, type FakeAppApiOptions } from '../plugins/reporting/fixtures/fake-app-api.js'

/** Two days after US daylight saving time ended (2026-11-01 06:00 UTC): the window spans the change. */
const NOW = Date.parse('2026-11-03T15:00:00Z')
const at = (iso: string): number => Date.parse(iso)
const times = (count: number, iso: string): number[] => Array.from({ length: count }, () => at(iso))

type Truth = Record<string, Record<string, number[]>>

/** Customer.io's counts, as event times per `<kind>:<id>` and series; the stand-in cuts them into days as the spec says. */
function seriesFrom (truth: Truth, kind: string, zone: 'UTC' | 'EST') {
  return (id: number, days: string[]): Record<string, number[]> =>
    Object.fromEntries(Object.entries(truth[`${kind}:${id}`] ?? {}).map(([series, when]) => [series, countsByDay(when, days, zone)]))
}

async function standIn (t: Teardownable, truth: Truth, more: Partial<FakeAppApiOptions>): Promise<FakeAppApi> {
  return await startFakeAppApi(t, {
    apiKey: API_KEY,
    now: () => NOW,
    campaigns: [],
    campaignSeries: seriesFrom(truth, 'campaign', 'UTC'),
    newsletterSeries: seriesFrom(truth, 'newsletter', 'EST'),
    broadcastSeries: seriesFrom(truth, 'broadcast', 'EST'),
    ...more
  })
}

interface Webhook { metric: string, at: number, data: Record<string, unknown> }
const send = (count: number, metric: string, iso: string, data: Record<string, unknown>): Webhook[] =>
  Array.from({ length: count }, () => ({ metric, at: at(iso), data }))

/** Posts the webhooks, signed, to a gateway that only ingests, and closes it: its counts are then in Redis. */
async function receive (t: Test, yaml: string, webhooks: readonly Webhook[]): Promise<GatewayConfig> {
  const { app, config } = await build(t, { yaml, role: 'ingest' })
  const statuses: string[] = []
  for (const webhook of webhooks) statuses.push(await post(app, sampleEvent({ metric: webhook.metric, timestamp: webhook.at / 1000, data: webhook.data })))
  t.same(statuses, webhooks.map(() => 'accepted'), `${webhooks.length} webhooks accepted`)
  await app.close()
  return config
}

async function post (app: FastifyInstance, event: Record<string, unknown>): Promise<string> {
  const body = JSON.stringify(event)
  const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  return (response.json() as { status: string }).status
}

async function run (config: GatewayConfig, args: Partial<ReconcileArgs>, now = NOW): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await reconcile(config, { json: true, ...args }, { out: (text) => { out += text }, err: (text) => { err += text } }, { now: () => now })
  return { code, out, err }
}

const rows = (out: string): unknown[] => out.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as unknown)

const row = (kind: string, id: number, day: string, metric: string, customerio: number, gateway: number, cause: string): Record<string, unknown> =>
  ({ kind, id, day, metric, customerio, gateway, gap: customerio - gateway, cause })

const CUSTOMERIO: Truth = {
  'campaign:5': {
    delivered: [...times(12, '2026-10-31T12:00:00Z'), ...times(10, '2026-11-02T12:00:00Z'), ...times(5, '2026-11-03T09:00:00Z')],
    suppressed: times(4, '2026-11-02T12:00:00Z'),
    opened: times(10, '2026-11-02T13:00:00Z'),
    human_opened: times(7, '2026-11-02T13:00:00Z'),
    prefetch_opened: times(3, '2026-11-02T13:00:00Z'),
    clicked: times(4, '2026-11-01T13:00:00Z'),
    human_clicked: times(4, '2026-11-01T13:00:00Z'),
    machine_clicked: [],
    converted: times(3, '2026-11-01T14:00:00Z')
  },
  'campaign:6': { sent: times(3, '2026-11-01T10:00:00Z'), delivered: times(2, '2026-11-01T10:00:00Z') },
  'campaign:7': { opened: times(2, '2026-11-02T08:00:00Z'), human_opened: times(2, '2026-11-02T08:00:00Z') },
  // 04:30 UTC on 31 October is 23:30 EST on the 30th (but 00:30 EDT on the 31st in New York time).
  'newsletter:300': {
    opened: [at('2026-10-31T04:30:00Z'), at('2026-10-31T05:30:00Z'), at('2026-11-02T04:30:00Z')],
    human_opened: [at('2026-10-31T04:30:00Z'), at('2026-10-31T05:30:00Z'), at('2026-11-02T04:30:00Z')],
    clicked: times(2, '2026-11-02T20:00:00Z'),
    human_clicked: times(2, '2026-11-02T20:00:00Z')
  },
  'broadcast:2': { delivered: times(3, '2026-11-02T18:00:00Z'), suppressed: times(1, '2026-11-02T18:00:00Z') }
}

const c5 = { campaign_id: 5 }
const WEBHOOKS: Webhook[] = [
  ...send(6, 'delivered', '2026-10-31T12:00:00Z', c5), // 12 counted: 6 missing
  ...send(10, 'delivered', '2026-11-02T12:00:00Z', c5),
  ...send(2, 'delivered', '2026-11-03T09:00:00Z', c5), // today: still arriving
  ...send(3, 'dropped', '2026-11-02T12:00:00Z', c5), // suppressed 4: 1 missing
  ...send(6, 'opened', '2026-11-02T13:00:00Z', c5),
  ...send(1, 'opened', '2026-11-02T13:00:00Z', { ...c5, proxied: true }),
  ...send(1, 'opened', '2026-11-02T13:00:00Z', { ...c5, synthetic: true }),
  ...send(2, 'opened', '2026-11-02T13:00:00Z', { ...c5, prefetched: true }), // 10 opens, 8 human, 2 machine: Customer.io says 7 and 3
  ...send(5, 'clicked', '2026-11-01T13:00:00Z', c5),
  ...send(1, 'clicked', '2026-11-01T13:00:00Z', { ...c5, machine: true }), // 6 clicks sent "every time", 4 counted
  ...send(3, 'sent', '2026-11-01T10:00:00Z', { campaign_id: 6 }),
  ...send(1, 'delivered', '2026-11-01T10:00:00Z', { campaign_id: 6 }),
  ...send(2, 'opened', '2026-11-02T08:00:00Z', { campaign_id: 7 }),
  ...send(1, 'opened', '2026-10-31T04:30:00Z', { newsletter_id: 300 }),
  ...send(1, 'opened', '2026-10-31T05:30:00Z', { newsletter_id: 300 }),
  ...send(1, 'opened', '2026-11-02T04:30:00Z', { newsletter_id: 300 }),
  ...send(1, 'clicked', '2026-11-02T20:00:00Z', { newsletter_id: 300 }),
  ...send(3, 'delivered', '2026-11-02T18:00:00Z', { broadcast_id: 2, trigger_id: 1 })
]

const EXPECTED = [
  row('campaign', 5, '2026-10-31', 'delivered', 12, 6, 'missing_webhooks'),
  row('campaign', 5, '2026-11-01', 'clicked', 4, 6, 'every_time_setting'),
  row('campaign', 5, '2026-11-01', 'human_clicked', 4, 5, 'every_time_setting'),
  row('campaign', 5, '2026-11-01', 'machine_clicked', 0, 1, 'every_time_setting'),
  row('campaign', 5, '2026-11-01', 'converted', 3, 0, 'not_subscribed'),
  row('campaign', 5, '2026-11-02', 'delivered', 10, 10, 'match'),
  row('campaign', 5, '2026-11-02', 'opened', 10, 10, 'match'),
  row('campaign', 5, '2026-11-02', 'human_opened', 7, 8, 'machine_flags'),
  row('campaign', 5, '2026-11-02', 'prefetch_opened', 3, 2, 'machine_flags'),
  row('campaign', 5, '2026-11-02', 'dropped', 4, 3, 'missing_webhooks'),
  row('campaign', 5, '2026-11-03', 'delivered', 5, 2, 'window_incomplete'),
  row('campaign', 6, '2026-11-01', 'sent', 3, 3, 'match'),
  row('campaign', 6, '2026-11-01', 'delivered', 2, 1, 'missing_webhooks'),
  row('campaign', 7, '2026-11-02', 'opened', 2, 2, 'match'),
  row('campaign', 7, '2026-11-02', 'human_opened', 2, 2, 'match'),
  row('newsletter', 300, '2026-10-30', 'opened', 1, 1, 'match'),
  row('newsletter', 300, '2026-10-30', 'human_opened', 1, 1, 'match'),
  row('newsletter', 300, '2026-10-31', 'opened', 1, 1, 'match'),
  row('newsletter', 300, '2026-10-31', 'human_opened', 1, 1, 'match'),
  row('newsletter', 300, '2026-11-01', 'opened', 1, 1, 'match'),
  row('newsletter', 300, '2026-11-01', 'human_opened', 1, 1, 'match'),
  row('newsletter', 300, '2026-11-02', 'clicked', 2, 1, 'missing_webhooks'),
  row('newsletter', 300, '2026-11-02', 'human_clicked', 2, 1, 'missing_webhooks'),
  row('broadcast', 2, '2026-11-02', 'delivered', 3, 3, 'match'),
  row('broadcast', 2, '2026-11-02', 'dropped', 1, 0, 'missing_webhooks')
]

async function scenario (t: Test): Promise<{ api: FakeAppApi, config: GatewayConfig }> {
  const daysAgo = (days: number): number => Math.floor((NOW - days * DAY_MS) / 1000)
  const api = await standIn(t, CUSTOMERIO, {
    campaigns: [
      { id: 5, name: 'Welcome', state: 'running' },
      { id: 6, name: 'Stopped during the window', state: 'stopped', updated: daysAgo(2) },
      { id: 7, name: 'Stopped long ago, still opened', state: 'stopped', updated: daysAgo(60) },
      { id: 8, name: 'Draft', state: 'draft', updated: daysAgo(1) }
    ],
    newsletters: [
      { id: 300, name: 'Sent before the window', sent_at: daysAgo(30) },
      { id: 301, name: 'Sent 60 days ago', sent_at: daysAgo(60) }
    ],
    broadcasts: [{ id: 2, name: 'Price drop', state: 'running' }],
    newsletterPageSize: 1
  })
  const config = await receive(t, reportingYaml(api.url, { redis: true, interval: '1h', lookback: 5 }), WEBHOOKS)
  return { api, config }
}

t.test('every gap the report prints is the one constructed, with its cause; one completed day over the limit is exit 1', async (t) => {
  const { api, config } = await scenario(t)
  const { code, out, err } = await run(config, {})
  t.same(rows(out), EXPECTED)
  t.equal(code, 1, 'campaign 5 missed 6 of 12 delivered on a completed day: at least 5 events and over 0.5 %')
  t.equal(err, '')

  t.same(api.problems, [], 'every request as the published spec wants it')
  const paths = new Set(api.requests.map((request) => request.path))
  t.ok(paths.has('/v1/campaigns/6/metrics'), 'a campaign stopped during the window is compared')
  t.ok(paths.has('/v1/campaigns/7/metrics'), 'and one stopped long ago whose webhooks arrived in the window')
  t.notOk(paths.has('/v1/campaigns/8/metrics') || paths.has('/v1/newsletters/301/metrics'), 'a draft and a newsletter without activity are not')
  t.same(api.requests.filter((request) => request.path === '/v1/newsletters').map((request) => request.query.get('limit')), ['100', '100'], 'the newsletter list asked with a limit, page after page')
  const period = api.requests.find((request) => request.path === '/v1/newsletters/300/metrics')?.query
  t.same(Object.fromEntries(period ?? []), { period: 'days', steps: '5' })
})

t.test('EST days: an open at 04:30 UTC on 31 October belongs to the 30th, also after the DST change', async (t) => {
  const { config } = await scenario(t)
  const newsletterRows = rows((await run(config, {})).out).filter((line) => (line as { kind: string }).kind === 'newsletter' && (line as { metric: string }).metric === 'opened')
  t.same(newsletterRows, [
    row('newsletter', 300, '2026-10-30', 'opened', 1, 1, 'match'),
    row('newsletter', 300, '2026-10-31', 'opened', 1, 1, 'match'),
    row('newsletter', 300, '2026-11-01', 'opened', 1, 1, 'match')
  ], 'counted on the EST day Customer.io counts it on; with America/New_York days the 30th and the 31st would each be 1 off')
})

t.test('a day is completed an hour after it ends: at 01:00 UTC for campaigns, at 06:00 UTC (01:00 EST) for newsletters', async (t) => {
  let now = at('2026-11-03T00:30:00Z')
  const truth: Truth = {
    'campaign:5': { delivered: times(12, '2026-11-02T12:00:00Z') },
    'newsletter:300': { clicked: times(2, '2026-11-02T20:00:00Z') }
  }
  const api = await standIn(t, truth, {
    now: () => now,
    campaigns: [{ id: 5, name: 'Welcome', state: 'running' }],
    newsletters: [{ id: 300, name: 'Weekly', sent_at: at('2026-11-02T15:00:00Z') / 1000 }]
  })
  const config = await receive(t, reportingYaml(api.url, { redis: true, interval: '1h', lookback: 2 }), [
    ...send(6, 'delivered', '2026-11-02T12:00:00Z', c5),
    ...send(1, 'clicked', '2026-11-02T20:00:00Z', { newsletter_id: 300 })
  ])
  const reportAt = async (iso: string): Promise<{ code: number, rows: unknown[] }> => {
    now = at(iso)
    const { code, out } = await run(config, {}, now)
    return { code, rows: rows(out) }
  }
  const campaign = (cause: string): unknown => row('campaign', 5, '2026-11-02', 'delivered', 12, 6, cause)
  const newsletter = (cause: string): unknown => row('newsletter', 300, '2026-11-02', 'clicked', 2, 1, cause)
  t.same(await reportAt('2026-11-03T00:30:00Z'), { code: 0, rows: [campaign('window_incomplete'), newsletter('window_incomplete')] }, 'the UTC day ended half an hour ago: webhooks may still arrive')
  t.same(await reportAt('2026-11-03T00:59:59Z'), { code: 0, rows: [campaign('window_incomplete'), newsletter('window_incomplete')] })
  t.same(await reportAt('2026-11-03T01:00:00Z'), { code: 1, rows: [campaign('missing_webhooks'), newsletter('window_incomplete')] }, '6 of 12 missing on a completed day; the EST day has not ended (20:00 EST)')
  t.same(await reportAt('2026-11-03T05:59:59Z'), { code: 1, rows: [campaign('missing_webhooks'), newsletter('window_incomplete')] }, 'the EST day ended at 05:00 UTC, less than an hour ago')
  t.same(await reportAt('2026-11-03T06:00:00Z'), { code: 1, rows: [campaign('missing_webhooks'), newsletter('missing_webhooks')] })
})

t.test('--max-gap: the percentage and the number of events both have to be exceeded', async (t) => {
  const { config } = await scenario(t)
  t.equal((await run(config, { maxGap: '50%,5' })).code, 0, '6 of 12 is not over 50 %')
  t.equal((await run(config, { maxGap: '0.5%,7' })).code, 0, '6 events are fewer than 7')
  t.equal((await run(config, { maxGap: '60%' })).code, 0, 'a percentage alone keeps the 5 events')
  t.equal((await run(config, { maxGap: '0%,1' })).code, 1)
  const strict = await run(config, { maxGap: '0%,1', json: false })
  t.match(strict.out, /\n6 rows of completed days with an unexplained gap of at least 1 event and over 0 % of Customer\.io's count\.\n$/, 'every missing webhook of a completed day counts then')
  const bad = await run(config, { maxGap: '5 percent' })
  t.same(bad, { code: 2, out: '', err: "--max-gap must read PCT% or PCT%,MIN (a percentage of Customer.io's count and a number of events), like 0.5%,5; got '5 percent'\n" })
})

t.test('the table for people: the rows, what each cause present means, and the verdict', async (t) => {
  const { config } = await scenario(t)
  const { code, out } = await run(config, { json: false })
  t.equal(code, 1)
  const lines = out.split('\n')
  t.equal(lines[0], 'Campaign days are UTC days; newsletter and broadcast days are EST days (UTC-05:00 all year), as the App API counts them.')
  t.match(lines[2], /^kind +id +day +metric +customer\.io +gateway +gap +cause$/)
  t.equal(lines.filter((line) => /^(campaign|newsletter|broadcast) /.test(line)).length, EXPECTED.length, 'one line per row')
  t.match(out, /\ncampaign +5 +2026-10-31 +delivered +12 +6 +6 +missing_webhooks\n/)
  t.match(out, /\nbroadcast +2 +2026-11-02 +dropped +1 +0 +1 +missing_webhooks\n/)
  for (const cause of ['missing_webhooks', 'every_time_setting', 'not_subscribed', 'machine_flags', 'window_incomplete']) t.match(out, new RegExp(`\\n${cause}: `), `${cause} explained`)
  t.notMatch(out, /\nmatch: /, 'a match needs no explanation')
  t.match(out, /\n1 row of completed days with an unexplained gap of at least 5 events and over 0\.5 % of Customer\.io's count\.\n$/)
})

t.test('newsletters and broadcasts are read at most 45 days back, campaigns as far as --days asks', async (t) => {
  const truth: Truth = {
    'campaign:5': { delivered: times(1, new Date(NOW - 59 * DAY_MS).toISOString()) },
    'newsletter:300': { opened: [NOW - 50 * DAY_MS, NOW - 40 * DAY_MS] }
  }
  const api = await standIn(t, truth, {
    campaigns: [{ id: 5, name: 'Welcome', state: 'running' }],
    newsletters: [{ id: 300, name: 'Old', sent_at: Math.floor((NOW - 55 * DAY_MS) / 1000) }]
  })
  const config = await receive(t, reportingYaml(api.url, { redis: true, interval: '1h', lookback: 90 }), [
    { metric: 'opened', at: NOW - 50 * DAY_MS, data: { newsletter_id: 300 } },
    { metric: 'opened', at: NOW - 40 * DAY_MS, data: { newsletter_id: 300 } }
  ])
  const { code, out } = await run(config, { days: '60' })
  const day = (back: number, eastern: boolean): string => new Date(NOW - back * DAY_MS + (eastern ? -5 * 3_600_000 : 0)).toISOString().slice(0, 10)
  t.same(rows(out), [
    row('campaign', 5, day(59, false), 'delivered', 1, 0, 'not_subscribed'),
    row('newsletter', 300, day(40, true), 'opened', 1, 1, 'match')
  ], 'the open 50 days ago is beyond what the newsletter endpoint serves, so it is not compared')
  t.equal(code, 0)
  t.same(api.problems, [], 'never more than 45 steps')
  t.equal(api.requests.find((request) => request.path === '/v1/newsletters/300/metrics')?.query.get('steps'), '45')
  t.equal(api.requests.find((request) => request.path === '/v1/campaigns/5/metrics')?.query.get('start'), String(Date.parse(`${day(59, false)}T00:00:00Z`) / 1000))
})

t.test('refusals: what the report cannot be made from, with exit code 2', async (t) => {
  const { config } = await scenario(t)
  t.same(await run(config, { days: '6' }), { code: 2, out: '', err: '--days must be a whole number from 1 to 5 (reporting.lookback: the gateway keeps its counts that long)\n' })
  t.same(await run(config, { days: 'two' }), { code: 2, out: '', err: '--days must be a whole number from 1 to 5 (reporting.lookback: the gateway keeps its counts that long)\n' })
  t.same(await run({ ...config, reporting: undefined }, {}), { code: 2, out: '', err: 'reconcile needs the App API: test.yaml has no reporting.api_key\n' })
  t.match(await run({ ...config, queue: { ...config.queue, redis: undefined } }, {}), { code: 2, out: '', err: /^reconcile needs the gateway's webhook counts in Redis, and test\.yaml configures none \(queue\.redis_url, redis_sentinel or redis_cluster\)/ })
  t.match(await run({ ...config, queue: { ...config.queue, redis: { kind: 'single', url: 'redis://127.0.0.1:1' } } }, {}), { code: 2, out: '', err: /^cio-gateway reconcile: cannot reach redis 127\.0\.0\.1:1: / })
  const rejected = await run({ ...config, reporting: { ...config.reporting as NonNullable<GatewayConfig['reporting']>, apiKey: 'not-the-key' } }, {})
  t.same(rejected, {
    code: 2,
    out: '',
    err: 'cio-gateway reconcile: not compared, the App API did not answer for good: ' +
      ['campaign', 'newsletter', 'broadcast'].map((kind) => `${kind} list: GET /v1/${kind}s answered 401 (check reporting.api_key and reporting.region)`).join(', ') + '\n'
  }, 'a rejected key: nothing to print, and why')
})

t.test('the cio-gateway command: reconcile --json and its exit code', async (t) => {
  // The command runs on the real clock. Yesterday is not completed before 01:00 UTC (window_incomplete, exit 0), so
  // the counts are put on the day before yesterday: completed whatever the hour, and inside `--days 4` even if
  // midnight passes while the test runs.
  const day = utcDayOf(Date.now() - 2 * DAY_MS)
  const api = await startFakeAppApi(t, {
    apiKey: API_KEY,
    campaigns: [{ id: 5, name: 'Welcome', state: 'running' }],
    campaignSeries: (_id, days) => ({ delivered: days.map((each) => (each === day ? 7 : 0)) })
  })
  const dir = tempDir(t)
  const prefix = uniquePrefix('reconcile-cli')
  t.teardown(async () => await deleteKeys(prefix))
  const reporting = `reporting:\n  api_key: "${API_KEY}"\n  base_url: "${api.url}"\n  lookback: 5\n`
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, processYaml({ prefix, localPath: `${dir}/events`, localBatch: '{ max_events: 50, max_wait: 20ms }' }) + reporting)
  await receive(t, defaultYaml({ redis: true }).replaceAll('{{prefix}}', prefix) + reporting,
    send(5, 'delivered', `${day}T12:00:00Z`, { campaign_id: 5 }))

  const relaxed = await runCli(['reconcile', '--config', file, '--json'], cleanEnv({}))
  t.equal(relaxed.stderr, '')
  t.same(rows(relaxed.stdout), [row('campaign', 5, day, 'delivered', 7, 5, 'missing_webhooks')])
  t.equal(relaxed.code, 0, '2 missing is under the default 5 events')
  const strict = await runCli(['reconcile', '--config', file, '--json', '--days', '4', '--max-gap', '1%,2'], cleanEnv({}))
  t.equal(strict.code, 1, '2 missing of 7 is over 1 % and 2 events')
  t.equal(strict.stdout, relaxed.stdout)
  const usage = await runCli(['reconcile', '--config', file, '--days', '0'], cleanEnv({}))
  t.same(usage, { code: 2, stdout: '', stderr: '--days must be a whole number from 1 to 5 (reporting.lookback: the gateway keeps its counts that long)\n' })
  const missing = await runCli(['reconcile', '--config', join(dir, 'nope.yaml')], cleanEnv({}))
  t.equal(missing.code, 2)
  t.match(missing.stderr, /nope\.yaml/)
})
