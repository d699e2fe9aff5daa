/**
 * Concurrent webhook requests share Redis writes (plugins/queue/merged-enqueue.ts); through the whole
 * app each still gets its own answer, and a failed shared write fails every request in it.
 */
import t from 'tap'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { build, defaultYaml, eventually, readLines, tempDir } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { PrivateRedis } from '../helpers/private-redis.js'
import { REDIS_URL, waitingEventIds } from '../helpers/redis.js'

const TWO_SINKS = defaultYaml({
  redis: true,
  extraSinks: '  archive:\n    type: file\n    path: "{{dir}}/archive"\n    batch: { max_wait: 20ms }',
  routes: '  - { name: everything, match: {}, sinks: [local, archive] }'
})

interface Answer { status: number, body: unknown, retryAfter: unknown }

async function postAll (app: Awaited<ReturnType<typeof build>>['app'], bodies: readonly string[]): Promise<Answer[]> {
  return await Promise.all(bodies.map(async (body) => {
    const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
    return { status: response.statusCode, body: response.json(), retryAfter: response.headers['retry-after'] }
  }))
}

t.test('30 events and a copy of each, all at once: each event accepted once, each copy a duplicate, stored once per sink', async (t) => {
  const { app, dir, prefix } = await build(t, { yaml: TWO_SINKS, role: 'ingest' })
  const events = Array.from({ length: 30 }, () => JSON.stringify(sampleEvent()))
  // Copies interleaved with the originals, so that both land in the same transactions.
  const bodies = events.flatMap((body) => [body, body])
  const answers = await postAll(app, bodies)
  t.ok(answers.every((answer) => answer.status === 200))
  for (let n = 0; n < events.length; n++) {
    t.same([answers[2 * n]?.body, answers[2 * n + 1]?.body], [{ status: 'accepted' }, { status: 'duplicate' }], `event ${n}`)
  }
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const ids = events.map((body) => (JSON.parse(body) as { event_id: string }).event_id).sort()
  t.same((await waitingEventIds(redis, prefix, 'local')).sort(), ids, 'sink local: each event once')
  t.same((await waitingEventIds(redis, prefix, 'archive')).sort(), ids, 'sink archive: each event once')
  t.same(readLines(join(dir, 'events')), [], 'role ingest delivers nothing')
})

t.test('Redis away: every request of a shared write is answered 503, and none leaves a dedupe mark', async (t) => {
  // Its data survives the stop, so a dedupe mark written before it would still be there after.
  const redis = await PrivateRedis.start({ aofDir: tempDir(t, 'redis-aof') })
  t.teardown(async () => await redis.stop())
  // Role ingest: jobs stay in the queues to be counted (workers would also need 15 s to resume after an outage).
  const { app, prefix } = await build(t, { yaml: TWO_SINKS.replace('{{redis}}', redis.url), role: 'ingest' })
  const warmup = JSON.stringify(sampleEvent())
  t.same((await postAll(app, [warmup]))[0]?.body, { status: 'accepted' }, 'connected')

  await redis.stop()
  const events = Array.from({ length: 20 }, () => JSON.stringify(sampleEvent()))
  const down = await postAll(app, events)
  t.same(down, events.map(() => ({ status: 503, body: { error: 'store_unavailable', reason: 'redis_unavailable' }, retryAfter: '5' })))

  await redis.start()
  await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200 ? true : undefined, 15_000, 'the gateway to reconnect')
  t.same((await postAll(app, [warmup]))[0]?.body, { status: 'duplicate' }, 'what was stored before the outage is still there')
  const after = await postAll(app, events)
  t.same(after.map((answer) => answer.body), events.map(() => ({ status: 'accepted' })), 'the retries are accepted, not duplicates')
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const ids = [warmup, ...events].map((body) => (JSON.parse(body) as { event_id: string }).event_id).sort()
  t.same((await waitingEventIds(client, prefix, 'local')).sort(), ids, 'sink local: each event once, the first one included')
  t.same((await waitingEventIds(client, prefix, 'archive')).sort(), ids, 'sink archive: each event once, the first one included')
})
