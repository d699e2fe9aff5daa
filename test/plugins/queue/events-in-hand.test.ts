/**
 * A sink's events in hand stay within its budget (`batch.max_events × concurrency`) on one Redis node
 * too, whatever mix of job sizes the worker meets. The job concurrency follows an average of events
 * per job, so after a run of single-event jobs it is high; large jobs arriving then must not all be
 * worked at once (a Node 24 worker draining a backlog held 16,000 events against 2,000 wanted and ran
 * out of heap).
 */
import t from 'tap'
import pino from 'pino'
import { setTimeout as sleep } from 'node:timers/promises'
import { deleteKeys, redisBackend, uniquePrefix } from '../../helpers/redis.js'
import { eventually } from '../../helpers/app.js'
import type { RedisBackend } from '../../../plugins/queue/redis-backend.js'

const logger = pino({ level: 'silent' })
const RETRY = { attempts: 3, initialDelayMs: 20, maxDelayMs: 100 }
const BUDGET = 100

async function enqueue (backend: RedisBackend, ids: readonly string[]): Promise<void> {
  const outcomes = await Promise.all(ids.map(async (id) => await backend.enqueue({
    source: 'customerio',
    dedupeKey: id,
    payload: { s: 'customerio', r: Date.now(), b: JSON.stringify({ event_id: id, object_type: 'email', metric: 'sent', data: {} }), e: id },
    sinks: [{ name: 'target', retry: RETRY }]
  })))
  if (outcomes.some((outcome) => outcome !== 'accepted')) throw new Error(`enqueue answered ${outcomes.join(',')}`)
}

t.test('single-event jobs, then 64-event jobs: never more events in hand than the budget', async (t) => {
  const prefix = uniquePrefix('inhand')
  const backend = redisBackend({ prefix, queues: ['target'], logger })
  t.teardown(async () => {
    await backend.close()
    await deleteKeys(prefix)
  })
  // 150 jobs of one event each (one write per turn), then 20 jobs of 64 events (one turn each).
  for (let i = 0; i < 150; i++) await enqueue(backend, [`S-${i}`])
  for (let group = 0; group < 20; group++) await enqueue(backend, Array.from({ length: 64 }, (_, i) => `G-${group}-${i}`))
  t.equal((await backend.counts('target')).waiting, 170, '170 jobs wait: 150 single events and 20 groups')

  let inHand = 0
  let mostInHand = 0
  const delivered = new Set<string>()
  backend.runWorker('target', { concurrency: BUDGET, retry: RETRY }, async (job) => {
    inHand++
    mostInHand = Math.max(mostInHand, inHand)
    try {
      // A sink that takes a while, so that jobs pile up in the worker if nothing holds them back.
      await sleep(40)
      delivered.add(job.data.e)
    } finally {
      inHand--
    }
  })
  await eventually(async () => delivered.size === 150 + 20 * 64 ? true : undefined, 60_000, 'every event delivered')
  t.equal(delivered.size, 1430, 'every event delivered')
  t.ok(mostInHand <= BUDGET, `at most ${BUDGET} events in hand at once (${mostInHand})`)
  t.ok(mostInHand >= 64, `a 64-event job ran whole, beside others when they fit (${mostInHand})`)
})
