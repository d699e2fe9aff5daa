/** /healthz, /readyz, /metrics and the roles, on the listeners that serve them (SPEC §3, §9). */
import t from 'tap'
import { build, defaultYaml, eventually, readLines } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { join } from 'node:path'

t.test('/healthz answers 200 while the process lives, on both listeners', async (t) => {
  const { app, management } = await build(t)
  for (const listener of [app, management]) {
    const response = await listener.inject({ method: 'GET', url: '/healthz' })
    t.same([response.statusCode, response.json()], [200, { status: 'ok' }])
  }
})

t.test('/readyz names the queue mode, on both listeners; the embedded one carries a warning', async (t) => {
  const redis = await build(t)
  for (const listener of [redis.app, redis.management]) {
    const ready = await listener.inject({ method: 'GET', url: '/readyz' })
    t.same([ready.statusCode, ready.json()], [200, { status: 'ready', role: 'all', queue: 'redis', checks: { config: 'ok', queue: 'ok' }, warnings: [] }])
  }
  const embedded = await build(t, { yaml: defaultYaml({ redis: false }) })
  const warned = await embedded.app.inject({ method: 'GET', url: '/readyz' })
  t.same(warned.json(), { status: 'ready', role: 'all', queue: 'embedded', checks: { config: 'ok', queue: 'ok' }, warnings: ['embedded queue: events and dedupe marks are kept in memory only; undelivered events are lost if the process stops, and an event resent after a restart is accepted again'] })
})

t.test('/metrics on the management listener is Prometheus text with the gateway metrics and the process metrics', async (t) => {
  const { app, management } = await build(t)
  const body = JSON.stringify(sampleEvent({ object_type: 'email', metric: 'opened' }))
  await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  const unknown = JSON.stringify(sampleEvent({ object_type: 'hologram', metric: 'beamed' }))
  await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(unknown), payload: unknown })
  const response = await management.inject({ method: 'GET', url: '/metrics' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(response.body, 'cio_gateway_events_received_total{source="customerio",object_type="email",metric="opened"} 1')
  t.match(response.body, 'cio_gateway_events_received_total{source="customerio",object_type="other",metric="other"} 1', 'unknown values folded to other')
  t.match(response.body, /cio_gateway_ingest_duration_seconds_bucket\{le="4",source="customerio"\} 2/)
  t.match(response.body, /^cio_gateway_process_cpu_seconds_total /m)
})

t.test('role ingest stores but does not deliver; role worker delivers and serves only the management listener', async (t) => {
  const ingest = await build(t, { role: 'ingest' })
  const event = sampleEvent()
  const body = JSON.stringify(event)
  const answer = await ingest.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  t.same(answer.json(), { status: 'accepted' })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(readLines(join(ingest.dir, 'events')), [], 'nothing delivered by the ingest role')
  t.equal((await ingest.app.queueBackend.counts('local')).waiting, 1)

  // A worker on the same Redis prefix and file path picks the job up.
  const yaml = defaultYaml({ redis: true }).replaceAll('{{prefix}}', ingest.prefix).replaceAll('{{dir}}', ingest.dir)
  const worker = await build(t, { role: 'worker', yaml })
  const lines = await eventually(() => { const found = readLines(join(ingest.dir, 'events')); return found.length > 0 ? found : undefined })
  t.equal(lines[0]?.event_id, event.event_id)
  // A worker opens no webhook listener (src/server.ts); the app behind it routes nothing either.
  for (const url of ['/webhooks/customerio', '/healthz', '/readyz']) {
    const refused = await worker.app.inject({ method: url.startsWith('/webhooks') ? 'POST' : 'GET', url, headers: signedHeaders(body), payload: body })
    t.same([refused.statusCode, refused.json()], [404, { error: 'not_found' }], url)
  }
  for (const url of ['/healthz', '/readyz', '/metrics']) t.equal((await worker.management.inject({ method: 'GET', url })).statusCode, 200, `management ${url}`)
  t.equal((await worker.management.inject({ method: 'GET', url: '/readyz' })).json().role, 'worker')
})
