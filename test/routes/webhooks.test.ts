/** Every answer of POST /webhooks/:source (SPEC §3), each from its own test, with the exact body. */
import t from 'tap'
import { build, defaultYaml, sampleValue } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { EmbeddedBackend } from '../../plugins/queue/embedded-backend.js'

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
