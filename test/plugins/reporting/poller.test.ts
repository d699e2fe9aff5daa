import t from 'tap'
import { Redis } from 'ioredis'
import { build, eventually, readLines, sampleValue } from '../../helpers/app.js'
import { REDIS_URL } from '../../helpers/redis.js'
import { API_KEY, DAY_MS, estDayOf, reportingYaml, startFakeAppApi, utcDays, type FakeCampaign } from './fixtures/fake-app-api.js'

t.test('a poll against the App API: rate, Retry-After, gauges, and report events that reach the sink once', async (t) => {
  const now = Date.now()
  const { today, yesterday } = utcDays(now)
  const daysAgo = (days: number): number => Math.floor((now - days * DAY_MS) / 1000)
  const running: FakeCampaign[] = Array.from({ length: 11 }, (_v, index) => ({ id: index + 1, name: `Campaign ${index + 1}`, state: 'running' }))
  const api = await startFakeAppApi(t, {
    apiKey: API_KEY,
    campaigns: [
      ...running,
      { id: 20, name: 'Stopped two days ago', state: 'stopped', updated: daysAgo(2) },
      { id: 21, name: 'Draft', state: 'draft', updated: daysAgo(1) },
      { id: 22, name: 'Stopped long ago', state: 'stopped', updated: daysAgo(60) }
    ],
    campaignSeries: (id, days) => ({
      sent: days.map((_day, index) => id * 10 + index + 1),
      delivered: days.map((_day, index) => id * 10 + index),
      opened: days.map(() => 0),
      human_opened: days.map(() => 1)
    }),
    newsletters: [
      ...Array.from({ length: 5 }, (_v, index) => ({ id: 100 + index, name: `Newsletter ${index}`, sent_at: daysAgo(1) })),
      { id: 200, name: 'Sent before the window, still opened', sent_at: daysAgo(30) },
      { id: 201, name: 'Draft' },
      { id: 202, name: 'Beyond the 45 days the endpoint serves', sent_at: daysAgo(60) }
    ],
    newsletterPageSize: 2,
    newsletterSeries: (_id, days) => ({ sent: days.map((_day, index) => index + 1), opened: days.map(() => 0) }),
    broadcasts: [{ id: 2, name: 'API-triggered', state: 'running' }, { id: 3, name: 'Never started', state: 'draft' }],
    broadcastSeries: (_id, days) => ({ delivered: days.map((_day, index) => index + 1) }),
    // The third request (the second page of the newsletter list) is told to come back in a second.
    throttle: (_path, index) => index === 2
  })
  const { app, registry, dir, prefix } = await build(t, { yaml: reportingYaml(api.url, { redis: true }) })
  await app.ready()
  const lastSuccess = async (): Promise<number> => await sampleValue(registry, 'cio_gateway_reporting_last_success_timestamp_seconds')

  const first = await eventually(async () => { const value = await lastSuccess(); return value > 0 ? value : undefined }, 15_000, 'a complete poll')
  t.ok(first * 1000 >= now, 'the last-success timestamp is the time of this poll')

  const throttled = api.requests[2]
  t.equal(throttled?.status, 429, 'the third request was answered 429')
  const retry = api.requests.find((request, index) => index > 2 && request.path === throttled?.path)
  t.ok(retry !== undefined && retry.status === 200, 'the same request was tried again and answered')
  t.ok((retry?.at ?? 0) - (throttled?.at ?? 0) >= 1000, `the retry came ${(retry?.at ?? 0) - (throttled?.at ?? 0)} ms later, after Retry-After: 1`)
  t.same(api.problems, [], 'every request carried the bearer token and the expected parameters')

  const polled = new Set(api.requests.map((request) => request.path))
  t.ok(polled.has('/v1/campaigns/20/metrics'), 'a campaign stopped within the lookback is fetched')
  t.notOk(polled.has('/v1/campaigns/21/metrics') || polled.has('/v1/campaigns/22/metrics'), 'drafts and campaigns stopped before the lookback are not')
  t.ok(polled.has('/v1/newsletters/200/metrics'), 'a newsletter sent before the lookback is fetched: its opens land inside it')
  t.notOk(polled.has('/v1/newsletters/201/metrics') || polled.has('/v1/newsletters/202/metrics'), 'drafts and newsletters sent more than 45 days ago are not')
  t.ok(polled.has('/v1/broadcasts/2/metrics') && !polled.has('/v1/broadcasts/3/metrics'), 'running API-triggered broadcasts are fetched, drafts not')
  t.equal(api.requests.filter((request) => request.path === '/v1/newsletters' && request.status === 200).length, 4, 'the newsletter list was followed over its 4 pages')

  t.equal(await sampleValue(registry, 'cio_gateway_campaign_metric', { campaign_id: '5', metric: 'delivered' }), 56, "today's delivered count of campaign 5")
  t.equal(await sampleValue(registry, 'cio_gateway_campaign_metric', { campaign_id: '5', metric: 'opened' }), 0)
  t.equal(await sampleValue(registry, 'cio_gateway_campaign_metric', { campaign_id: '20', metric: 'delivered' }), 206, 'and the stopped one, while it is compared')
  t.equal(await sampleValue(registry, 'cio_gateway_campaign_metric', { campaign_id: '22' }), 0, 'no series for a campaign stopped long ago')
  t.equal(await sampleValue(registry, 'cio_gateway_reporting_requests_total', { endpoint: '/v1/newsletters', status: '429' }), 1)

  // lookback 7 = today and 6 complete days: 12 campaigns × 6 days × 3 non-zero metrics, 6 newsletters × 6 days × 1, 1 broadcast × 6 days × 1.
  const expected = 12 * 6 * 3 + 6 * 6 + 6
  const reportLines = (): Array<Record<string, unknown>> => readLines(`${dir}/events`).filter((line) => line.object_type === 'report')
  await eventually(() => (reportLines().length >= expected ? true : undefined), 10_000, `${expected} report events in the file sink`)

  // A second poll of the same data, then a third after the poller's own "emitted" marks are gone: the ingest dedupe still holds.
  await eventually(async () => ((await lastSuccess()) > first ? true : undefined), 15_000, 'a second complete poll')
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const marks = await redis.keys(`${prefix}:_reporting_state:emitted:*`)
  t.ok(marks.length > 0, 'the poller marked what it emitted')
  await redis.del(...marks)
  const second = await lastSuccess()
  await eventually(async () => ((await lastSuccess()) > second ? true : undefined), 15_000, 'a third complete poll')
  await new Promise((resolve) => setTimeout(resolve, 300))

  const lines = reportLines()
  t.equal(lines.length, expected, 'each report event reached the sink once over three polls')
  t.equal(new Set(lines.map((line) => line.event_id)).size, expected, 'no event id twice')
  const sample = lines.find((line) => line.event_id === `report:campaign:5:delivered:${yesterday}`)
  t.same(sample, {
    event_id: `report:campaign:5:delivered:${yesterday}`,
    object_type: 'report',
    metric: 'campaign_metrics',
    timestamp: Date.parse(`${yesterday}T00:00:00Z`) / 1000,
    data: { campaign_id: 5, campaign_name: 'Campaign 5', metric: 'delivered', date: yesterday, count: 55, time_zone: 'UTC' },
    _gateway: { source: 'reporting', received_at: sample?._gateway === undefined ? '' : (sample._gateway as { received_at: string }).received_at }
  }, 'a report event, whole')
  t.notOk(lines.some((line) => String(line.event_id).endsWith(`:${today}`) && String(line.event_id).startsWith('report:campaign:')), "today's counts are not emitted: they still grow")
  // Newsletter and broadcast series end with the current EST day; the value before it (7 of 1..8) is EST yesterday's.
  const easternYesterday = estDayOf(now - DAY_MS)
  const newsletter = lines.find((line) => line.event_id === `report:newsletter:100:sent:${easternYesterday}`)
  t.match(newsletter, { object_type: 'report', metric: 'newsletter_metrics', data: { newsletter_id: 100, newsletter_name: 'Newsletter 0', count: 7, time_zone: 'EST' } }, 'newsletter events too')
  const broadcast = lines.find((line) => line.event_id === `report:broadcast:2:delivered:${easternYesterday}`)
  t.match(broadcast, { object_type: 'report', metric: 'broadcast_metrics', data: { broadcast_id: 2, broadcast_name: 'API-triggered', count: 7, time_zone: 'EST' } }, 'and broadcast events')

  const most = api.maxInWindow(1000)
  t.ok(most <= 10, `the API never saw more than 10 requests in one second (most: ${most}, over ${api.requests.length} requests)`)
  t.ok(api.requests.length > 30, 'enough requests for the rate to matter')
})
