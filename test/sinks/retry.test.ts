/**
 * The shared delivery machinery (SinkRuntime on a real queue backend): retries with backoff,
 * dead-lettering after the last attempt with the last error kept, and permanent errors.
 * The sink here is a scripted target; what is under test is the runtime and the backends.
 */
import t from 'tap'
import { Registry } from 'prom-client'
import pino from 'pino'
import { SinkRuntime } from '../../src/sinks/worker-runtime.js'
import type { DeliveryEvent, Sink } from '../../src/sinks/contract.js'
import type { SinkConfig } from '../../src/config/types.js'
import { PermanentSinkError, RetryableSinkError } from '../../src/errors.js'
import { GatewayMetrics } from '../../plugins/metrics/metrics.js'
import { EmbeddedBackend } from '../../plugins/queue/embedded-backend.js'
import type { QueueBackend } from '../../plugins/queue/backend.js'
import { deleteKeys, redisBackend, uniquePrefix } from '../helpers/redis.js'
import { eventually, sampleValue, type Teardownable } from '../helpers/app.js'

const logger = pino({ level: 'silent' })

/** A target that answers each delivery attempt from a script, and records what it accepted. */
class ScriptedSink implements Sink {
  readonly delivered: string[] = []
  attempts = 0
  constructor (private readonly script: (attempt: number) => Error | undefined) {}
  async deliver (batch: readonly DeliveryEvent[]): Promise<void> {
    this.attempts++
    const error = this.script(this.attempts)
    if (error !== undefined) throw error
    this.delivered.push(...batch.map((event) => event.eventId))
  }

  async close (): Promise<void> {}
}

const sinkConfig = (attempts: number): SinkConfig => ({
  name: 'target',
  type: 'scripted',
  batch: { maxEvents: 10, maxBytes: 1 << 20, maxWaitMs: 10 },
  retry: { attempts, initialDelayMs: 20, maxDelayMs: 100 },
  concurrency: 1,
  redact: [],
  redactKey: undefined,
  options: {}
})

async function setup (t: Teardownable, mode: 'redis' | 'embedded', sink: Sink, attempts: number): Promise<{ backend: QueueBackend, registry: Registry, send: (id: string) => Promise<void> }> {
  const prefix = uniquePrefix('retry')
  const backend: QueueBackend = mode === 'redis'
    ? redisBackend({ prefix, queues: ['target'], logger })
    : new EmbeddedBackend({ dedupeWindowMs: 60_000 })
  const registry = new Registry()
  const runtime = new SinkRuntime(sinkConfig(attempts), sink, new GatewayMetrics(registry, { defaultMetrics: false }), logger)
  backend.runWorker('target', { concurrency: runtime.jobConcurrency, retry: sinkConfig(attempts).retry }, async (job) => await runtime.handle(job))
  t.teardown(async () => {
    await backend.close()
    if (mode === 'redis') await deleteKeys(prefix)
  })
  const send = async (id: string): Promise<void> => {
    const body = JSON.stringify({ event_id: id, object_type: 'email', metric: 'sent', timestamp: 1700000000, data: {} })
    const outcome = await backend.enqueue({ source: 'customerio', dedupeKey: id, payload: { s: 'customerio', r: Date.now(), b: body, e: id }, sinks: [{ name: 'target', retry: sinkConfig(attempts).retry }] })
    if (outcome !== 'accepted') throw new Error(`enqueue answered ${outcome}`)
  }
  return { backend, registry, send }
}

for (const mode of ['redis', 'embedded'] as const) {
  t.test(`${mode}: a sink failing twice then succeeding delivers once`, async (t) => {
    const sink = new ScriptedSink((attempt) => attempt <= 2 ? new RetryableSinkError(`target down (${attempt})`, 'http_503') : undefined)
    const { backend, registry, send } = await setup(t, mode, sink, 5)
    await send('E-RETRY-1')
    await eventually(() => sink.delivered.length > 0 ? true : undefined, 10_000, 'delivery')
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.same(sink.delivered, ['E-RETRY-1'], 'delivered once')
    t.equal(sink.attempts, 3)
    t.equal(await sampleValue(registry, 'cio_gateway_sink_errors_total', { sink: 'target', error_type: 'http_503' }), 2)
    t.equal(await sampleValue(registry, 'cio_gateway_sink_events_delivered_total', { sink: 'target' }), 1)
    t.equal(await sampleValue(registry, 'cio_gateway_sink_events_dead_lettered_total', { sink: 'target' }), 0)
    t.same((await backend.counts('target')).failed, 0)
  })

  t.test(`${mode}: a sink always failing dead-letters after retry.attempts, keeping the last error`, async (t) => {
    const sink = new ScriptedSink((attempt) => new RetryableSinkError(`still down, attempt ${attempt}`, 'http_500'))
    const { backend, registry, send } = await setup(t, mode, sink, 3)
    await send('E-DEAD-1')
    const letters = await eventually(async () => {
      const found = await backend.deadLetters('target', 10)
      return found.length > 0 ? found : undefined
    }, 10_000, 'a dead letter')
    t.equal(sink.attempts, 3, 'exactly retry.attempts attempts')
    t.equal(letters.length, 1)
    t.match(letters[0], {
      event_id: 'E-DEAD-1',
      source: 'customerio',
      attempts: 3,
      error: 'RetryableSinkError: still down, attempt 3',
      event: { event_id: 'E-DEAD-1', object_type: 'email' }
    })
    t.equal(await sampleValue(registry, 'cio_gateway_sink_events_dead_lettered_total', { sink: 'target' }), 1)
    t.equal(await sampleValue(registry, 'cio_gateway_sink_errors_total', { sink: 'target' }), 3)
  })

  t.test(`${mode}: a permanent error dead-letters at once`, async (t) => {
    const sink = new ScriptedSink(() => new PermanentSinkError('400 bad request', 'http_400'))
    const { backend, send } = await setup(t, mode, sink, 10)
    await send('E-PERM-1')
    const letters = await eventually(async () => { const found = await backend.deadLetters('target', 10); return found.length > 0 ? found : undefined })
    t.equal(sink.attempts, 1)
    t.equal(letters[0]?.error, 'PermanentSinkError: 400 bad request')
  })

  t.test(`${mode}: dead letters are re-queued and delivered once the sink is healthy`, async (t) => {
    let healthy = false
    const sink = new ScriptedSink(() => healthy ? undefined : new PermanentSinkError('rejected', 'http_400'))
    const { backend, send } = await setup(t, mode, sink, 1)
    await send('E-REPLAY-1')
    await eventually(async () => (await backend.counts('target')).failed === 1 ? true : undefined)
    healthy = true
    t.equal(await backend.retryDeadLetters('target', sinkConfig(1).retry.attempts), 1)
    await eventually(() => sink.delivered.length === 1 ? true : undefined)
    t.same(sink.delivered, ['E-REPLAY-1'])
    t.equal((await backend.counts('target')).failed, 0)
  })
}

t.test('batches: max_events splits, max_wait flushes a partial batch', async (t) => {
  const sizes: number[] = []
  const sink: Sink = { deliver: async (batch) => { sizes.push(batch.length) }, close: async () => {} }
  const { send } = await setup(t, 'embedded', sink, 1)
  for (let i = 0; i < 25; i++) await send(`E-BATCH-${i}`)
  await eventually(() => sizes.reduce((a, b) => a + b, 0) === 25 ? true : undefined)
  t.same(sizes, [10, 10, 5], 'two full batches of max_events, then the rest after max_wait')
})

t.test('dead letters are logged once per error type and interval, with the count, and name the sink once', async (t) => {
  const raw: string[] = []
  const lines: Record<string, unknown>[] = []
  const parent = pino({ level: 'info' }, { write: (line: string) => { raw.push(line); lines.push(JSON.parse(line) as Record<string, unknown>) } })
  // As plugins/queue/sink-workers.ts builds it: the sink's child logger carries its name.
  const runtime = new SinkRuntime(sinkConfig(1), new ScriptedSink(() => new PermanentSinkError('400 bad request', 'http_400')),
    new GatewayMetrics(new Registry(), { defaultMetrics: false }), parent.child({ sink: 'target' }))
  const backend = new EmbeddedBackend({ dedupeWindowMs: 60_000 })
  t.teardown(async () => await backend.close())
  backend.runWorker('target', { concurrency: runtime.jobConcurrency, retry: sinkConfig(1).retry }, async (job) => await runtime.handle(job))
  for (let i = 0; i < 5; i++) {
    const body = JSON.stringify({ event_id: `E-LOG-${i}`, object_type: 'email', metric: 'sent', timestamp: 1700000000, data: {} })
    await backend.enqueue({ source: 'customerio', dedupeKey: `E-LOG-${i}`, payload: { s: 'customerio', r: Date.now(), b: body, e: `E-LOG-${i}` }, sinks: [{ name: 'target', retry: sinkConfig(1).retry }] })
  }
  await eventually(async () => (await backend.counts('target')).failed === 5 ? true : undefined, 10_000, 'five dead letters')
  const deadLettered = (): Record<string, unknown>[] => lines.filter((line) => line.msg === 'event dead-lettered')
  t.match(deadLettered(), [{ level: 40, sink: 'target', error_type: 'http_400', event_id: 'E-LOG-0', attempts: 1, error: 'PermanentSinkError: 400 bad request', count: 1 }])
  t.equal(deadLettered().length, 1, 'one line for the first five, so far')
  await runtime.close()
  t.match(deadLettered()[1], { error_type: 'http_400', event_id: 'E-LOG-4', count: 4 }, 'the rest, with how many')
  t.equal(deadLettered().length, 2)
  const first = raw.find((line) => line.includes('"event dead-lettered"')) ?? ''
  t.equal(first.split('"sink":').length - 1, 1, `"sink" appears once in the line as written: ${first}`)
})
