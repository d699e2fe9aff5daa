/** Webhooks counted by the gateway against Customer.io's own daily counts: the gap gauges of the poller. */
import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { build, eventually, sampleValue, type Teardownable } from '../../helpers/app.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../../helpers/sign.js'
import { API_KEY, DAY_MS, estDayOf, reportingYaml, startFakeAppApi, utcDays } from './fixtures/fake-app-api.js'

/**
 * The gateways' and the stand-in's clock, pinned: the days compared must not depend on when the test runs. At
 * 03:00 UTC the last complete UTC day (2 November) is a day after the last complete EST day (1 November).
 */
const NOW = Date.parse('2026-11-03T03:00:00Z')
const now = (): number => NOW

async function post (app: FastifyInstance, event: Record<string, unknown>): Promise<string> {
  const body = JSON.stringify(event)
  const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body, { timestamp: NOW / 1000 }), payload: body })
  return (response.json() as { status: string }).status
}

const { yesterday } = utcDays(NOW)
const estYesterday = estDayOf(NOW - DAY_MS)
const onDay = (days: string[], day: string, value: number, otherwise = 1): number[] => days.map((each) => (each === day ? value : otherwise))

/**
 * Customer.io's side, yesterday: campaign 5 delivered 7, opened 3 (2 by people), suppressed 2;
 * campaign 6 delivered 2; newsletter 300 opened 4; broadcast 2 delivered 3 (EST days for those two).
 */
async function fakeApi (t: Teardownable): ReturnType<typeof startFakeAppApi> {
  return await startFakeAppApi(t, {
    apiKey: API_KEY,
    now,
    campaigns: [{ id: 5, name: 'Welcome', state: 'running' }, { id: 6, name: 'Nurture', state: 'running' }],
    campaignSeries: (id, days): Record<string, number[]> => id === 5
      ? { delivered: onDay(days, yesterday, 7, 9), opened: onDay(days, yesterday, 3), human_opened: onDay(days, yesterday, 2), suppressed: onDay(days, yesterday, 2) }
      : { delivered: onDay(days, yesterday, 2) },
    newsletters: [{ id: 300, name: 'Weekly', sent_at: (NOW - 2 * DAY_MS) / 1000 }],
    newsletterSeries: (_id, days) => ({ opened: onDay(days, estYesterday, 4, 0) }),
    broadcasts: [{ id: 2, name: 'Price drop', state: 'running' }],
    broadcastSeries: (_id, days) => ({ delivered: onDay(days, estYesterday, 3, 0) })
  })
}

/** What the gateway received, and what must not count. */
async function sendWebhooks (app: FastifyInstance): Promise<string[]> {
  const noonYesterday = Math.floor(Date.parse(`${yesterday}T12:00:00Z`) / 1000)
  // 12:00 EST is 17:00 UTC.
  const estNoonYesterday = Math.floor(Date.parse(`${estYesterday}T17:00:00Z`) / 1000)
  const delivered = Array.from({ length: 5 }, () => sampleEvent({ metric: 'delivered', timestamp: noonYesterday, data: { campaign_id: 5, delivery_id: 'D' } }))
  const statuses: string[] = []
  for (const event of delivered) statuses.push(await post(app, event))
  statuses.push(await post(app, delivered[0] as Record<string, unknown>))
  statuses.push(await post(app, sampleEvent({ metric: 'delivered', timestamp: NOW / 1000, data: { campaign_id: 5 } })))
  statuses.push(await post(app, sampleEvent({ metric: 'dropped', timestamp: noonYesterday, data: { campaign_id: 5, failure_message: 'suppressed' } })))
  statuses.push(await post(app, sampleEvent({ metric: 'opened', timestamp: noonYesterday, data: { campaign_id: '6' } })))
  for (const prefetched of [false, false, true]) {
    statuses.push(await post(app, sampleEvent({ metric: 'opened', timestamp: estNoonYesterday, data: { newsletter_id: 300, prefetched } })))
  }
  for (let i = 0; i < 2; i++) statuses.push(await post(app, sampleEvent({ metric: 'delivered', timestamp: estNoonYesterday, data: { broadcast_id: 2, trigger_id: 1 } })))
  statuses.push(await post(app, sampleEvent({ metric: 'delivered', timestamp: noonYesterday, data: { transactional_message_id: 9 } })))
  return statuses
}

const SENT = [
  'accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'duplicate', 'accepted', 'accepted', 'accepted',
  'accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'accepted'
]
const SENT_MEANS = '5 delivered yesterday for campaign 5 and a copy of one; one today; a dropped; an open of campaign 6; 3 newsletter opens; 2 broadcast deliveries; a transactional one'

async function gap (registry: Parameters<typeof sampleValue>[0], name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metricObject = registry.getSingleMetric(name)
  const { values } = await (metricObject as NonNullable<typeof metricObject>).get()
  return values.find((value) => Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted))?.value
}
const broadcastGap = async (registry: Parameters<typeof sampleValue>[0]): Promise<number | undefined> =>
  await gap(registry, 'cio_gateway_broadcast_reconciliation_gap', { broadcast_id: '2', metric: 'delivered' })
const campaignGap = async (registry: Parameters<typeof sampleValue>[0], campaignId: string, metric: string): Promise<number | undefined> =>
  await gap(registry, 'cio_gateway_reconciliation_gap', { campaign_id: campaignId, metric })

t.test('with Redis: webhooks counted by an ingest process, compared by a worker process', async (t) => {
  const api = await fakeApi(t)
  const shared = uniquePrefix('reconcile')
  t.teardown(async () => { await deleteKeys(shared) })
  const yaml = reportingYaml(api.url, { redis: true, interval: '1h' }).replaceAll('{{prefix}}', shared)

  const ingest = await build(t, { yaml, role: 'ingest', now })
  t.same(await sendWebhooks(ingest.app), SENT, SENT_MEANS)
  t.equal(api.requests.length, 0, 'an ingest process does not poll')
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const key = `${shared}:_reporting_state:received:${yesterday}`
  // Counts reach Redis once a second, so one write may hold only the first webhooks: wait for the last one counted (the
  // broadcast's second delivery); the writes are in order, so every webhook before it is in Redis then too.
  const easternKey = `${shared}:_reporting_state:received:${estYesterday}`
  await eventually(async () => ((await redis.hget(easternKey, 'broadcast:2:delivered')) === '2' ? true : undefined), 5000, 'the counts in Redis')
  const counts = await redis.hgetall(key)
  t.same(Object.fromEntries(Object.entries(counts).filter(([field]) => field.startsWith('campaign:'))), {
    'campaign:5:delivered': '5',
    'campaign:5:dropped': '1',
    'campaign:6:opened': '1',
    'campaign:6:human_opened': '1'
  }, 'counted per campaign and compared metric for the UTC day of the event, duplicates and transactional messages not')
  const eastern = await redis.hgetall(easternKey)
  t.same(Object.fromEntries(Object.entries(eastern).filter(([field]) => !field.startsWith('campaign:'))), {
    'newsletter:300:opened': '3',
    'newsletter:300:human_opened': '2',
    'newsletter:300:prefetch_opened': '1',
    'broadcast:2:delivered': '2'
  }, 'newsletters and broadcasts counted for the EST day of the event')
  t.ok(await redis.pttl(key) > 7 * DAY_MS, 'the counts are kept past the lookback (7 days + 2)')

  // The worker starts after the webhooks: its first poll (at start) reconciles them.
  const worker = await build(t, { yaml, role: 'worker', now })
  await worker.app.ready()
  await eventually(async () => ((await campaignGap(worker.registry, '5', 'delivered')) !== undefined ? true : undefined), 10_000, 'the gap gauge')
  t.equal(await campaignGap(worker.registry, '5', 'delivered'), 2, 'Customer.io counted 7 delivered, the gateway received 5: 2 missing')
  t.equal(await campaignGap(worker.registry, '5', 'opened'), 3, 'no open received')
  t.equal(await campaignGap(worker.registry, '5', 'human_opened'), 2, 'human opens are compared too')
  t.equal(await campaignGap(worker.registry, '5', 'dropped'), 1, 'suppressed 2 in the API, 1 dropped webhook: labelled with the webhook\'s name')
  t.equal(await campaignGap(worker.registry, '5', 'suppressed'), undefined, 'not under the API\'s name')
  t.equal(await campaignGap(worker.registry, '6', 'delivered'), 2)
  t.equal(await campaignGap(worker.registry, '6', 'opened'), undefined, 'no gap for a metric Customer.io did not report')
  t.equal(await gap(worker.registry, 'cio_gateway_newsletter_reconciliation_gap', { newsletter_id: '300', metric: 'opened' }), 1, 'newsletter 300: 4 opens, 3 received')
  t.equal(await gap(worker.registry, 'cio_gateway_broadcast_reconciliation_gap', { broadcast_id: '2', metric: 'delivered' }), 1, 'broadcast 2: 3 delivered, 2 received')
  t.equal(await sampleValue(worker.registry, 'cio_gateway_campaign_metric', { campaign_id: '5', metric: 'delivered' }), 9, "today's count is another gauge")
  t.same(api.problems, [])
})

t.test('embedded: counted in memory, reconciled at the next poll', async (t) => {
  const api = await fakeApi(t)
  const { app, registry } = await build(t, { yaml: reportingYaml(api.url, { redis: false, interval: '1s' }), now })
  await app.ready()
  await eventually(async () => ((await campaignGap(registry, '5', 'delivered')) === 7 ? true : undefined), 5000, 'the first poll, before any webhook')
  t.same(await sendWebhooks(app), SENT, SENT_MEANS)
  // A poll may start while the webhooks are being sent and count only the first ones: wait for a poll that counted the
  // last one counted (the broadcast's second delivery, 3 − 2 = 1), which counted every webhook before it too.
  await eventually(async () => ((await broadcastGap(registry)) === 1 ? true : undefined), 5000, 'a poll after the last webhook')
  t.equal(await campaignGap(registry, '5', 'delivered'), 2, 'Customer.io counted 7 delivered, the gateway received 5: 2 missing')
  t.equal(await campaignGap(registry, '5', 'opened'), 3)
  t.equal(await gap(registry, 'cio_gateway_newsletter_reconciliation_gap', { newsletter_id: '300', metric: 'opened' }), 1)
  t.equal(await broadcastGap(registry), 1)
})
