import t from 'tap'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { sinkCompliance, startSink, type SinkUnderTest } from '../../helpers/sink-compliance.js'
import { build, defaultYaml, eventually } from '../../helpers/app.js'
import { sampleEvent, signedHeaders } from '../../helpers/sign.js'
import { refusalReason } from '../../../plugins/sinks/webhook/ssrf-guard.js'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`

interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** What standardwebhooks' verify() returned (the parsed payload), or the error it threw. */
  readonly verified: unknown
  readonly at: number
}

/** What the receiver answers to the nth request (0-based); default 200. */
type Answer = (request: Received, index: number, response: ServerResponse) => void

interface Receiver {
  readonly port: number
  readonly url: string
  readonly received: Received[]
  answer: Answer
}

const ok: Answer = (_request, _index, response) => { response.writeHead(200).end('ok') }
const status = (code: number, headers: Record<string, string> = {}): Answer => (_request, _index, response) => { response.writeHead(code, headers).end() }

/** A local endpoint that checks every request with the standardwebhooks library, as a real receiver would. */
async function receiver (t: { teardown (fn: () => unknown): void }): Promise<Receiver> {
  const state: Omit<Receiver, 'port' | 'url'> = { received: [], answer: ok }
  const verifier = new Webhook(SECRET)
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let verified: unknown
      try {
        verified = verifier.verify(body, request.headers as Record<string, string>)
      } catch (error) {
        verified = error
      }
      const received = { path: request.url ?? '', headers: request.headers, body, verified, at: Date.now() }
      state.received.push(received)
      state.answer(received, state.received.length - 1, response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return Object.assign(state, { port, url: `http://127.0.0.1:${port}/hooks/cio` })
}

function webhook (target: Receiver, options: Record<string, unknown> = {}, rest: Partial<SinkUnderTest> = {}): SinkUnderTest {
  return { type: 'webhook', options: { url: target.url, secret: SECRET, allow_private_networks: true, ...options }, ...rest }
}

t.test('the webhook sink passes the sink compliance checks', async (t) => {
  const target = await receiver(t)
  await sinkCompliance(t, {
    ...webhook(target),
    target: {
      succeed: () => { target.answer = ok },
      fail: () => { target.answer = status(503) }
    },
    errorType: 'http_503'
  })
})

t.test('each event is one POST of the event as received, signed per Standard Webhooks with webhook-id = event_id', async (t) => {
  const target = await receiver(t)
  const sink = await startSink(t, webhook(target, { headers: { Authorization: 'Bearer crm-token' } }))
  const events = [sampleEvent(), sampleEvent({ object_type: 'sms', metric: 'replied' }), sampleEvent()]
  await sink.send(events)
  await sink.settled(3)
  t.equal(target.received.length, 3)
  const byId = new Map(target.received.map((request) => [request.headers['webhook-id'], request]))
  for (const event of events) {
    const request = byId.get(event.event_id as string)
    t.ok(request, `a request for ${String(event.event_id)}`)
    t.same(request?.verified, event, 'verify() accepts the signature and gives back the event, without _gateway')
    t.equal(request?.path, '/hooks/cio')
    t.match(request?.headers, { 'content-type': 'application/json', authorization: 'Bearer crm-token', 'webhook-signature': /^v1,[A-Za-z0-9+/]+=*$/ })
  }
})

t.test('without a secret, requests go unsigned', async (t) => {
  const target = await receiver(t)
  const sink = await startSink(t, webhook(target, { secret: '' }))
  const event = sampleEvent()
  await sink.send([event])
  await sink.settled(1)
  t.equal(target.received[0]?.headers['webhook-signature'], undefined)
  t.equal(target.received[0]?.headers['webhook-id'], event.event_id)
  t.same(JSON.parse(target.received[0]?.body ?? 'null'), event)
})

t.test('503 then 200 delivers the event once', async (t) => {
  const target = await receiver(t)
  target.answer = (request, index, response) => status(index === 0 ? 503 : 200)(request, index, response)
  const sink = await startSink(t, webhook(target))
  const event = sampleEvent()
  await sink.send([event])
  const counts = await sink.settled(1)
  t.match(counts, { completed: 1, failed: 0 })
  t.equal(target.received.length, 2, 'one refused attempt, one delivery')
  t.same(target.received.map((request) => request.headers['webhook-id']), [event.event_id, event.event_id], 'the retry keeps the webhook-id')
  for (const request of target.received) t.same(request.verified, event, 'both attempts verify')
  t.equal(await sink.metric('sink_errors_total', { error_type: 'http_503' }), 1)
  t.equal(await sink.metric('sink_events_delivered_total'), 1)
})

t.test('Retry-After on a 429 is honoured before the next attempt', async (t) => {
  const target = await receiver(t)
  target.answer = (request, index, response) => (index === 0 ? status(429, { 'retry-after': '1' }) : ok)(request, index, response)
  const sink = await startSink(t, webhook(target, {}, { retry: { initial_delay: '10ms', max_delay: '20ms' } }))
  await sink.send([sampleEvent()])
  await sink.settled(1)
  t.equal(target.received.length, 2)
  const gap = (target.received[1]?.at ?? 0) - (target.received[0]?.at ?? 0)
  t.ok(gap >= 950, `the retry waited for Retry-After (${gap} ms)`)
  t.equal(await sink.metric('sink_errors_total', { error_type: 'http_429' }), 1)
})

t.test('a 400 dead-letters at once, without a retry', async (t) => {
  const target = await receiver(t)
  target.answer = status(400)
  const sink = await startSink(t, webhook(target, {}, { retry: { attempts: 5 } }))
  const event = sampleEvent()
  await sink.send([event])
  const counts = await sink.settled(1)
  t.match(counts, { completed: 0, failed: 1 })
  t.equal(target.received.length, 1, 'one request only')
  const [letter] = await sink.deadLetters()
  t.equal(letter?.event_id, event.event_id)
  t.equal(letter?.attempts, 1)
  t.match(letter?.error, /answered 400/)
  t.equal(await sink.metric('sink_errors_total', { error_type: 'http_400' }), 1)
  t.equal(await sink.metric('sink_events_dead_lettered_total'), 1)
})

t.test('a redirect is not followed and dead-letters', async (t) => {
  const target = await receiver(t)
  target.answer = (request, index, response) => (request.path === '/hooks/cio' ? status(302, { location: `http://127.0.0.1:${target.port}/elsewhere` }) : ok)(request, index, response)
  const sink = await startSink(t, webhook(target))
  await sink.send([sampleEvent()])
  await sink.settled(1)
  t.same(target.received.map((request) => request.path), ['/hooks/cio'], 'the Location was never requested')
  t.equal(await sink.metric('sink_events_dead_lettered_total'), 1)
  t.equal(await sink.metric('sink_errors_total', { error_type: 'http_302' }), 1)
})

t.test('a target slower than timeout is a retryable timeout', async (t) => {
  const target = await receiver(t)
  target.answer = (_request, _index, response) => { setTimeout(() => response.writeHead(200).end(), 1000).unref() }
  const sink = await startSink(t, webhook(target, { timeout: '200ms' }, { retry: { attempts: 2 } }))
  await sink.send([sampleEvent()])
  await sink.settled(1)
  t.equal(target.received.length, 2, 'tried twice')
  t.equal(await sink.metric('sink_errors_total', { error_type: 'timeout' }), 2)
})

t.test('the SSRF guard refuses a host that resolves to 127.0.0.1 unless allow_private_networks is set', async (t) => {
  const target = await receiver(t)
  const byName = `http://localhost:${target.port}/hooks/cio`

  await t.test('refused by default: dead-lettered at once, nothing sent', async (t) => {
    const sink = await startSink(t, webhook(target, { url: byName, allow_private_networks: undefined }, { retry: { attempts: 5 } }))
    await sink.send([sampleEvent()])
    await sink.settled(1)
    t.equal(target.received.length, 0, 'no request reached the receiver')
    t.equal(await sink.metric('sink_errors_total', { error_type: 'ssrf_refused' }), 1)
    const [letter] = await sink.deadLetters()
    t.equal(letter?.attempts, 1)
    t.match(letter?.error, /localhost resolves to 127\.0\.0\.1 \(loopback\)/)
  })

  await t.test('IP literals are refused too (they never go through DNS)', async (t) => {
    // [::127.0.0.1] is the IPv4-compatible form, which the URL parser writes as [::7f00:1].
    const urls = [`http://127.0.0.1:${target.port}/`, `http://[::ffff:127.0.0.1]:${target.port}/`, `http://[::1]:${target.port}/`, `http://[::127.0.0.1]:${target.port}/`]
    const sink = await startSink(t, webhook(target, { url: urls[0], allow_private_networks: false }, { retry: { attempts: 1 } }))
    await sink.send([sampleEvent()])
    await sink.settled(1)
    t.equal(await sink.metric('sink_errors_total', { error_type: 'ssrf_refused' }), 1)
    for (const url of urls.slice(1)) {
      const other = await startSink(t, webhook(target, { url, allow_private_networks: false }, { retry: { attempts: 1 } }))
      await other.send([sampleEvent()])
      await other.settled(1)
      t.equal(await other.metric('sink_errors_total', { error_type: 'ssrf_refused' }), 1, url)
    }
    t.equal(target.received.length, 0)
  })

  await t.test('allowed with allow_private_networks: true', async (t) => {
    const sink = await startSink(t, webhook(target, { url: byName, allow_private_networks: true }))
    const event = sampleEvent()
    await sink.send([event])
    await sink.settled(1)
    t.equal(target.received.length, 1)
    t.same(target.received[0]?.verified, event)
  })
})

t.test('only ordinary public unicast addresses pass the guard', async (t) => {
  const refused: Record<string, string> = {
    '127.0.0.1': 'loopback',
    '10.1.2.3': 'private',
    '172.16.0.1': 'private',
    '192.168.1.1': 'private',
    '169.254.169.254': 'linkLocal',
    '100.64.0.1': 'carrierGradeNat',
    '0.0.0.0': 'unspecified',
    '224.0.0.1': 'multicast',
    '255.255.255.255': 'broadcast',
    '::1': 'loopback',
    '::': 'unspecified',
    'fe80::1': 'linkLocal',
    'fd00::1': 'uniqueLocal',
    '::ffff:10.0.0.1': 'private',
    '64:ff9b::a00:1': 'rfc6052',
    '2002:a00:1::': '6to4',
    '::ffff:127.0.0.1': 'loopback',
    '2001:db8::1': 'reserved'
  }
  for (const [address, reason] of Object.entries(refused)) t.equal(refusalReason(address), reason, address)
  for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2001:4860:4860::8888', '2a00:1450:4001::1']) t.equal(refusalReason(address), undefined, address)
})

t.test('IPv6 passes only as global unicast (2000::/3): the IPv4-compatible ::/96 and unassigned space are refused', async (t) => {
  const refused: Record<string, string> = {
    '::7f00:1': 'ipv4Compatible', // ::127.0.0.1
    '::127.0.0.1': 'ipv4Compatible', // the same, written with a dotted quad
    '::8.8.8.8': 'ipv4Compatible',
    '::a9fe:a9fe': 'ipv4Compatible', // ::169.254.169.254, the cloud metadata address
    '::a00:1': 'ipv4Compatible', // ::10.0.0.1
    '::808:808': 'ipv4Compatible', // even a public IPv4 address: the form itself is deprecated
    '4000::1': 'notGlobalUnicast',
    '1::1': 'notGlobalUnicast',
    'e000::1': 'notGlobalUnicast'
  }
  for (const [address, reason] of Object.entries(refused)) t.equal(refusalReason(address), reason, address)
})

t.test('end to end: a signed Customer.io event reaches the receiver through the whole app', async (t) => {
  const target = await receiver(t)
  const { app } = await build(t, {
    yaml: defaultYaml({
      redis: false,
      extraSinks: `  crm: { type: webhook, url: "${target.url}", secret: "${SECRET}", allow_private_networks: true, batch: { max_wait: 10ms } }`,
      routes: '  - { name: bounces, match: { object_type: email, metric: bounced }, sinks: [crm] }'
    })
  })
  const event = sampleEvent({ metric: 'bounced' })
  const body = JSON.stringify(event)
  const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'accepted' })
  await eventually(() => target.received.length === 1 ? true : undefined)
  t.same(target.received[0]?.verified, event)
  t.equal(target.received[0]?.body, body, 'the body is the event as sent')
})
