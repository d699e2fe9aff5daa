/**
 * Drives a sink through the real delivery path (EmbeddedBackend jobs → SinkRuntime → Batcher →
 * sink.deliver) and, in `sinkCompliance`, checks the SPEC §8 sink metrics every sink must move.
 * Each sink's test brings a local target it can tell to succeed or fail.
 */
import { randomUUID } from 'node:crypto'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { Test } from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { SinkConfig } from '../../src/config/types.js'
import { sinkDefinition } from '../../src/registry.js'
import { SinkRuntime } from '../../src/sinks/worker-runtime.js'
import { EmbeddedBackend } from '../../plugins/queue/embedded-backend.js'
import type { DeadLetter, QueueCounts } from '../../plugins/queue/backend.js'
import { GatewayMetrics } from '../../plugins/metrics/metrics.js'
import { eventually, sampleValue } from './app.js'
import { sampleEvent } from './sign.js'

export const SINK_NAME = 'under_test'

export interface SinkUnderTest {
  readonly type: string
  /** The type's own options, as they would be written in routes.yaml. */
  readonly options: Record<string, unknown>
  readonly batch?: { max_events?: number, max_bytes?: string, max_wait?: string }
  readonly retry?: { attempts?: number, initial_delay?: string, max_delay?: string }
  readonly concurrency?: number
}

export interface RunningSink {
  readonly config: SinkConfig
  readonly registry: Registry
  readonly runtime: SinkRuntime
  /**
   * Enqueues each event as one job, the way ingest does (`sourceType` as a source of that type
   * writes it; reporting webhooks when absent). Answers the receipt time used.
   */
  send (events: readonly Record<string, unknown>[], options?: { source?: string, receivedAt?: number, sourceType?: string }): Promise<number>
  /** Waits until `total` jobs have finished (delivered or dead-lettered) and nothing is pending. */
  settled (total: number, ms?: number): Promise<QueueCounts>
  deadLetters (): Promise<DeadLetter[]>
  /** A metric of this sink, summed over the other labels. */
  metric (name: string, labels?: Record<string, string>, series?: 'count' | 'sum'): Promise<number>
}

/** Validates the sink entry with the real config loader, starts the sink, and runs its worker; all closed in teardown. */
export async function startSink (t: Pick<Test, 'teardown'>, spec: SinkUnderTest): Promise<RunningSink> {
  const entry = {
    type: spec.type,
    ...spec.options,
    batch: { max_events: 50, max_wait: '20ms', ...spec.batch },
    retry: { attempts: 3, initial_delay: '20ms', max_delay: '100ms', ...spec.retry },
    ...(spec.concurrency === undefined ? {} : { concurrency: spec.concurrency })
  }
  // YAML is a superset of JSON, so the entry goes in as written.
  const yaml = `
sources: { customerio: { type: customerio, secrets: ["unused"] } }
sinks: { ${SINK_NAME}: ${JSON.stringify(entry)} }
routes: []
`
  const config = parseConfig(yaml, 'sink-test.yaml', {}).sinks.get(SINK_NAME) as SinkConfig
  const definition = sinkDefinition(config.type)
  if (definition === undefined) throw new Error(`sink type ${config.type} is not registered`)
  const registry = new Registry()
  const metrics = new GatewayMetrics(registry, { defaultMetrics: false })
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
  const backend = new EmbeddedBackend({ dedupeWindowMs: 24 * 60 * 60 * 1000 })
  const runtime = new SinkRuntime(config, definition.create(config.options as never, { name: SINK_NAME, logger }), metrics, logger)
  await runtime.start()
  backend.runWorker(SINK_NAME, { concurrency: runtime.jobConcurrency, retry: config.retry }, async (job) => await runtime.handle(job))
  t.teardown(async () => {
    await runtime.close()
    await backend.close()
  })

  return {
    config,
    registry,
    runtime,
    async send (events, options = {}) {
      const receivedAt = options.receivedAt ?? Date.now()
      for (const event of events) {
        const body = JSON.stringify(event)
        const id = event.event_id ?? event.messageId
        const eventId = typeof id === 'string' ? id : randomUUID()
        await backend.enqueue({
          source: options.source ?? 'customerio',
          dedupeKey: eventId,
          payload: { s: options.source ?? 'customerio', r: receivedAt, b: body, e: eventId, ...(options.sourceType === undefined ? {} : { t: options.sourceType }) },
          sinks: [{ name: SINK_NAME, retry: config.retry }]
        })
      }
      return receivedAt
    },
    async settled (total, ms = 15_000) {
      return await eventually(async () => {
        const counts = await backend.counts(SINK_NAME)
        const done = counts.completed + counts.failed >= total && counts.waiting + counts.active + counts.delayed === 0
        return done ? counts : undefined
      }, ms, `${total} jobs of ${config.type} to finish`)
    },
    async deadLetters () {
      return await backend.deadLetters(SINK_NAME, 10_000)
    },
    async metric (name, labels = {}, series) {
      return await sampleValue(registry, `cio_gateway_${name}`, { sink: SINK_NAME, ...labels }, series)
    }
  }
}

export interface ComplianceTarget {
  /** From now on the target accepts everything. */
  succeed (): void | Promise<void>
  /** From now on the target refuses everything with a retryable failure. */
  fail (): void | Promise<void>
}

export interface ComplianceSpec extends SinkUnderTest {
  readonly target: ComplianceTarget
  /** The `error_type` label the target's failure produces. */
  readonly errorType: string
}

/**
 * The checks every sink passes (STYLE 12): on success the delivered counter, lag, batch size and
 * delivery duration move; on a failure that later clears, errors move and nothing is dead-lettered;
 * on a failure that outlasts the attempts, errors move once per attempt and every event is dead-lettered.
 */
export async function sinkCompliance (t: Test, spec: ComplianceSpec): Promise<void> {
  const labels = { type: spec.type }

  await t.test(`${spec.type} compliance: a delivered batch moves delivered, lag, batch size and duration`, async (t) => {
    const sink = await startSink(t, spec)
    await spec.target.succeed()
    await sink.send([sampleEvent(), sampleEvent(), sampleEvent()])
    const counts = await sink.settled(3)
    t.match(counts, { completed: 3, failed: 0 })
    t.equal(await sink.metric('sink_events_delivered_total', labels), 3, 'sink_events_delivered_total')
    t.equal(await sink.metric('event_lag_seconds', {}, 'count'), 3, 'event_lag_seconds observed per event')
    t.equal(await sink.metric('sink_batch_size', {}, 'sum'), 3, 'sink_batch_size sums to the events sent')
    t.ok(await sink.metric('sink_batch_size', {}, 'count') >= 1, 'sink_batch_size observed')
    t.ok(await sink.metric('sink_delivery_duration_seconds', {}, 'count') >= 1, 'sink_delivery_duration_seconds observed')
    t.equal(await sink.metric('sink_errors_total'), 0, 'no errors')
    t.equal(await sink.metric('sink_events_dead_lettered_total'), 0, 'nothing dead-lettered')
  })

  await t.test(`${spec.type} compliance: a failure that clears counts errors, then delivers`, async (t) => {
    const sink = await startSink(t, { ...spec, retry: { attempts: 5, initial_delay: '300ms', max_delay: '300ms' } })
    await spec.target.fail()
    await sink.send([sampleEvent(), sampleEvent()])
    await eventually(async () => (await sink.metric('sink_errors_total', { ...labels, error_type: spec.errorType })) >= 2 ? true : undefined,
      10_000, 'the first failed attempt')
    await spec.target.succeed()
    const counts = await sink.settled(2)
    t.match(counts, { completed: 2, failed: 0 })
    t.equal(await sink.metric('sink_errors_total', { ...labels, error_type: spec.errorType }), 2, 'one error per event and failed attempt')
    t.equal(await sink.metric('sink_events_dead_lettered_total'), 0, 'nothing dead-lettered')
    t.equal(await sink.metric('sink_events_delivered_total', labels), 2, 'delivered on retry')
    t.equal(await sink.metric('event_lag_seconds', {}, 'count'), 2, 'lag observed on delivery')
  })

  await t.test(`${spec.type} compliance: a failure that outlasts the attempts dead-letters`, async (t) => {
    const sink = await startSink(t, { ...spec, retry: { attempts: 2, initial_delay: '20ms', max_delay: '50ms' } })
    await spec.target.fail()
    await sink.send([sampleEvent(), sampleEvent()])
    const counts = await sink.settled(2)
    t.match(counts, { completed: 0, failed: 2 })
    t.equal(await sink.metric('sink_errors_total', { ...labels, error_type: spec.errorType }), 4, 'one error per event and attempt')
    t.equal(await sink.metric('sink_events_dead_lettered_total'), 2, 'sink_events_dead_lettered_total')
    t.equal(await sink.metric('sink_events_delivered_total', labels), 0, 'nothing delivered')
    t.equal(await sink.metric('event_lag_seconds', {}, 'count'), 0, 'no lag without delivery')
    t.ok(await sink.metric('sink_delivery_duration_seconds', {}, 'count') >= 1, 'failed deliveries are timed too')
    const letters = await sink.deadLetters()
    t.equal(letters.length, 2, 'both events are in the dead-letter store')
    for (const letter of letters) t.equal(letter.attempts, 2)
  })
}
