/**
 * The live tail (SPEC §12): it listens to ingest only while watched (nothing is added to the webhook
 * path otherwise), keeps a bounded number of events, streams them as Server-Sent Events masked like
 * the sinks they are routed to and filtered by source, object type and metric, and its streams end
 * when the gateway closes.
 */
import t from 'tap'
import { request, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import pino from 'pino'
import { Registry } from 'prom-client'
import { build, type Built } from '../../helpers/app.js'
import { PIPELINES_SECRET, pipelinesHeaders, samplePipelinesEvent, signedHeaders } from '../../helpers/sign.js'
import { parseConfig } from '../../../src/config/load.js'
import type { SourceConfig } from '../../../src/config/types.js'
import { Ingestor } from '../../../src/ingest.js'
import { LogThrottle } from '../../../src/log-throttle.js'
import { RoutingTable } from '../../../src/routing.js'
import { GatewayMetrics } from '../../../plugins/metrics/metrics.js'
import { EmbeddedBackend } from '../../../plugins/queue/embedded-backend.js'
import { Masks } from '../../../plugins/console/masking.js'
import { LiveTail, TAIL_KEPT } from '../../../plugins/console/tail.js'
import { ConsoleClient, HOST, consoleOf, consoleYaml } from './helpers.js'

const EMAIL = 'someone@example.com'

function event (id: string, objectType = 'email', metric = 'delivered'): string {
  return JSON.stringify({ event_id: id, object_type: objectType, metric, timestamp: 1_750_000_000, data: { identifiers: { email: EMAIL } } })
}

t.test('the tail listens to ingest only while someone watches, and keeps a bounded number of events', async (t) => {
  const config = parseConfig(consoleYaml({ redis: false }).replaceAll('{{dir}}', '/tmp/unused').replaceAll('{{prefix}}', 'unused'), 'test.yaml', {})
  const backend = new EmbeddedBackend({ dedupeWindowMs: 60_000 })
  t.teardown(async () => await backend.close())
  const ingestor = new Ingestor(config, backend, new RoutingTable(config.routes), new GatewayMetrics(new Registry(), { defaultMetrics: false }), pino({ level: 'silent' }), new LogThrottle())
  let now = 1_000_000
  let listeners = 0
  const tail = new LiveTail((listener) => {
    listeners++
    const remove = ingestor.onAccepted(listener)
    return () => { listeners--; remove() }
  }, new Masks(() => config), pino({ level: 'silent' }), () => now)
  const source = config.sources.get('customerio') as SourceConfig
  const ingest = async (id: string): Promise<void> => { await ingestor.ingest(source, Buffer.from(event(id)), now) }

  await ingest('before')
  t.equal(tail.listening, false, 'nobody has watched: no listener on the webhook path')
  t.equal(listeners, 0)

  t.same(tail.viewed({}), [], 'a page view starts listening; nothing was kept before')
  t.equal(listeners, 1)
  for (let i = 0; i < TAIL_KEPT + 50; i++) await ingest(`E${i}`)
  const kept = tail.viewed({})
  t.equal(kept.length, TAIL_KEPT, 'bounded')
  t.same([kept[0]?.eventId, kept[kept.length - 1]?.eventId], [`E${TAIL_KEPT + 49}`, 'E50'], 'the newest, newest first')
  t.same(tail.viewed({ objectType: 'sms' }), [], 'filtered')

  now += 121_000
  await ingest('after the lease')
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(tail.listening, false, 'two minutes after the last view it stops listening by itself')
  t.equal(listeners, 0)
})

/** An open SSE stream of the console, read as it comes. */
async function openStream (built: Built, cookie: string, query = ''): Promise<{ response: IncomingMessage, events: () => Array<{ event: string, data: string }> }> {
  const app = consoleOf(built)
  if (app.server.address() === null) await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: `/admin/ui/tail/events${query}`, headers: { cookie, accept: 'text/event-stream', host: HOST } }, resolve).on('error', reject).end()
  })
  let text = ''
  response.setEncoding('utf8')
  response.on('data', (chunk: string) => { text += chunk })
  const events = (): Array<{ event: string, data: string }> => text.split('\n\n').filter((block) => block.startsWith('event:')).map((block) => {
    const [first, ...rest] = block.split('\n')
    return { event: (first as string).slice('event: '.length), data: rest.map((line) => line.slice('data: '.length)).join('\n') }
  })
  return { response, events }
}

async function until<T> (check: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = check()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('a stream carries accepted events, masked like their sinks and filtered; it ends when the gateway closes', async (t) => {
  const built = await build(t, { yaml: consoleYaml({ redis: false }).replace('    retry: { attempts: 3', '    redact: [data.identifiers.email]\n    retry: { attempts: 3') })
  const client = await ConsoleClient.logIn(consoleOf(built))
  const all = await openStream(built, client.cookie)
  t.equal(all.response.statusCode, 200)
  t.equal(all.response.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(all.response.headers['content-security-policy'], "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
  t.equal(all.response.headers['cache-control'], 'no-store')
  const sms = await openStream(built, client.cookie, '?object_type=sms')

  for (const body of [event('T-1'), event('T-2', 'sms', 'sent'), event('T-1')]) {
    await built.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  }
  const streamed = await until(() => all.events().length >= 2 ? all.events() : undefined, 'two events on the stream')
  t.same(streamed.map((entry) => entry.event), ['tail', 'tail'], 'accepted events only (the duplicate is not one)')
  const first = JSON.parse(streamed[0]?.data ?? '{}') as { eventId: string, source: string, objectType: string, metric: string, sinks: string[], json: string, receivedAt: number }
  t.match(first, { eventId: 'T-1', source: 'customerio', objectType: 'email', metric: 'delivered', sinks: ['local'], receivedAt: Number })
  t.same(JSON.parse(first.json), {
    event_id: 'T-1', object_type: 'email', metric: 'delivered', timestamp: 1_750_000_000, data: { identifiers: { email: createHash('sha256').update(EMAIL).digest('hex') } }
  }, 'masked like the sink it is routed to')
  const filtered = await until(() => sms.events().length >= 1 ? sms.events() : undefined, 'the sms event')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(sms.events().map((entry) => (JSON.parse(entry.data) as { eventId: string }).eventId), ['T-2'], 'the filtered stream got only its event')
  t.equal(filtered.length, 1)

  const ended = new Promise((resolve) => all.response.on('end', resolve))
  await built.app.close()
  await ended
  t.pass('closing the gateway ended the open stream')
})

t.test('Data Pipelines events reach the tail with their type\'s routing fields and messageId, routed and masked like their sinks', async (t) => {
  const yaml = consoleYaml({
    redis: false,
    extraSources: `  pipelines: { type: customerio_pipelines, secrets: ["${PIPELINES_SECRET}"] }`,
    extraSinks: '  messages: { type: file, path: "{{dir}}/messages", redact: [properties.recipient] }',
    routes: '  - { name: everything, match: {}, sinks: [local] }\n  - { name: deliveries, match: { source: pipelines, metric: Email Delivered }, sinks: [messages] }'
  })
  const built = await build(t, { yaml })
  const client = await ConsoleClient.logIn(consoleOf(built))
  const stream = await openStream(built, client.cookie, '?source=pipelines')
  const batch = [
    samplePipelinesEvent({ messageId: 'P-1', properties: { recipient: EMAIL } }),
    samplePipelinesEvent({ type: 'identify', event: undefined, messageId: 'P-2' }),
    samplePipelinesEvent({ event: 'Email Bounced', messageId: 'P-3', properties: { recipient: EMAIL } })
  ]
  const body = JSON.stringify(batch)
  const response = await built.app.inject({ method: 'POST', url: '/webhooks/pipelines', headers: pipelinesHeaders(body), payload: body })
  t.same(response.json(), { accepted: 3, duplicate: 0, unrouted: 0, quarantined: 0 })
  const reporting = event('R-1')
  await built.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(reporting), payload: reporting })

  const streamed = await until(() => stream.events().length >= 3 ? stream.events() : undefined, 'three events on the stream')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const entries = stream.events().map((entry) => JSON.parse(entry.data) as { eventId: string, source: string, objectType: string, metric: string, sinks: string[], json: string })
  t.equal(streamed.length, 3)
  t.same(entries.map(({ eventId, source, objectType, metric, sinks }) => ({ eventId, source, objectType, metric, sinks })), [
    { eventId: 'P-1', source: 'pipelines', objectType: 'track', metric: 'Email Delivered', sinks: ['local', 'messages'] },
    { eventId: 'P-2', source: 'pipelines', objectType: 'identify', metric: 'identify', sinks: ['local'] },
    { eventId: 'P-3', source: 'pipelines', objectType: 'track', metric: 'Email Bounced', sinks: ['local'] }
  ], 'the filtered stream: the batch\'s events only, routed on their own fields')
  const digest = createHash('sha256').update(EMAIL).digest('hex')
  t.same((JSON.parse(entries[0]?.json ?? '{}') as { properties: unknown }).properties, { recipient: digest }, 'masked like the messages sink it is routed to')
  t.same((JSON.parse(entries[2]?.json ?? '{}') as { properties: unknown }).properties, { recipient: EMAIL }, 'an event routed to local only is not')

  const page = await client.get('/admin/ui/tail?object_type=track')
  t.match(page.body, /<td class="id">P-3<\/td><td>track \/ Email Bounced<\/td>/, 'the tail page too')
})

t.test('a webhook request runs none of the console\'s hooks', async (t) => {
  const built = await build(t, { yaml: consoleYaml({ redis: false }) })
  const body = event('W-1')
  const response = await built.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  t.same(response.json(), { status: 'accepted' })
  t.equal(response.headers['content-security-policy'], undefined, 'the console\'s onSend hook did not run')
  t.equal(response.headers['set-cookie'], undefined)
})
