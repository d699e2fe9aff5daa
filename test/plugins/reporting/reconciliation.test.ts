import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { build, eventually, sampleValue, type Teardownable } from '../../helpers/app.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../../helpers/sign.js'
import { API_KEY, DAY_MS, reportingYaml, startFakeAppApi, utcDays } from './fixtures/fake-app-api.js'

async function post (app: FastifyInstance, event: Record<string, unknown>): Promise<string> {
  const body = JSON.stringify(event)
  const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  return (response.json() as { status: string }).status
}

/** Customer.io's side: campaign 5 delivered 7 and opened 3 yesterday; campaign 6 delivered 2. */
async function fakeApi (t: Teardownable): ReturnType<typeof startFakeAppApi> {
  const { yesterday } = utcDays()
  const onYesterday = (days: string[], value: number, otherwise = 1): number[] => days.map((day) => (day === yesterday ? value : otherwise))
  return await startFakeAppApi(t, {
    apiKey: API_KEY,
    campaigns: [{ id: 5, name: 'Welcome', state: 'running' }, { id: 6, name: 'Nurture', state: 'running' }],
    campaignSeries: (id, days): Record<string, number[]> => id === 5
      ? { delivered: onYesterday(days, 7, 9), opened: onYesterday(days, 3), human_opened: onYesterday(days, 2) }
      : { delivered: onYesterday(days, 2) }
  })
}

/** What the gateway received: 5 delivered for campaign 5 yesterday (one of them sent twice), and others that must not count. */
async function sendWebhooks (app: FastifyInstance): Promise<string[]> {
  const noonYesterday = Math.floor((Date.parse(`${utcDays().yesterday}T12:00:00Z`)) / 1000)
  const delivered = Array.from({ length: 5 }, () => sampleEvent({ metric: 'delivered', timestamp: noonYesterday, data: { campaign_id: 5, delivery_id: 'D' } }))
  const statuses: string[] = []
  for (const event of delivered) statuses.push(await post(app, event))
  statuses.push(await post(app, delivered[0] as Record<string, unknown>))
  statuses.push(await post(app, sampleEvent({ metric: 'delivered', timestamp: noonYesterday + DAY_MS / 1000, data: { campaign_id: 5 } })))
  statuses.push(await post(app, sampleEvent({ metric: 'delivered', timestamp: noonYesterday, data: { broadcast_id: 5 } })))
  statuses.push(await post(app, sampleEvent({ metric: 'opened', timestamp: noonYesterday, data: { campaign_id: '6' } })))
  return statuses
}

const SENT = ['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'duplicate', 'accepted', 'accepted', 'accepted']
const SENT_MEANS = '5 delivered yesterday for campaign 5 and a copy of one; one today; one of a broadcast; an open of campaign 6'

async function gap (registry: Parameters<typeof sampleValue>[0], campaignId: string, metric: string): Promise<number | undefined> {
  const metricObject = registry.getSingleMetric('cio_gateway_reconciliation_gap')
  const { values } = await (metricObject as NonNullable<typeof metricObject>).get()
  return values.find((value) => value.labels.campaign_id === campaignId && value.labels.metric === metric)?.value
}

t.test('with Redis: webhooks counted by an ingest process, compared by a worker process', async (t) => {
  const api = await fakeApi(t)
  const shared = uniquePrefix('reconcile')
  t.teardown(async () => { await deleteKeys(shared) })
  const yaml = reportingYaml(api.url, { redis: true, interval: '1h' }).replaceAll('{{prefix}}', shared)

  const ingest = await build(t, { yaml, role: 'ingest' })
  t.same(await sendWebhooks(ingest.app), SENT, SENT_MEANS)
  t.equal(api.requests.length, 0, 'an ingest process does not poll')
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const counts = await eventually(async () => {
    const hash = await redis.hgetall(`${shared}:_reporting_state:received:${utcDays().yesterday}`)
    return hash['5:delivered'] === '5' ? hash : undefined
  }, 5000, 'the counts in Redis')
  t.same(counts, { '5:delivered': '5', '6:opened': '1' }, 'counted per campaign and metric for the day of the event, duplicates not')
  t.ok(await redis.pttl(`${shared}:_reporting_state:received:${utcDays().yesterday}`) > 7 * DAY_MS, 'the counts expire after about a week')

  // The worker starts after the webhooks: its first poll (at start) reconciles them.
  const worker = await build(t, { yaml, role: 'worker' })
  await worker.app.ready()
  await eventually(async () => ((await gap(worker.registry, '5', 'delivered')) !== undefined ? true : undefined), 10_000, 'the gap gauge')
  t.equal(await gap(worker.registry, '5', 'delivered'), 2, 'Customer.io counted 7 delivered, the gateway received 5: 2 missing')
  t.equal(await gap(worker.registry, '5', 'opened'), 3, 'no open received')
  t.equal(await gap(worker.registry, '6', 'delivered'), 2)
  t.equal(await gap(worker.registry, '6', 'opened'), undefined, 'no gap for a metric Customer.io did not report')
  t.equal(await gap(worker.registry, '5', 'human_opened'), undefined, 'no gap for series that have no webhook')
  t.equal(await sampleValue(worker.registry, 'cio_gateway_campaign_metric', { campaign_id: '5', metric: 'delivered' }), 9, "today's count is another gauge")
})

t.test('embedded: counted in memory, reconciled at the next poll', async (t) => {
  const api = await fakeApi(t)
  const { app, registry } = await build(t, { yaml: reportingYaml(api.url, { redis: false, interval: '1s' }) })
  await app.ready()
  await eventually(async () => ((await gap(registry, '5', 'delivered')) === 7 ? true : undefined), 5000, 'the first poll, before any webhook')
  t.same(await sendWebhooks(app), SENT, SENT_MEANS)
  await eventually(async () => ((await gap(registry, '5', 'delivered')) === 2 ? true : undefined), 5000, 'a gap of 2 after the next poll')
  t.equal(await gap(registry, '5', 'delivered'), 2, 'Customer.io counted 7 delivered, the gateway received 5: 2 missing')
  t.equal(await gap(registry, '5', 'opened'), 3)
})
