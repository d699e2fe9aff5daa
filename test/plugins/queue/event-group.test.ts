/**
 * Jobs that hold a group of events (what ingest writes to Redis under load) are settled event by
 * event: a BullMQ worker with the real SinkRuntime, a sink that fails chosen events, and Redis.
 */
import t from 'tap'
import { Registry } from 'prom-client'
import pino from 'pino'
import { SinkRuntime } from '../../../src/sinks/worker-runtime.js'
import type { DeliveryEvent, BatchOutcome, Sink } from '../../../src/sinks/contract.js'
import type { SinkConfig } from '../../../src/config/types.js'
import { PermanentSinkError, RetryableSinkError } from '../../../src/errors.js'
import { GatewayMetrics } from '../../../plugins/metrics/metrics.js'
import type { RedisBackend } from '../../../plugins/queue/redis-backend.js'
import { deleteKeys, redisBackend, uniquePrefix } from '../../helpers/redis.js'
import { eventually, sampleValue, type Teardownable } from '../../helpers/app.js'

const logger = pino({ level: 'silent' })

/** Fails an event on its n-th delivery attempt when `script(eventId, n)` returns an error. */
class PerEventSink implements Sink {
  readonly delivered: string[] = []
  readonly tries = new Map<string, number>()
  constructor (private readonly script: (eventId: string, attempt: number) => Error | undefined) {}
  async deliver (batch: readonly DeliveryEvent[]): Promise<BatchOutcome> {
    const failures = new Map<number, Error>()
    batch.forEach((event, index) => {
      const attempt = (this.tries.get(event.eventId) ?? 0) + 1
      this.tries.set(event.eventId, attempt)
      const error = this.script(event.eventId, attempt)
      if (error === undefined) this.delivered.push(event.eventId)
      else failures.set(index, error)
    })
    return { failures }
  }

  async close (): Promise<void> {}
}

function config (attempts: number): SinkConfig {
  return {
    name: 'target',
    type: 'scripted',
    batch: { maxEvents: 100, maxBytes: 1 << 20, maxWaitMs: 20 },
    retry: { attempts, initialDelayMs: 20, maxDelayMs: 100 },
    concurrency: 1,
    redact: [],
    redactKey: undefined,
    options: {}
  }
}

async function setup (t: Teardownable, sink: Sink, attempts: number): Promise<{ backend: RedisBackend, registry: Registry, send: (ids: string[]) => Promise<void> }> {
  const prefix = uniquePrefix('group')
  const backend = redisBackend({ prefix, queues: ['target'], logger })
  const registry = new Registry()
  const runtime = new SinkRuntime(config(attempts), sink, new GatewayMetrics(registry, { defaultMetrics: false }), logger)
  t.teardown(async () => {
    await backend.close()
    await deleteKeys(prefix)
  })
  /** Enqueues the events in one write (one turn), so they share one job; then starts the worker. */
  const send = async (ids: string[]): Promise<void> => {
    const outcomes = await Promise.all(ids.map(async (id) => await backend.enqueue({
      source: 'customerio',
      dedupeKey: id,
      payload: { s: 'customerio', r: Date.now(), b: JSON.stringify({ event_id: id, object_type: 'email', metric: 'sent', data: {} }), e: id },
      sinks: [{ name: 'target', retry: config(attempts).retry }]
    })))
    if (outcomes.some((outcome) => outcome !== 'accepted')) throw new Error(`enqueue answered ${outcomes.join(',')}`)
    if ((await backend.counts('target')).waiting !== 1) throw new Error('the events were expected in one job')
    backend.runWorker('target', { concurrency: runtime.jobConcurrency, retry: config(attempts).retry }, async (job) => await runtime.handle(job))
  }
  return { backend, registry, send }
}

t.test('a group whose events all get through completes as one job', async (t) => {
  const sink = new PerEventSink(() => undefined)
  const { backend, registry, send } = await setup(t, sink, 3)
  await send(['A-1', 'A-2', 'A-3'])
  await eventually(async () => (await backend.counts('target')).completed === 1 ? true : undefined)
  t.same(sink.delivered.sort(), ['A-1', 'A-2', 'A-3'])
  t.equal(await sampleValue(registry, 'cio_gateway_sink_events_delivered_total', { sink: 'target' }), 3, 'counted per event')
})

t.test('a group whose events all fail for now is retried whole, with backoff', async (t) => {
  const sink = new PerEventSink((_id, attempt) => attempt === 1 ? new RetryableSinkError('target down', 'http_503') : undefined)
  const { backend, send } = await setup(t, sink, 3)
  await send(['B-1', 'B-2', 'B-3'])
  await eventually(() => sink.delivered.length === 3 ? true : undefined)
  await eventually(async () => (await backend.counts('target')).completed === 1 ? true : undefined)
  t.same(sink.delivered.sort(), ['B-1', 'B-2', 'B-3'], 'each delivered once')
  t.same([...sink.tries.values()], [2, 2, 2], 'each tried twice')
  t.match(await backend.counts('target'), { completed: 1, failed: 0, waiting: 0, delayed: 0 }, 'no job split off')
})

t.test('a partly failed group: delivered events stay delivered, the rest are split off, retried or dead-lettered per reason', async (t) => {
  const sink = new PerEventSink((id, attempt) => {
    if (attempt > 1) return undefined
    if (id === 'C-2') return new RetryableSinkError('timeout', 'timeout')
    if (id === 'C-3') return new PermanentSinkError('row rejected: bad field', 'invalid')
    if (id === 'C-5') return new PermanentSinkError('row rejected: too large', 'invalid')
    return undefined
  })
  const { backend, registry, send } = await setup(t, sink, 4)
  await send(['C-1', 'C-2', 'C-3', 'C-4', 'C-5', 'C-6'])
  await eventually(() => sink.delivered.includes('C-2') ? true : undefined)
  const letters = await eventually(async () => {
    const found = await backend.deadLetters('target', 10)
    return found.length === 2 ? found : undefined
  })
  t.same(sink.delivered.sort(), ['C-1', 'C-2', 'C-4', 'C-6'], 'the retryable event got through on its retry; nothing delivered twice')
  t.equal(sink.tries.get('C-1'), 1, 'delivered events are not sent again')
  t.same(letters.map((letter) => [letter.event_id, letter.error, letter.attempts]).sort(), [
    ['C-3', 'PermanentSinkError: row rejected: bad field', 1],
    ['C-5', 'PermanentSinkError: row rejected: too large', 1]
  ], 'each dead letter with its own error')
  t.equal(await sampleValue(registry, 'cio_gateway_sink_events_delivered_total', { sink: 'target' }), 4)
  t.equal(await sampleValue(registry, 'cio_gateway_sink_events_dead_lettered_total', { sink: 'target' }), 2, 'each dead letter counted once')

  t.equal(await backend.retryDeadLetters('target', 4), 2, 'replay answers in events')
  // Regression: the split-off dead-letter groups were kept at one attempt (their own) by the replay.
  const replayed = [...await backend.shardQueues('target')[0]?.getJobs(['waiting', 'active', 'completed']) ?? []]
    .filter((job) => String(job.id).includes('-d'))
  t.ok(replayed.length > 0 && replayed.every((job) => job.opts.attempts === 4), 'the replayed groups get the whole retry budget (retry.attempts 4)')
  await eventually(() => sink.delivered.length === 6 ? true : undefined)
  t.same(sink.delivered.slice(4).sort(), ['C-3', 'C-5'], 'replayed dead letters are delivered, not failed again')
  await eventually(async () => (await backend.counts('target')).failed === 0 ? true : undefined)
})

t.test('split-off events keep their retry budget: attempts count across the split', async (t) => {
  const sink = new PerEventSink((id) => id === 'D-2' ? new RetryableSinkError('still down', 'http_500') : undefined)
  const { backend, registry, send } = await setup(t, sink, 3)
  await send(['D-1', 'D-2'])
  const letters = await eventually(async () => {
    const found = await backend.deadLetters('target', 10)
    return found.length > 0 ? found : undefined
  })
  t.equal(sink.tries.get('D-2'), 3, 'exactly retry.attempts attempts in all')
  t.equal(sink.tries.get('D-1'), 1)
  t.match(letters, [{ event_id: 'D-2', attempts: 3, error: 'RetryableSinkError: still down' }])
  t.equal(await sampleValue(registry, 'cio_gateway_sink_errors_total', { sink: 'target' }), 3)
})
