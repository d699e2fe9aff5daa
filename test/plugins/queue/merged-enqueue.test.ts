/**
 * The merged ingest write: requests of one event-loop turn share one call of the batch script, and
 * each still gets the answer (and the atomicity) of a write of its own. The jobs it writes are
 * compared with BullMQ's own and processed by BullMQ workers.
 */
import t from 'tap'
import { Job, Queue, Worker, type JobsOptions } from 'bullmq'
import { Redis } from 'ioredis'
import { MergedEnqueue } from '../../../plugins/queue/merged-enqueue.js'
import { Keyspace } from '../../../plugins/queue/keyspace.js'
import type { EnqueueRequest, SinkQueueSettings } from '../../../plugins/queue/backend.js'
import { eventsOf, type JobData, type JobPayload } from '../../../src/sinks/job.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../../helpers/redis.js'

const RETRY = { attempts: 3, initialDelayMs: 100, maxDelayMs: 1000 }
const WINDOW_MS = 60_000
const SCRIPT_COMMAND = 'cioIngestBatch'
const jobOptions = (sink: SinkQueueSettings): JobsOptions => ({
  attempts: sink.retry.attempts, backoff: { type: 'cio-gateway' }, removeOnComplete: { count: 1000, age: 3600 }, removeOnFail: false
})

interface Setup {
  writes: MergedEnqueue
  redis: Redis
  prefix: string
  queue: (name: string) => Queue
  /** Batch script calls made so far. */
  batches: () => number
  sink: (name: string) => SinkQueueSettings
  /** Makes the next batch calls fail before they reach Redis (undefined: works again). */
  failBatches: (error: Error | undefined) => void
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
  let batches = 0
  let failure: Error | undefined
  // Counts the script calls, and can fail them before anything is sent.
  const observed = new Proxy(redis, {
    get: (target, property, receiver) => {
      const value: unknown = Reflect.get(target, property, receiver)
      if (property !== SCRIPT_COMMAND || typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        batches++
        if (failure !== undefined) throw failure
        return await (value as (...args: unknown[]) => Promise<unknown>).apply(target, args)
      }
    }
  })
  const writes = new MergedEnqueue({
    client: async () => observed,
    keyspace: new Keyspace(prefix, 1, false),
    queue: (name) => queue(name),
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
    batches: () => batches,
    sink: (name) => {
      const settings = sinks.get(name) ?? { name, retry: RETRY }
      sinks.set(name, settings)
      return settings
    },
    failBatches: (error) => { failure = error }
  }
}

function request (s: Setup, eventId: string, sinks: string[]): EnqueueRequest {
  const body = JSON.stringify({ event_id: eventId, object_type: 'email', metric: 'sent', data: { note: 'a "quoted" body\nwith a newline' } })
  return { source: 'customerio', dedupeKey: eventId, payload: { s: 'customerio', r: 1_726_000_000_123, b: body, e: eventId }, sinks: sinks.map(s.sink) }
}

t.test('concurrent requests share one batch and each gets its own answer', async (t) => {
  const s = await setup(t)
  const ids = Array.from({ length: 20 }, (_, n) => `evt-${n}`)
  // Each event twice, interleaved: the first copy is accepted, the second is a duplicate.
  const requests = [...ids, ...ids].map((id) => request(s, id, ['a', 'b']))
  const answers = await Promise.all(requests.map(async (one) => await s.writes.enqueue(one)))
  t.equal(s.batches(), 1, 'one script call for the 40 requests')
  t.same(answers, [...ids.map(() => 'accepted'), ...ids.map(() => 'duplicate')])
  t.same(await waitingEvents(s, 'a'), ids, 'sink a: every event once, in order')
  t.same(await waitingEvents(s, 'b'), ids, 'sink b: every event once, in order')
  t.equal(await s.queue('a').getWaitingCount(), 1, 'the events of one write share one job per sink')
  t.same(await Promise.all(ids.map(async (id) => await s.writes.enqueue(request(s, id, ['a', 'b'])))), ids.map(() => 'duplicate'), 'later copies are duplicates too')
  t.equal(s.batches(), 2)
  t.equal((await s.redis.keys(`${s.prefix}:_dedupe:*`)).length, 20, 'one dedupe mark per event, not per sink')
})

t.test('events of one batch go to the sinks their own routes chose', async (t) => {
  const s = await setup(t)
  const answers = await Promise.all([
    s.writes.enqueue(request(s, 'only-a', ['a'])),
    s.writes.enqueue(request(s, 'only-b', ['b'])),
    s.writes.enqueue(request(s, 'both', ['b', 'a']))
  ])
  t.same(answers, ['accepted', 'accepted', 'accepted'])
  t.equal(s.batches(), 1)
  t.same(await waitingEvents(s, 'a'), ['only-a', 'both'])
  t.same(await waitingEvents(s, 'b'), ['only-b', 'both'])
})

t.test('more requests than one batch takes are split over several, all answered', async (t) => {
  const s = await setup(t)
  const answers = await Promise.all(Array.from({ length: 600 }, async (_, n) => await s.writes.enqueue(request(s, `many-${n}`, ['a']))))
  t.equal(s.batches(), 3, '600 requests: 256 + 256 + 88')
  t.ok(answers.every((answer) => answer === 'accepted'))
  t.equal((await waitingEvents(s, 'a')).length, 600)
  t.equal(await s.queue('a').getWaitingCount(), 4 + 4 + 2, 'jobs of at most 64 events: 64+64+64+64, twice, then 64+24')
})

t.test('a queue\'s events of one batch are cut into jobs of at most 64, in arrival order', async (t) => {
  const s = await setup(t)
  const ids = Array.from({ length: 130 }, (_, n) => `cut-${n}`)
  await Promise.all(ids.map(async (id) => await s.writes.enqueue(request(s, id, ['a']))))
  t.equal(s.batches(), 1)
  const jobs = await s.queue('a').getWaiting()
  t.same(jobs.map((job) => eventsOf(job.data as JobData).length), [64, 64, 2])
  t.same(jobs.flatMap((job) => eventsOf(job.data as JobData).map((event) => event.e)), ids)
  t.same(jobs.map((job) => job.timestamp), jobs.map((job) => eventsOf(job.data as JobData)[0]?.r), 'a job is stamped with its first event\'s receipt')
  t.equal(s.writes.eventsPerJob('a').toFixed(1), (130 / 3).toFixed(1), 'events per job, for the backlog in events')
  t.equal(s.writes.eventsPerJob('b'), 1, 'a queue not written yet counts one event per job')
})

t.test('a request routed to a queue whose keys are broken fails alone, and nothing of it is written', async (t) => {
  const s = await setup(t)
  // A queue whose meta key has the wrong type: BullMQ could not use it either.
  await s.redis.set(`${s.prefix}:broken:meta`, 'not a hash')
  const results = await Promise.allSettled([
    s.writes.enqueue(request(s, 'ok-1', ['a'])),
    s.writes.enqueue(request(s, 'bad', ['a', 'broken'])),
    s.writes.enqueue(request(s, 'ok-2', ['b']))
  ])
  t.equal(s.batches(), 1)
  t.same(results.map((result) => result.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.match((results[1] as PromiseRejectedResult).reason, { message: /WRONGTYPE.*broken/ })
  t.same([(results[0] as PromiseFulfilledResult<string>).value, (results[2] as PromiseFulfilledResult<string>).value], ['accepted', 'accepted'])
  t.equal(await s.redis.exists(`${s.prefix}:_dedupe:customerio:bad`), 0, 'no dedupe mark for the failed event')
  t.same(await waitingEvents(s, 'a'), ['ok-1'], 'no job of the failed event in its healthy sink')
  await s.redis.del(`${s.prefix}:broken:meta`)
  t.equal(await s.writes.enqueue(request(s, 'bad', ['a', 'broken'])), 'accepted', 'its retry is accepted once the queue is healthy')
})

t.test('a batch that fails rejects every request in it and leaves no dedupe mark', async (t) => {
  const s = await setup(t)
  s.failBatches(new Error('Connection is closed.'))
  const ids = Array.from({ length: 10 }, (_, n) => `lost-${n}`)
  const results = await Promise.allSettled(ids.map(async (id) => await s.writes.enqueue(request(s, id, ['a', 'b']))))
  t.equal(s.batches(), 1)
  t.ok(results.every((result) => result.status === 'rejected' && (result.reason as Error).message === 'Connection is closed.'), 'every request rejected')
  t.same(await s.redis.keys(`${s.prefix}:_dedupe:*`), [], 'no dedupe mark')
  s.failBatches(undefined)
  t.same(await Promise.all(ids.map(async (id) => await s.writes.enqueue(request(s, id, ['a', 'b'])))), ids.map(() => 'accepted'),
    'the retries are accepted')
})

t.test('a job is stored as BullMQ\'s own Job.addJob stores it', async (t) => {
  const s = await setup(t)
  const ours = request(s, 'same-shape', ['a'])
  t.equal(await s.writes.enqueue(ours), 'accepted')
  const [ourId] = await s.redis.lrange(`${s.prefix}:a:wait`, 0, -1)
  const client = await s.queue('a').client
  const theirs = new Job(s.queue('a'), 'event', { m: [{ ...ours.payload, e: 'reference' }] }, jobOptions(s.sink('a')), 'reference-job')
  theirs.timestamp = ours.payload.r
  await theirs.addJob(client)
  const mine = await s.redis.hgetall(`${s.prefix}:a:${String(ourId)}`)
  const reference = await s.redis.hgetall(`${s.prefix}:a:reference-job`)
  t.same(Object.keys(mine).sort(), Object.keys(reference).sort(), 'the same hash fields')
  t.equal(mine.data, JSON.stringify({ m: [ours.payload] }), 'data is the group of events, each the payload\'s JSON')
  t.same(JSON.parse(String(mine.opts)), JSON.parse(String(reference.opts)), 'the same options')
  for (const field of ['name', 'timestamp', 'delay', 'priority']) t.equal(mine[field], reference[field], field)
  t.same(await s.redis.lrange(`${s.prefix}:a:wait`, 0, -1), ['reference-job', ourId], 'both in the wait list, oldest last (FIFO)')
  t.same(await s.redis.zrange(`${s.prefix}:a:marker`, 0, -1, 'WITHSCORES'), ['0', '0'], 'the marker that wakes workers')
  t.equal(await s.redis.get(`${s.prefix}:_dedupe:customerio:same-shape`), ourId, 'the dedupe mark names the job')
  const ttl = await s.redis.pttl(`${s.prefix}:_dedupe:customerio:same-shape`)
  t.ok(ttl > WINDOW_MS - 5000 && ttl <= WINDOW_MS, `the dedupe mark lives for the window (${ttl} ms left)`)
  const job = await s.queue('a').getJob(String(ourId))
  t.same(job?.data, { m: [ours.payload] }, 'BullMQ reads it back')
  t.equal(job?.opts.attempts, RETRY.attempts)
  t.equal(await s.queue('a').getWaitingCount(), 2, 'BullMQ counts both as waiting')
})

t.test('BullMQ workers take the jobs: a waiting worker is woken, and a paused queue keeps them until resumed', async (t) => {
  const s = await setup(t)
  const seen: string[] = []
  const worker = new Worker('a', async (job) => { seen.push(...eventsOf(job.data as JobData).map((event) => event.e)) }, {
    connection: { url: REDIS_URL, maxRetriesPerRequest: null } as never, prefix: s.prefix
  })
  t.teardown(async () => await worker.close())
  await worker.waitUntilReady()
  // Let the worker block on the marker first, so only the marker can wake it.
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(await s.writes.enqueue(request(s, 'wake-1', ['a'])), 'accepted')
  await until(() => seen.includes('wake-1'))
  t.same(seen, ['wake-1'], 'processed once')
  await until(async () => (await s.queue('a').getCompletedCount()) === 1)

  await s.queue('a').pause()
  t.equal(await s.writes.enqueue(request(s, 'while-paused', ['a'])), 'accepted')
  t.equal(await s.redis.llen(`${s.prefix}:a:paused`) + await s.redis.llen(`${s.prefix}:a:wait`), 1, 'stored')
  t.match(await s.queue('a').getJobCounts('paused'), { paused: 1 }, 'BullMQ counts it as paused')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(seen, ['wake-1'], 'not taken while paused')
  await s.queue('a').resume()
  await until(() => seen.includes('while-paused'))
  t.same(seen, ['wake-1', 'while-paused'])
})

t.test('a reload that changes a sink\'s retry settings changes the options of its next jobs', async (t) => {
  const s = await setup(t)
  t.equal(await s.writes.enqueue(request(s, 'before', ['a'])), 'accepted')
  const reloaded = { ...request(s, 'after', ['a']), sinks: [{ name: 'a', retry: { ...RETRY, attempts: 7 } }] }
  t.equal(await s.writes.enqueue(reloaded), 'accepted')
  const attempts = Object.fromEntries((await s.queue('a').getWaiting()).map((job) => [eventsOf(job.data as JobData)[0]?.e, job.opts.attempts]))
  t.same(attempts, { before: RETRY.attempts, after: 7 })
})

/** The events waiting in a queue, oldest first. */
async function waitingEvents (s: Setup, name: string): Promise<string[]> {
  const jobs = await s.queue(name).getWaiting()
  return jobs.flatMap((job) => eventsOf(job.data as JobData).map((event: JobPayload) => event.e))
}

async function until (check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
