/**
 * Dead letters event by event (dead-letter-book.ts) on the embedded queue, on Redis, and on Redis
 * with four shards (cluster key layout on one node): listing with filters, groups and pages,
 * detail, re-queue and discard by reference and by filter, export, and the events a queue holds.
 * Dead letters are made by a real worker whose handler dead-letters chosen events, so on Redis they
 * sit in groups split off by reason, as in production.
 */
import t from 'tap'
import pino from 'pino'
import { DeadLetterNow, type JobView } from '../../../src/sinks/job.js'
import { EmbeddedBackend } from '../../../plugins/queue/embedded-backend.js'
import { Keyspace } from '../../../plugins/queue/keyspace.js'
import { RedisBackend } from '../../../plugins/queue/redis-backend.js'
import { RedisTopology } from '../../../plugins/queue/redis-topology.js'
import { RedisDeadLetterJobs } from '../../../plugins/queue/redis-dead-letters.js'
import type { QueueBackend, SinkQueueSettings } from '../../../plugins/queue/backend.js'
import type { DeadLetterRow } from '../../../plugins/queue/dead-letter-book.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../../helpers/redis.js'
import { eventually, type Teardownable } from '../../helpers/app.js'

const logger = pino({ level: 'silent' })
const SINK: SinkQueueSettings = { name: 'target', retry: { attempts: 3, initialDelayMs: 10, maxDelayMs: 20 } }
const WORKER = { concurrency: 4, retry: SINK.retry }

type Mode = 'embedded' | 'redis' | 'redis, 4 shards'
const MODES: readonly Mode[] = ['embedded', 'redis', 'redis, 4 shards']

interface Seed { id: string, type: string, metric: string, fate: 'ok' | string }

/** Six events, four dead-lettered for two reasons; received one second apart, in this order. */
const SEEDS: readonly Seed[] = [
  { id: 'E1', type: 'email', metric: 'bounced', fate: 'HTTP 400 from target' },
  { id: 'E2', type: 'email', metric: 'sent', fate: 'ok' },
  { id: 'E3', type: 'sms', metric: 'failed', fate: 'HTTP 400 from target' },
  { id: 'E4', type: 'push', metric: 'opened', fate: 'row rejected: schema' },
  { id: 'E5', type: 'email', metric: 'bounced', fate: 'row rejected: schema' },
  { id: 'E6', type: 'email', metric: 'sent', fate: 'ok' }
]
const RECEIVED = 1_750_000_000_000

function backendFor (t: Teardownable, mode: Mode): QueueBackend {
  if (mode === 'embedded') {
    const backend = new EmbeddedBackend({ dedupeWindowMs: 60_000 })
    t.teardown(async () => await backend.close())
    return backend
  }
  const prefix = uniquePrefix('dlbook')
  const shards = mode === 'redis' ? 1 : 4
  const backend = new RedisBackend({
    topology: new RedisTopology({ kind: 'single', url: REDIS_URL }),
    keyspace: new Keyspace(prefix, shards, shards > 1),
    dedupeWindowMs: 60_000,
    queues: [SINK.name],
    logger
  })
  t.teardown(async () => {
    await backend.close()
    await deleteKeys(prefix)
    await deleteKeys(`{${prefix}`)
    await deleteKeys(`{${prefix}}`)
  })
  return backend
}

/** Writes the events in one turn (so Redis groups them), as ingest does under load. */
async function enqueue (backend: QueueBackend, seeds: readonly Seed[]): Promise<void> {
  await Promise.all(seeds.map(async (seed, index) => await backend.enqueue({
    source: 'customerio',
    dedupeKey: seed.id,
    payload: { s: 'customerio', r: RECEIVED + index * 1000, b: JSON.stringify({ event_id: seed.id, object_type: seed.type, metric: seed.metric, fate: seed.fate, data: { email: `${seed.id}@example.com` } }), e: seed.id },
    sinks: [SINK]
  })))
}

/** A worker that delivers "ok" events, dead-letters the others with their fate as the reason, and notes what it delivered. */
function deadLettering (delivered: string[]): (job: JobView) => Promise<void> {
  return async (job) => {
    const event = JSON.parse(job.data.b) as { fate: string }
    if (event.fate !== 'ok') throw new DeadLetterNow(event.fate)
    delivered.push(job.data.e)
  }
}

async function seeded (t: Teardownable, mode: Mode): Promise<{ backend: QueueBackend, delivered: string[] }> {
  const backend = backendFor(t, mode)
  await backend.start()
  const delivered: string[] = []
  await enqueue(backend, SEEDS)
  backend.runWorker(SINK.name, WORKER, deadLettering(delivered))
  await eventually(async () => (await backend.deadLetterBook.count(SINK.name, { filter: {} })) === 4 && delivered.length === 2 ? true : undefined, 10_000, 'four dead letters')
  await backend.stopWorker(SINK.name)
  return { backend, delivered }
}

/** Starts a worker that delivers everything, noting what and on which attempt. */
function deliverAll (backend: QueueBackend, fails: (id: string, attempt: number) => boolean = () => false): Map<string, number> {
  const attempts = new Map<string, number>()
  backend.runWorker(SINK.name, WORKER, async (job) => {
    const attempt = (attempts.get(job.data.e) ?? 0) + 1
    attempts.set(job.data.e, attempt)
    if (fails(job.data.e, attempt)) throw new Error(`try ${attempt} failed`)
  })
  return attempts
}

const ids = (rows: readonly DeadLetterRow[]): string[] => rows.map((row) => row.eventId)

for (const mode of MODES) {
  t.test(`${mode}: dead letters are listed per event with their error, grouped by error, filtered and paged`, async (t) => {
    const { backend, delivered } = await seeded(t, mode)
    t.same(delivered.sort(), ['E2', 'E6'])
    const book = backend.deadLetterBook

    const all = await book.list(SINK.name, {}, 0, 100)
    t.equal(all.total, 4)
    t.equal(all.scanned, 4)
    t.equal(all.complete, true)
    t.same(ids(all.rows).sort(), ['E1', 'E3', 'E4', 'E5'])
    const e3 = all.rows.find((row) => row.eventId === 'E3') as DeadLetterRow
    t.match(e3, { eventId: 'E3', source: 'customerio', objectType: 'sms', metric: 'failed', receivedAt: RECEIVED + 2000, attempts: 1, error: 'HTTP 400 from target' })
    t.type(e3.failedAt, 'number')
    t.same(all.groups.map((group) => [group.error, group.events]), [['HTTP 400 from target', 2], ['row rejected: schema', 2]], 'one group per error')
    for (const group of all.groups) {
      const times = all.rows.filter((row) => row.error === group.error).map((row) => row.failedAt as number)
      t.same([group.firstFailedAt, group.lastFailedAt], [Math.min(...times), Math.max(...times)], 'first and last seen of the group')
    }
    const failedTimes = all.rows.map((row) => row.failedAt as number)
    t.same(failedTimes, [...failedTimes].sort((a, b) => b - a), 'newest failure first')

    t.same(ids((await book.list(SINK.name, { error: 'row rejected: schema' }, 0, 100)).rows).sort(), ['E4', 'E5'], 'by error')
    t.same(ids((await book.list(SINK.name, { objectType: 'email' }, 0, 100)).rows).sort(), ['E1', 'E5'], 'by object type')
    const bounced = await book.list(SINK.name, { metric: 'bounced', error: 'HTTP 400 from target' }, 0, 100)
    t.same(ids(bounced.rows), ['E1'], 'by metric and error')
    t.same(bounced.groups.map((group) => [group.error, group.events]), [['HTTP 400 from target', 1], ['row rejected: schema', 1]],
      'groups count what the other filters let through, whatever error is chosen')
    t.same(ids((await book.list(SINK.name, { eventId: '4' }, 0, 100)).rows), ['E4'], 'by part of the event_id')
    t.same((await book.list(SINK.name, { source: 'elsewhere' }, 0, 100)).total, 0, 'by source')
    const newest = Math.max(...failedTimes)
    t.equal((await book.list(SINK.name, { failedFrom: newest + 1 }, 0, 100)).total, 0, 'nothing failed after the newest')
    t.equal((await book.list(SINK.name, { failedTo: newest + 1 }, 0, 100)).total, 4, 'everything failed before')

    const first = await book.list(SINK.name, {}, 0, 3)
    const second = await book.list(SINK.name, {}, 3, 3)
    t.equal(first.total, 4)
    t.same([first.rows.length, second.rows.length], [3, 1], 'pages of three')
    t.same([...ids(first.rows), ...ids(second.rows)], ids(all.rows), 'pages follow one another')

    const detail = await book.get(SINK.name, e3.ref)
    t.same(detail, { ...e3, event: { event_id: 'E3', object_type: 'sms', metric: 'failed', fate: 'HTTP 400 from target', data: { email: 'E3@example.com' } } }, 'the event as received')
    t.equal(await book.get(SINK.name, `${e3.ref}x`), undefined, 'an unknown reference')
    t.equal(await book.get(SINK.name, 'no-colon'), undefined, 'a malformed reference')

    const exported: string[] = []
    for await (const letter of book.export(SINK.name, { objectType: 'email' })) exported.push(letter.eventId)
    t.same(exported.sort(), ['E1', 'E5'], 'export by filter')
  })

  t.test(`${mode}: one event re-queued by reference gets the sink's full attempt budget; the rest stay dead letters`, async (t) => {
    const { backend } = await seeded(t, mode)
    const book = backend.deadLetterBook
    const e1 = (await book.list(SINK.name, { eventId: 'E1' }, 0, 1)).rows[0] as DeadLetterRow
    t.equal(await book.count(SINK.name, { refs: [e1.ref, `${e1.ref}x`] }), 1, 'the preview counts what exists')
    t.equal(await book.retry(SINK.name, { refs: [e1.ref] }, SINK.retry.attempts), 1)
    t.equal(await book.retry(SINK.name, { refs: [e1.ref] }, SINK.retry.attempts), 0, 'once re-queued it is no dead letter any more')
    // Fails twice more: delivered only if the replay really has all three attempts.
    const attempts = deliverAll(backend, (id, attempt) => id === 'E1' && attempt < 3)
    await eventually(() => attempts.get('E1') === 3 ? true : undefined, 10_000, 'E1 delivered on its third attempt')
    await eventually(async () => (await backend.counts(SINK.name)).completed >= 1 ? true : undefined)
    t.same(ids((await book.list(SINK.name, {}, 0, 100)).rows).sort(), ['E3', 'E4', 'E5'], 'the others are still dead letters')
    t.same([...attempts.keys()], ['E1'], 'only E1 was taken')
  })

  t.test(`${mode}: re-queue and discard by filter take exactly what the preview counted`, async (t) => {
    const { backend } = await seeded(t, mode)
    const book = backend.deadLetterBook
    const schema = { filter: { error: 'row rejected: schema' } }
    t.equal(await book.count(SINK.name, schema), 2)
    t.equal(await book.retry(SINK.name, schema, SINK.retry.attempts), 2)
    // On Redis E4 and E5 are a whole group split off as dead letters: re-queued with its history cleared and the full budget.
    const attempts = deliverAll(backend, (_id, attempt) => attempt < 3)
    await eventually(() => attempts.get('E4') === 3 && attempts.get('E5') === 3 ? true : undefined, 10_000, 'both delivered on their third attempt')
    t.same([...attempts.keys()].sort(), ['E4', 'E5'])

    const sms = { filter: { objectType: 'sms' } }
    t.equal(await book.count(SINK.name, sms), 1)
    t.equal(await book.discard(SINK.name, sms), 1)
    t.same(ids((await book.list(SINK.name, {}, 0, 100)).rows), ['E1'], 'E3 is gone')
    const e1 = (await book.list(SINK.name, {}, 0, 100)).rows[0] as DeadLetterRow
    t.equal(await book.discard(SINK.name, { refs: [e1.ref] }), 1)
    t.equal(await book.discard(SINK.name, { refs: [e1.ref] }), 0, 'twice is nothing')
    t.equal((await book.list(SINK.name, {}, 0, 100)).total, 0)
    t.equal((await backend.counts(SINK.name)).failed, 0, 'no empty job left behind')
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.same([...attempts.keys()].sort(), ['E4', 'E5'], 'discarded events are never delivered')
  })

  t.test(`${mode}: Data Pipelines dead letters show and filter on the routing fields of their type (track: its event name), as routes see them`, async (t) => {
    const backend = backendFor(t, mode)
    await backend.start()
    const events = [
      { type: 'track', event: 'Email Delivered', messageId: 'P1', userId: '42' },
      { type: 'identify', messageId: 'P2', userId: '42', traits: { email: 'someone@example.com' } },
      { type: 'track', event: 'Email Bounced', messageId: 'P3', userId: '42' }
    ]
    await Promise.all(events.map(async (event, index) => await backend.enqueue({
      source: 'pipelines',
      dedupeKey: event.messageId,
      payload: { s: 'pipelines', r: RECEIVED + index * 1000, b: JSON.stringify(event), e: event.messageId, t: 'customerio_pipelines' },
      sinks: [SINK]
    })))
    backend.runWorker(SINK.name, WORKER, async () => { throw new DeadLetterNow('HTTP 400 from target') })
    await eventually(async () => (await backend.deadLetterBook.count(SINK.name, { filter: {} })) === 3 ? true : undefined, 10_000, 'three dead letters')
    await backend.stopWorker(SINK.name)
    const book = backend.deadLetterBook

    const rows = (await book.list(SINK.name, {}, 0, 100)).rows
    t.same(rows.map((row) => [row.eventId, row.source, row.objectType, row.metric]).sort(), [
      ['P1', 'pipelines', 'track', 'Email Delivered'],
      ['P2', 'pipelines', 'identify', 'identify'],
      ['P3', 'pipelines', 'track', 'Email Bounced']
    ])
    t.same(ids((await book.list(SINK.name, { objectType: 'track' }, 0, 100)).rows).sort(), ['P1', 'P3'], 'by call type')
    t.same(ids((await book.list(SINK.name, { metric: 'Email Bounced' }, 0, 100)).rows), ['P3'], 'by event name')
    const detail = await book.get(SINK.name, (rows.find((row) => row.eventId === 'P2') as DeadLetterRow).ref)
    t.same(detail?.event, events[1], 'the event as received')
    const exported: string[] = []
    for await (const letter of book.export(SINK.name, { metric: 'identify' })) exported.push(letter.eventId)
    t.same(exported, ['P2'], 'export by filter')
  })

  t.test(`${mode}: the events a queue holds, not its jobs, and the oldest waiting one`, async (t) => {
    const backend = backendFor(t, mode)
    await backend.start()
    const seeds = Array.from({ length: 10 }, (_, index): Seed => ({ id: `W${index}`, type: 'email', metric: 'sent', fate: 'ok' }))
    await enqueue(backend, seeds)
    t.same(await backend.eventCounts(SINK.name), { waiting: 10, active: 0, delayed: 0, failed: 0, estimated: false, oldestWaitingAt: RECEIVED })
    if (mode === 'redis') t.equal((await backend.counts(SINK.name)).waiting, 1, 'in one job')
  })
}

t.test('redis: a job changed since it was read is not rewritten, and a copy made for it is taken back', async (t) => {
  const { backend } = await seeded(t, 'redis')
  const store = new RedisDeadLetterJobs((name) => (backend as RedisBackend).shardQueues(name), () => ({ attempts: 3 }))
  const rows = (await backend.deadLetterBook.list(SINK.name, { error: 'HTTP 400 from target' }, 0, 100)).rows
  const key = (rows[0] as DeadLetterRow).ref.split(':').slice(0, 2).join(':')
  const stale = await store.job(SINK.name, key)
  if (stale === undefined) throw new Error('the group of E1 and E3 was expected in one job')
  t.same(stale.events.map((event) => event.e).sort(), ['E1', 'E3'])
  t.equal(await backend.deadLetterBook.discard(SINK.name, { refs: [(rows.find((row) => row.eventId === 'E3') as DeadLetterRow).ref] }), 1, 'someone else discards E3')
  const before = await backend.counts(SINK.name)
  t.equal(await store.requeue(SINK.name, stale, stale.events.filter((event) => event.e === 'E1'), stale.events.filter((event) => event.e === 'E3'), 3), false, 'part of a stale group')
  t.equal(await store.requeue(SINK.name, stale, stale.events, [], 3), false, 'a stale whole job')
  t.equal(await store.discard(SINK.name, stale, []), false, 'a stale discard')
  t.same(await backend.counts(SINK.name), before, 'nothing added, nothing removed')
  t.same(ids((await backend.deadLetterBook.list(SINK.name, { error: 'HTTP 400 from target' }, 0, 100)).rows), ['E1'])
})
