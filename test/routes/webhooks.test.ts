/** Every answer of POST /webhooks/:source (SPEC §3), each from its own test, with the exact body. */
import t from 'tap'
import { build, defaultYaml, sampleValue } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { EmbeddedBackend } from '../../plugins/queue/embedded-backend.js'
import { openListener } from '../../src/listeners.js'
import { rawExchange } from '../helpers/raw-http.js'

const post = (app: Awaited<ReturnType<typeof build>>['app'], body: string, headers: Record<string, string>, source = 'customerio') =>
  app.inject({ method: 'POST', url: `/webhooks/${source}`, headers, payload: body })

t.test('200 accepted', async (t) => {
  const { app, registry } = await build(t)
  const body = JSON.stringify(sampleEvent())
  const response = await post(app, body, signedHeaders(body))
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'accepted' })
  t.equal(await sampleValue(registry, 'cio_gateway_events_received_total', { source: 'customerio', object_type: 'email', metric: 'delivered' }), 1)
})

t.test('200 duplicate', async (t) => {
  const { app, registry } = await build(t)
  const body = JSON.stringify(sampleEvent())
  await post(app, body, signedHeaders(body))
  const again = await post(app, body, signedHeaders(body))
  t.equal(again.statusCode, 200)
  t.same(again.json(), { status: 'duplicate' })
  t.equal(await sampleValue(registry, 'cio_gateway_events_duplicate_total', { source: 'customerio' }), 1)
})

t.test('200 unrouted', async (t) => {
  const { app, registry } = await build(t, {
    yaml: defaultYaml({ redis: true, routes: '  - { name: sms-only, match: { object_type: sms }, sinks: [local] }' })
  })
  const body = JSON.stringify(sampleEvent({ object_type: 'email' }))
  const response = await post(app, body, signedHeaders(body))
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'unrouted' })
  t.equal(await sampleValue(registry, 'cio_gateway_events_unrouted_total', { source: 'customerio' }), 1)
})

t.test('200 quarantined: a signed body that is not JSON', async (t) => {
  const { app, registry } = await build(t)
  const body = '{"event_id": "01X", "object_type": "email", truncated'
  const response = await post(app, body, signedHeaders(body))
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'quarantined' })
  t.equal(await sampleValue(registry, 'cio_gateway_events_quarantined_total', { source: 'customerio' }), 1)
})

t.test('200 quarantined: JSON without object_type or metric', async (t) => {
  const { app } = await build(t)
  for (const body of ['{"event_id":"01Y","metric":"sent"}', '{"event_id":"01Z","object_type":"email"}', '[1,2]', '"text"', 'null']) {
    const response = await post(app, body, signedHeaders(body))
    t.same([response.statusCode, response.json()], [200, { status: 'quarantined' }], body)
  }
})

t.test('401 missing_signature', async (t) => {
  const { app, registry } = await build(t)
  const body = JSON.stringify(sampleEvent())
  const response = await post(app, body, { 'content-type': 'application/json' })
  t.equal(response.statusCode, 401)
  t.same(response.json(), { error: 'invalid_signature', reason: 'missing_signature' })
  t.equal(await sampleValue(registry, 'cio_gateway_events_rejected_total', { source: 'customerio', reason: 'missing_signature' }), 1)
})

t.test('401 bad_signature', async (t) => {
  const { app } = await build(t)
  const body = JSON.stringify(sampleEvent())
  const headers = signedHeaders(body, { secret: 'not-the-secret' })
  const response = await post(app, body, headers)
  t.equal(response.statusCode, 401)
  t.same(response.json(), { error: 'invalid_signature', reason: 'bad_signature' })
})

t.test('401 stale_timestamp', async (t) => {
  const { app } = await build(t)
  const body = JSON.stringify(sampleEvent())
  const headers = signedHeaders(body, { timestamp: Math.floor(Date.now() / 1000) - 25 * 3600 })
  const response = await post(app, body, headers)
  t.equal(response.statusCode, 401)
  t.same(response.json(), { error: 'invalid_signature', reason: 'stale_timestamp' })
})

t.test('401 before the body is read: absent or malformed signature headers, whatever the body', async (t) => {
  const { app, registry } = await build(t)
  // Over the 64 KB limit: had the body been read first, the answer would be 413.
  const body = JSON.stringify(sampleEvent({ data: { padding: 'x'.repeat(70 * 1024) } }))
  const signed = signedHeaders(body)
  const cases: [string, Record<string, string>, string][] = [
    ['no signature headers', { 'content-type': 'application/json' }, 'missing_signature'],
    ['no timestamp', { 'x-cio-signature': signed['x-cio-signature'] as string }, 'missing_signature'],
    ['uppercase signature', { ...signed, 'x-cio-signature': (signed['x-cio-signature'] as string).toUpperCase() }, 'bad_signature'],
    ['short signature', { ...signed, 'x-cio-signature': (signed['x-cio-signature'] as string).slice(2) }, 'bad_signature'],
    ['timestamp not a number', { ...signed, 'x-cio-timestamp': 'yesterday' }, 'bad_signature']
  ]
  for (const [name, headers, reason] of cases) {
    const response = await post(app, body, headers)
    t.same([response.statusCode, response.json()], [401, { error: 'invalid_signature', reason }], name)
    t.equal(response.headers.connection, 'close', `${name}: the connection closes instead of draining the unread body`)
  }
  t.equal(await sampleValue(registry, 'cio_gateway_events_rejected_total', { source: 'customerio', reason: 'missing_signature' }), 2)
  t.equal(await sampleValue(registry, 'cio_gateway_events_rejected_total', { source: 'customerio', reason: 'bad_signature' }), 3)
  t.equal(await sampleValue(registry, 'cio_gateway_events_rejected_total', { source: 'customerio', reason: 'body_too_large' }), 0)
  const wellFormed = await post(app, body, signedHeaders(body, { secret: 'not-the-secret' }))
  t.equal(wellFormed.statusCode, 413, 'well-formed headers: the body is read, and it is too large')
})

t.test('401 on a real socket while the body has not even been sent', async (t) => {
  const { app } = await build(t)
  const { port } = await openListener(app, 'webhooks', '127.0.0.1', 0)
  // Announces 60,000 bytes and sends none: a gateway that waited for the body would answer nothing
  // until its request timeout (408 after 10 s).
  const answer = await rawExchange(port, 'POST /webhooks/customerio HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n')
  t.match(answer, /^HTTP\/1\.1 401 Unauthorized\r\n/)
  t.match(answer, /\r\nconnection: close\r\n/i)
  t.ok(answer.endsWith('{"error":"invalid_signature","reason":"missing_signature"}'), 'the JSON body, then the gateway closed the connection')
})

t.test('404 unknown source', async (t) => {
  const { app } = await build(t)
  const body = JSON.stringify(sampleEvent())
  const response = await post(app, body, signedHeaders(body), 'nope')
  t.equal(response.statusCode, 404)
  t.same(response.json(), { error: 'unknown_source', message: "source 'nope' is not configured" })
})

t.test('413 body over server.body_limit', async (t) => {
  const { app, registry } = await build(t)
  const body = JSON.stringify(sampleEvent({ data: { padding: 'x'.repeat(70 * 1024) } }))
  const response = await post(app, body, signedHeaders(body))
  t.equal(response.statusCode, 413)
  t.same(response.json(), { error: 'body_too_large', message: `body is over the ${64 * 1024} byte limit` })
  t.equal(await sampleValue(registry, 'cio_gateway_events_rejected_total', { source: 'customerio', reason: 'body_too_large' }), 1)
})

t.test('503 with Retry-After when Redis is unreachable, answered well inside 4 s', async (t) => {
  const { app, registry } = await build(t, {
    // Nothing listens on port 1: every connection attempt is refused. The ingest role alone: what is
    // tested is the answer, and BullMQ workers that never connected reject promises of their own at close.
    role: 'ingest',
    yaml: defaultYaml({ redis: true }).replace('redis_url: "{{redis}}"', 'redis_url: "redis://127.0.0.1:1"')
  })
  const body = JSON.stringify(sampleEvent())
  const started = Date.now()
  const response = await post(app, body, signedHeaders(body))
  const elapsed = Date.now() - started
  t.equal(response.statusCode, 503)
  t.equal(response.headers['retry-after'], '5')
  t.same(response.json(), { error: 'store_unavailable', reason: 'redis_unavailable' })
  t.ok(elapsed < 2500, `answered in ${elapsed} ms`)
  t.equal(await sampleValue(registry, 'cio_gateway_ingest_unavailable_total', { source: 'customerio', reason: 'redis_unavailable' }), 1)
})

t.test('503 with Retry-After above the high-water mark', async (t) => {
  let backend: EmbeddedBackend | undefined
  const { app } = await build(t, {
    yaml: defaultYaml({ redis: false }).replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}"\n  high_water_mark: 3'),
    role: 'ingest',
    backend: (config) => (backend = new EmbeddedBackend({ dedupeWindowMs: config.dedupe.windowMs }))
  })
  const answers: number[] = []
  for (let i = 0; i < 5; i++) {
    const body = JSON.stringify(sampleEvent())
    const response = await post(app, body, signedHeaders(body))
    answers.push(response.statusCode)
    if (response.statusCode === 503) {
      t.equal(response.headers['retry-after'], '5')
      t.same(response.json(), { error: 'store_unavailable', reason: 'high_water_mark' })
    }
  }
  t.same(answers, [200, 200, 200, 503, 503], 'no worker runs in the ingest role, so the backlog only grows')
  t.equal(backend?.pendingJobs(), 3)
})

t.test('401s and 503s are warnings, one line per source and reason per interval, with how many it stands for', async (t) => {
  const logs: Record<string, unknown>[] = []
  const { app } = await build(t, {
    yaml: defaultYaml({ redis: false }).replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}"\n  high_water_mark: 1'),
    role: 'ingest',
    logs: { write: (line) => { logs.push(JSON.parse(line) as Record<string, unknown>) } }
  })
  const send = async (headers: (body: string) => Record<string, string>): Promise<number> => {
    const body = JSON.stringify(sampleEvent())
    return (await post(app, body, headers(body))).statusCode
  }
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) statuses.push(await send((body) => signedHeaders(body, { secret: 'not-the-secret' })))
  for (let i = 0; i < 5; i++) statuses.push(await send(() => ({ 'content-type': 'application/json' })))
  for (let i = 0; i < 5; i++) statuses.push(await send((body) => signedHeaders(body)))
  t.same(statuses, [...Array(25).fill(401), 200, 503, 503, 503, 503], 'no worker in the ingest role: above the mark after one event')

  const refusals = (): Record<string, unknown>[] => logs.filter((line) => /^(webhook request refused|event not stored)/.test(String(line.msg)))
    .map(({ level, msg, source, reason, count }) => ({ level, msg, source, reason, count }))
  const line401 = (reason: string, count: number): Record<string, unknown> => ({ level: 40, msg: 'webhook request refused (401): signature check failed', source: 'customerio', reason, count })
  const line503 = (count: number): Record<string, unknown> => ({ level: 40, msg: 'event not stored: answered 503 with Retry-After', source: 'customerio', reason: 'high_water_mark', count })
  t.same(refusals(), [line401('bad_signature', 1), line401('missing_signature', 1), line503(1)], 'the first of each, at once')
  t.equal(logs.filter((line) => Number(line.level) >= 50).length, 0, 'nothing at error level')

  await app.close()
  t.same(refusals().slice(3), [line401('bad_signature', 19), line401('missing_signature', 4), line503(3)], 'the rest counted, written when the interval ends (here: at shutdown)')
})

t.test('any content type is accepted on the webhook path', async (t) => {
  const { app } = await build(t)
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
    const body = JSON.stringify(sampleEvent())
    const response = await post(app, body, { ...signedHeaders(body), 'content-type': type })
    t.same([response.statusCode, response.json()], [200, { status: 'accepted' }], type)
  }
})

t.test('a malformed Content-Type does not stop a signed event', async (t) => {
  const { app } = await build(t)
  for (const type of [';;;', 'application/json; charset', '/']) {
    const body = JSON.stringify(sampleEvent())
    const response = await post(app, body, { ...signedHeaders(body), 'content-type': type })
    t.same([response.statusCode, response.json()], [200, { status: 'accepted' }], type)
  }
})
