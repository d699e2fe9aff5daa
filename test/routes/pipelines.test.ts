/**
 * POST /webhooks/:source for a source of `type: customerio_pipelines` (SPEC §13): X-Signature, a
 * batch split into events routed and stored one by one, the answer's counts, duplicates across
 * requests, and quarantine of what is not an event; next to a reporting-webhook source in one
 * routes.yaml.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { build, defaultYaml, eventually, readLines, sampleValue } from '../helpers/app.js'
import { PIPELINES_SECRET, pipelinesHeaders, sampleEvent, samplePipelinesEvent, signedHeaders } from '../helpers/sign.js'

const FIXTURES = ['journeys-email-delivered', 'journeys-email-opened', 'journeys-email-link-clicked', 'journeys-email-bounced', 'journeys-push-sent', 'identify', 'page']
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/pipelines/${name}.json`, import.meta.url), 'utf8')
const batchBody = fixture('batch')

/** Both kinds of Customer.io source, and routes that send delivery metrics of either to one sink. */
const yaml = (redis = true): string => defaultYaml({
  redis,
  extraSources: `  pipelines: { type: customerio_pipelines, secrets: ["an-older-secret", "${PIPELINES_SECRET}"] }`,
  extraSinks: `  deliveries:
    type: file
    path: "{{dir}}/deliveries"
    batch: { max_events: 50, max_wait: 20ms }
  campaign5:
    type: file
    path: "{{dir}}/campaign5"
    batch: { max_events: 50, max_wait: 20ms }
  pages:
    type: file
    path: "{{dir}}/pages"
    batch: { max_events: 50, max_wait: 20ms }`,
  routes: `  - { name: deliveries, match: { metric: [delivered, "Email Delivered"] }, sinks: [deliveries] }
  - { name: campaign-5, match: { source: pipelines, properties.campaign_id: "5" }, sinks: [campaign5] }
  - { name: pages-apart, match: { object_type: page }, sinks: [pages], stop: true }
  - { name: everything, match: { object_type: "*" }, sinks: [local] }`
})

async function post (app: FastifyInstance, body: string | Buffer, headers: Record<string, string> = pipelinesHeaders(body)): Promise<{ status: number, json: unknown }> {
  const response = await app.inject({ method: 'POST', url: '/webhooks/pipelines', headers, payload: body })
  return { status: response.statusCode, json: response.json() }
}

/** The lines a file sink wrote, each without the gateway's stamp, as the JSON text the sink got. */
function stored (dir: string, sink: string): string[] {
  return readLines(join(dir, sink)).map(({ _gateway: _stamp, ...event }) => JSON.stringify(event))
}

const counts = (accepted: number, duplicate = 0, unrouted = 0, quarantined = 0): Record<string, number> => ({ accepted, duplicate, unrouted, quarantined })

t.test('a signed batch: 200 with the counts, each event stored as received in the sinks its own routes chose', async (t) => {
  const { app, dir, registry } = await build(t, { yaml: yaml() })
  t.same(await post(app, batchBody), { status: 200, json: counts(7) })
  const everything = await eventually(() => { const lines = stored(dir, 'events'); return lines.length === 6 ? lines : undefined }, 10_000, 'six events in local')
  t.same(everything.sort(), FIXTURES.filter((name) => name !== 'page').map(fixture).sort(), 'every event but the page, byte for byte as sent')
  const deliveries = await eventually(() => { const lines = stored(dir, 'deliveries'); return lines.length === 1 ? lines : undefined }, 10_000, 'deliveries')
  t.same(deliveries, [fixture('journeys-email-delivered')], 'metric: the event name of a track call')
  const pages = await eventually(() => { const lines = stored(dir, 'pages'); return lines.length === 1 ? lines : undefined }, 10_000, 'pages')
  t.same(pages, [fixture('page')], 'object_type: the call type; stop ends the walk')
  const campaign5 = await eventually(() => { const lines = stored(dir, 'campaign5'); return lines.length === 3 ? lines : undefined }, 10_000, 'campaign 5')
  t.same(campaign5.sort(), ['journeys-email-delivered', 'journeys-email-opened', 'journeys-email-link-clicked'].map(fixture).sort(), 'a dotted path into properties')
  t.match(readLines(join(dir, 'events'))[0], { _gateway: { source: 'pipelines' } })
  t.equal(await sampleValue(registry, 'cio_gateway_events_received_total', { source: 'pipelines', object_type: 'track', metric: 'Email Delivered' }), 1)
  t.equal(await sampleValue(registry, 'cio_gateway_events_received_total', { source: 'pipelines', object_type: 'identify', metric: 'identify' }), 1)
  t.equal(await sampleValue(registry, 'cio_gateway_events_received_total', { source: 'pipelines' }), 7)
})

t.test('one routes.yaml for both sources: a reporting webhook and a pipelines metric reach the same sink', async (t) => {
  const { app, dir } = await build(t, { yaml: yaml() })
  const webhook = JSON.stringify(sampleEvent({ metric: 'delivered' }))
  const webhookAnswer = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(webhook), payload: webhook })
  t.same([webhookAnswer.statusCode, webhookAnswer.json()], [200, { status: 'accepted' }], 'the reporting webhook keeps its own answer')
  const metric = JSON.stringify(samplePipelinesEvent())
  t.same(await post(app, metric), { status: 200, json: counts(1) }, 'a single pipelines event is answered with counts too')
  const lines = await eventually(() => { const found = readLines(join(dir, 'deliveries')); return found.length === 2 ? found : undefined }, 10_000, 'both in deliveries')
  t.same(lines.map((line) => (line._gateway as { source: string }).source).sort(), ['customerio', 'pipelines'])
})

t.test('resent batches: the events already stored answer duplicate, nothing is stored twice', async (t) => {
  const { app, dir, registry } = await build(t, { yaml: yaml() })
  const first = [samplePipelinesEvent(), samplePipelinesEvent({ type: 'identify', event: undefined, traits: { plan: 'pro' } }), samplePipelinesEvent()]
  const second = [first[2], samplePipelinesEvent(), first[0]]
  t.same(await post(app, JSON.stringify(first)), { status: 200, json: counts(3) })
  t.same(await post(app, JSON.stringify(first)), { status: 200, json: counts(0, 3) }, 'the same batch again')
  t.same(await post(app, JSON.stringify(second)), { status: 200, json: counts(1, 2) }, 'a batch that repeats two events of the first')
  t.same(await post(app, JSON.stringify([second[1], second[1]])), { status: 200, json: counts(0, 2) }, 'twice in one batch: one write, a duplicate of itself')
  const ids = await eventually(() => { const found = readLines(join(dir, 'events')).map((line) => line.messageId); return found.length >= 4 ? found : undefined }, 10_000, 'the four events')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(readLines(join(dir, 'events')).map((line) => line.messageId).sort(), ids.sort())
  t.same([...ids].sort(), [...first, second[1]].map((event) => event?.messageId).sort(), 'each event once')
  t.equal(await sampleValue(registry, 'cio_gateway_events_duplicate_total', { source: 'pipelines' }), 7)
})

t.test('a batch with a twin inside it: two copies of one messageId in the same request give one accepted, one duplicate', async (t) => {
  const { app, dir } = await build(t, { yaml: yaml() })
  const event = samplePipelinesEvent()
  t.same(await post(app, JSON.stringify([event, event])), { status: 200, json: counts(1, 1) })
  await eventually(() => readLines(join(dir, 'events')).length === 1 ? true : undefined, 10_000, 'one line')
})

t.test('malformed members are quarantined one by one and the rest stored; resent, each is a duplicate', async (t) => {
  const { app, dir } = await build(t, { yaml: yaml() })
  const good = [samplePipelinesEvent(), samplePipelinesEvent({ type: 'screen', event: undefined, name: 'Home' })]
  const body = `[${JSON.stringify(good[0])},42,{"type":"track","messageId":"no-event-name"},{"messageId":"no-type"},${JSON.stringify(good[1])}]`
  t.same(await post(app, body), { status: 200, json: counts(2, 0, 0, 3) })
  t.same(await post(app, body), { status: 200, json: counts(0, 5) })
  await eventually(() => readLines(join(dir, 'events')).length === 2 ? true : undefined, 10_000, 'the two events')
  const letters = await eventually(async () => {
    const found = await app.queueBackend.deadLetters('_quarantine', 10)
    return found.length === 3 ? found : undefined
  }, 10_000, 'three quarantined members')
  t.same(letters.map((letter) => [letter.event, letter.error]).sort((a, b) => String(a[1]).localeCompare(String(b[1]))), [
    [{ type: 'track', messageId: 'no-event-name' }, 'quarantined: missing_event'],
    [{ messageId: 'no-type' }, 'quarantined: missing_type'],
    [42, 'quarantined: not_a_json_object']
  ], 'each member on its own, read as a Data Pipelines event')
  t.same(letters.map((letter) => letter.source), ['pipelines', 'pipelines', 'pipelines'])
})

t.test('a body that is not JSON is quarantined whole; signed, it is still answered 200', async (t) => {
  const { app, registry } = await build(t, { yaml: yaml() })
  const body = '[{"type":"track","event":"Email Opened", truncated'
  t.same(await post(app, body), { status: 200, json: counts(0, 0, 0, 1) })
  t.same(await post(app, body), { status: 200, json: counts(0, 1) })
  t.equal(await sampleValue(registry, 'cio_gateway_events_quarantined_total', { source: 'pipelines' }), 1)
  const empty = await post(app, '[]')
  t.same(empty, { status: 200, json: counts(0) }, 'an empty batch stores nothing and is acked')
})

t.test('401 with a clean reason for a missing, malformed or wrong X-Signature, and for the other scheme\'s headers', async (t) => {
  const { app, registry } = await build(t, { yaml: yaml() })
  const good = pipelinesHeaders(batchBody)['x-signature'] as string
  const cases: [string, Record<string, string>, string][] = [
    ['no signature', { 'content-type': 'application/json' }, 'missing_signature'],
    ['the reporting-webhook headers', signedHeaders(batchBody), 'missing_signature'],
    ['uppercase hex', { 'x-signature': good.toUpperCase() }, 'bad_signature'],
    ['truncated', { 'x-signature': good.slice(0, 39) }, 'bad_signature'],
    ['another secret', pipelinesHeaders(batchBody, { secret: 'not-the-secret' }), 'bad_signature'],
    ['over other bytes', { 'x-signature': pipelinesHeaders(`${batchBody}\n`)['x-signature'] as string }, 'bad_signature']
  ]
  for (const [name, headers, reason] of cases) {
    t.same(await post(app, batchBody, headers), { status: 401, json: { error: 'invalid_signature', reason } }, name)
  }
  t.equal(await sampleValue(registry, 'cio_gateway_events_rejected_total', { source: 'pipelines', reason: 'bad_signature' }), 4)
  t.same(await post(app, batchBody, pipelinesHeaders(batchBody, { secret: 'an-older-secret' })), { status: 200, json: counts(7) }, 'the older secret still verifies (rotation)')
  const webhook = JSON.stringify(sampleEvent())
  const crossed = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: pipelinesHeaders(webhook), payload: webhook })
  t.same([crossed.statusCode, crossed.json()], [401, { error: 'invalid_signature', reason: 'missing_signature' }], 'and the reporting source does not take X-Signature')
})

t.test('the embedded queue answers the same counts', async (t) => {
  const { app } = await build(t, { yaml: yaml(false) })
  t.same(await post(app, batchBody), { status: 200, json: counts(7) })
  t.same(await post(app, batchBody), { status: 200, json: counts(0, 7) })
})

t.test('401 before the body is read: an absent or malformed X-Signature, whatever the body', async (t) => {
  const { app } = await build(t, { yaml: yaml() })
  // Over the 64 KB limit: had the body been read first, the answer would be 413.
  const body = JSON.stringify(Array.from({ length: 300 }, () => samplePipelinesEvent()))
  t.ok(body.length > 64 * 1024)
  const good = pipelinesHeaders(body)['x-signature'] as string
  const cases: [string, Record<string, string>, string][] = [
    ['no X-Signature', { 'content-type': 'application/json' }, 'missing_signature'],
    ['uppercase', { 'x-signature': good.toUpperCase() }, 'bad_signature'],
    ['a SHA-256 length', { 'x-signature': 'a'.repeat(64) }, 'bad_signature']
  ]
  for (const [name, headers, reason] of cases) {
    const response = await app.inject({ method: 'POST', url: '/webhooks/pipelines', headers, payload: body })
    t.same([response.statusCode, response.json()], [401, { error: 'invalid_signature', reason }], name)
    t.equal(response.headers.connection, 'close', `${name}: the connection closes instead of draining the unread body`)
  }
  const wellFormed = await app.inject({ method: 'POST', url: '/webhooks/pipelines', headers: pipelinesHeaders(body, { secret: 'not-the-secret' }), payload: body })
  t.equal(wellFormed.statusCode, 413, 'a well-formed header: the body is read, and it is too large')
})
