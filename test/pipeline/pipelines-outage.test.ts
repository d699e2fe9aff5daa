/**
 * Redis goes down in the middle of a Data Pipelines batch: part of the batch is stored, the rest is
 * not, and the request is answered 503 with Retry-After. The destination's retry of the same bytes
 * stores the rest and finds the stored part duplicate: 0 lost, 0 stored twice.
 *
 * The Redis, its outage and the writes are real. To make "the middle" exact, the backend is the
 * real Redis backend behind a gate that lets the first half of the batch's writes through at once
 * and holds the second half until the test has stopped Redis; it changes when a write starts,
 * never what it does.
 */
import t from 'tap'
import { join } from 'node:path'
import { build, defaultYaml, eventually, readLines, tempDir } from '../helpers/app.js'
import { PIPELINES_SECRET, pipelinesHeaders, samplePipelinesEvent } from '../helpers/sign.js'
import { PrivateRedis } from '../helpers/private-redis.js'
import { redisBackend } from '../helpers/redis.js'
import type { EnqueueRequest, IngestOutcome, QueueBackend } from '../../plugins/queue/backend.js'
import type { GatewayConfig } from '../../src/config/types.js'

const BATCH_SIZE = 1000
const FIRST = 500

const silent = { info () {}, warn () {}, error () {}, debug () {}, fatal () {}, trace () {}, child () { return silent }, level: 'silent' } as never

/** The real backend, whose first `open` writes go through and the next ones wait for `release()`. */
function gated (backend: QueueBackend, open: number): { backend: QueueBackend, firstStored: Promise<void>, release: () => void } {
  let started = 0
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const first: Promise<IngestOutcome>[] = []
  let firstDone: () => void = () => {}
  const firstStored = new Promise<void>((resolve) => { firstDone = resolve })
  const enqueue = (request: EnqueueRequest): Promise<IngestOutcome> => {
    const n = started++
    if (n >= open) return gate.then(async () => await backend.enqueue(request))
    const write = backend.enqueue(request)
    first.push(write)
    if (first.length === open) void Promise.allSettled(first).then(() => firstDone())
    return write
  }
  const proxy = new Proxy(backend, {
    get (target, property, receiver) {
      if (property === 'enqueue') return enqueue
      const value = Reflect.get(target, property, receiver) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
  return { backend: proxy, firstStored, release }
}

t.test('Redis down mid-batch: 503, then the retry stores the rest and answers the counts; 0 lost, 0 stored twice', async (t) => {
  // Its data survives the kill (AOF, fsync always): what was acked before the outage is still there after.
  const redis = await PrivateRedis.start({ aofDir: tempDir(t, 'redis-aof') })
  t.teardown(async () => await redis.stop())
  const yaml = defaultYaml({
    redis: true,
    extraSources: `  pipelines: { type: customerio_pipelines, secrets: ["${PIPELINES_SECRET}"] }`,
    extraSinks: '  archive:\n    type: file\n    path: "{{dir}}/archive"\n    batch: { max_events: 500, max_wait: 20ms }',
    routes: '  - { name: everything, match: {}, sinks: [local, archive] }'
  }).replace('body_limit: 64kb', 'body_limit: 2mb').replace('max_events: 50,', 'max_events: 500,').replace('{{redis}}', redis.url)
  let gate: ReturnType<typeof gated> | undefined
  const backend = (config: GatewayConfig): QueueBackend => {
    gate = gated(redisBackend({ prefix: config.queue.prefix, url: redis.url, dedupeWindowMs: config.dedupe.windowMs, queues: [...config.sinks.keys()], logger: silent }), FIRST)
    return gate.backend
  }
  // Role ingest: nothing takes jobs while Redis is killed, so no delivery is cut short and redone.
  const ingest = await build(t, { yaml, role: 'ingest', backend })
  const events = Array.from({ length: BATCH_SIZE }, () => samplePipelinesEvent())
  const body = JSON.stringify(events)
  const post = async (): Promise<{ status: number, json: unknown, retryAfter: unknown }> => {
    const response = await ingest.app.inject({ method: 'POST', url: '/webhooks/pipelines', headers: pipelinesHeaders(body), payload: body })
    return { status: response.statusCode, json: response.json(), retryAfter: response.headers['retry-after'] }
  }

  const answer = post()
  const { firstStored, release } = gate as ReturnType<typeof gated>
  await firstStored
  await redis.stop()
  release()
  t.same(await answer, { status: 503, json: { error: 'store_unavailable', reason: 'redis_unavailable' }, retryAfter: '5' }, 'half stored, half not: 503')

  await redis.start()
  const retried = await eventually(async () => {
    const again = await post()
    return again.status === 200 ? again : undefined
  }, 20_000, 'the gateway to reconnect')
  t.same(retried.json, { accepted: BATCH_SIZE - FIRST, duplicate: FIRST, unrouted: 0, quarantined: 0 }, 'the retry stores the rest; the stored half is duplicate')

  // A worker on the same queues delivers what ingest stored.
  const worker = await build(t, { yaml: yaml.replaceAll('{{prefix}}', ingest.prefix).replaceAll('{{dir}}', ingest.dir), role: 'worker' })
  t.ok(worker.app, 'worker started')
  const ids = events.map((event) => String(event.messageId)).sort()
  for (const sink of ['events', 'archive']) {
    await eventually(() => readLines(join(ingest.dir, sink)).length >= BATCH_SIZE ? true : undefined, 30_000, `${sink}: the whole batch`)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const stored = readLines(join(ingest.dir, sink)).map((line) => String(line.messageId)).sort()
    t.same(stored, ids, `${sink}: ${BATCH_SIZE} events, each once: 0 lost, 0 stored twice`)
  }
})
