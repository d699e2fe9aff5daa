/**
 * The merged ingest write: requests of one event-loop turn share one MULTI, and each still gets the
 * answer (and the atomicity) of a transaction of its own.
 */
import t from 'tap'
import { Job, Queue, type JobsOptions } from 'bullmq'
import { Redis } from 'ioredis'
import { MergedEnqueue } from '../../../plugins/queue/merged-enqueue.js'
import type { EnqueueRequest, SinkQueueSettings } from '../../../plugins/queue/backend.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../../helpers/redis.js'

const RETRY = { attempts: 3, initialDelayMs: 100, maxDelayMs: 1000 }
const WINDOW_MS = 60_000
const jobOptions = (sink: SinkQueueSettings): JobsOptions => ({
  attempts: sink.retry.attempts, backoff: { type: 'cio-gateway' }, removeOnComplete: { count: 1000, age: 3600 }, removeOnFail: false
})

interface Setup {
  writes: MergedEnqueue
  redis: Redis
  prefix: string
  queue: (name: string) => Queue
  /** Transactions started so far. */
  transactions: () => number
  sink: (name: string) => SinkQueueSettings
  /** Replaces the exec of the next transactions (to make them fail). */
  failExec: (error: Error | undefined) => void
}

async function setup (t: { teardown (fn: () => unknown): void }): Promise<Setup> {
  const prefix = uniquePrefix('merged')
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const queues = new Map<string, Queue>()
  const queue = (name: string): Queue => {
    let found = queues.get(name)
    if (found === undefined) {
      found = new Queue(name, { connection: redis, prefix })
      queues.set(name, found)
    }
    return found
  }
  let transactions = 0
  let execError: Error | undefined
  const writes = new MergedEnqueue({
    client: async () => {
      const client = await queue('a').client
      return new Proxy(client, {
        get: (target, property, receiver) => property !== 'multi'
          ? Reflect.get(target, property, receiver)
          : () => {
              transactions++
              const transaction = target.multi()
              // Never sent: nothing of this transaction reaches Redis.
              if (execError !== undefined) transaction.exec = async () => { throw execError }
              return transaction
            }
      })
    },
    queue,
    jobOptions,
    dedupeTtlMs: WINDOW_MS,
    timeoutMs: 1500
  })
  const sinks = new Map<string, SinkQueueSettings>()
  t.teardown(async () => {
    for (const found of queues.values()) await found.close()
    redis.disconnect()
    await deleteKeys(prefix)
  })
  return {
    writes,
    redis,
    prefix,
    queue,
    transactions: () => transactions,
    sink: (name) => {
      const settings = sinks.get(name) ?? { name, retry: RETRY }
      sinks.set(name, settings)
      return settings
    },
    failExec: (error) => { execError = error }
  }
}

function request (s: Setup, eventId: string, sinks: string[]): EnqueueRequest {
  const body = JSON.stringify({ event_id: eventId, object_type: 'email', metric: 'sent', data: { note: 'a "quoted" body\nwith a newline' } })
  return { source: 'customerio', dedupeKey: eventId, payload: { s: 'customerio', r: 1_726_000_000_123, b: body, e: eventId }, sinks: sinks.map(s.sink) }
}

t.test('concurrent requests share one transaction and each gets its own answer', async (t) => {
  const s = await setup(t)
  const ids = Array.from({ length: 20 }, (_, n) => `evt-${n}`)
  // Each event twice, interleaved: the first copy is accepted, the second is a duplicate.
  const requests = [...ids, ...ids].map((id) => request(s, id, ['a', 'b']))
  const answers = await Promise.all(requests.map(async (one) => await s.writes.enqueue(one)))
  t.equal(s.transactions(), 1, 'one MULTI for the 40 requests')
  t.same(answers, [...ids.map(() => 'accepted'), ...ids.map(() => 'duplicate')])
  t.equal(await s.queue('a').getWaitingCount(), 20, 'sink a: one job per event')
  t.equal(await s.queue('b').getWaitingCount(), 20, 'sink b: one job per event')
  t.same(await Promise.all(ids.map(async (id) => await s.writes.enqueue(request(s, id, ['a', 'b'])))), ids.map(() => 'duplicate'), 'later copies are duplicates too')
  t.equal(s.transactions(), 2)
})

t.test('more requests than one transaction takes are split over several, all answered', async (t) => {
  const s = await setup(t)
  const answers = await Promise.all(Array.from({ length: 600 }, async (_, n) => await s.writes.enqueue(request(s, `many-${n}`, ['a']))))
  t.equal(s.transactions(), 3, '600 requests: 256 + 256 + 88')
  t.ok(answers.every((answer) => answer === 'accepted'))
  t.equal(await s.queue('a').getWaitingCount(), 600)
})

t.test('a request whose add fails inside the transaction fails alone', async (t) => {
  const s = await setup(t)
  // A queue whose meta key has the wrong type makes BullMQ's add script fail for that queue only.
  await s.redis.set(`${s.prefix}:broken:meta`, 'not a hash')
  const results = await Promise.allSettled([
    s.writes.enqueue(request(s, 'ok-1', ['a'])),
    s.writes.enqueue(request(s, 'bad', ['a', 'broken'])),
    s.writes.enqueue(request(s, 'ok-2', ['b']))
  ])
  t.equal(s.transactions(), 1)
  t.same(results.map((result) => result.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.match((results[1] as PromiseRejectedResult).reason, { message: /WRONGTYPE/ })
  t.same([(results[0] as PromiseFulfilledResult<string>).value, (results[2] as PromiseFulfilledResult<string>).value], ['accepted', 'accepted'])
})

t.test('a transaction that fails rejects every request in it and leaves no dedupe mark', async (t) => {
  const s = await setup(t)
  s.failExec(new Error('Connection is closed.'))
  const ids = Array.from({ length: 10 }, (_, n) => `lost-${n}`)
  const results = await Promise.allSettled(ids.map(async (id) => await s.writes.enqueue(request(s, id, ['a', 'b']))))
  t.equal(s.transactions(), 1)
  t.ok(results.every((result) => result.status === 'rejected' && (result.reason as Error).message === 'Connection is closed.'), 'every request rejected')
  t.same(await s.redis.keys(`${s.prefix}:*:de:*`), [], 'no dedupe mark')
  s.failExec(undefined)
  t.same(await Promise.all(ids.map(async (id) => await s.writes.enqueue(request(s, id, ['a', 'b'])))), ids.map(() => 'accepted'),
    'the retries are accepted')
})

t.test('a job is stored exactly as BullMQ\'s own Job.addJob stores it', async (t) => {
  const s = await setup(t)
  const ours = request(s, 'same-shape', ['a'])
  t.equal(await s.writes.enqueue(ours), 'accepted')
  const [ourId] = await s.redis.lrange(`${s.prefix}:a:wait`, 0, -1)
  const client = await s.queue('a').client
  const theirs = new Job(s.queue('a'), 'event', { ...ours.payload, e: 'reference' }, {
    ...jobOptions(s.sink('a')), deduplication: { id: 'customerio:reference', ttl: WINDOW_MS }
  }, 'reference-job')
  theirs.timestamp = ours.payload.r
  await theirs.addJob(client)
  const mine = await s.redis.hgetall(`${s.prefix}:a:${String(ourId)}`)
  const reference = await s.redis.hgetall(`${s.prefix}:a:reference-job`)
  t.same(Object.keys(mine).sort(), Object.keys(reference).sort(), 'the same hash fields')
  t.same(JSON.parse(String(mine.data)), ours.payload, 'data is the payload')
  t.equal(mine.data, JSON.stringify(ours.payload))
  t.same({ ...JSON.parse(String(mine.opts)), de: undefined }, { ...JSON.parse(String(reference.opts)), de: undefined }, 'the same options')
  t.same(JSON.parse(String(mine.opts)).de, { id: 'customerio:same-shape', ttl: WINDOW_MS })
  for (const field of ['name', 'timestamp', 'delay', 'priority']) t.equal(mine[field], reference[field], field)
  t.equal(mine.deid, 'customerio:same-shape')
  t.equal(await s.redis.get(`${s.prefix}:a:de:customerio:same-shape`), ourId, 'the dedupe key names our job')
  const ttl = await s.redis.pttl(`${s.prefix}:a:de:customerio:same-shape`)
  t.ok(ttl > WINDOW_MS - 5000 && ttl <= WINDOW_MS, `the dedupe key lives for the window (${ttl} ms left)`)
  const job = await s.queue('a').getJob(String(ourId))
  t.same(job?.data, ours.payload, 'BullMQ reads it back')
  t.equal(job?.opts.attempts, RETRY.attempts)
})
