/** Redis goes away and comes back: 503 with Retry-After fast, then the same event is accepted. */
import t from 'tap'
import { join } from 'node:path'
import { build, defaultYaml, eventually, readLines } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { PrivateRedis } from '../helpers/private-redis.js'

t.test('Redis unreachable: 503 inside 4 s; once it is back the same event is accepted (no stale dedupe mark)', async (t) => {
  const redis = await PrivateRedis.start()
  t.teardown(async () => await redis.stop())
  const { app, dir } = await build(t, { yaml: defaultYaml({ redis: true }).replace('{{redis}}', redis.url) })
  const post = async (body: string): Promise<{ status: number, body: unknown, ms: number, retryAfter: unknown }> => {
    const started = Date.now()
    const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
    return { status: response.statusCode, body: response.json(), ms: Date.now() - started, retryAfter: response.headers['retry-after'] }
  }

  const before = JSON.stringify(sampleEvent())
  t.same((await post(before)).body, { status: 'accepted' }, 'works while Redis is up')
  // This private Redis keeps nothing on disk: let the first event reach the sink before killing it.
  await eventually(() => readLines(join(dir, 'events')).length === 1 ? true : undefined, 10_000, 'the first delivery')

  await redis.stop()
  const event = JSON.stringify(sampleEvent())
  const down = await post(event)
  t.equal(down.status, 503)
  t.equal(down.retryAfter, '5')
  t.same(down.body, { error: 'store_unavailable', reason: 'redis_unavailable' })
  t.ok(down.ms < 2500, `answered in ${down.ms} ms`)
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'not_ready', failing: 'queue' })

  await redis.start()
  const after = await eventually(async () => {
    const answer = await post(event)
    return answer.status === 200 ? answer : undefined
  }, 15_000, 'the gateway to reconnect')
  t.same(after.body, { status: 'accepted' }, 'the event refused during the outage is accepted, not a duplicate')
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const ids = await eventually(() => {
    const lines = readLines(join(dir, 'events')).map((line) => line.event_id)
    return lines.length >= 2 ? lines : undefined
  }, 15_000, 'delivery after recovery')
  t.same(ids.sort(), [JSON.parse(before).event_id, JSON.parse(event).event_id].sort())
})
