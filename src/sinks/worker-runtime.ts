/**
 * The one delivery path every sink shares: job → event → batch → sink, then metrics and the retry
 * verdict. Queue backends call `handle` per job and only have to schedule what it decides.
 */
import type { Logger } from '../logger.js'
import { PermanentSinkError, describeError, errorTypeOf } from '../errors.js'
import { DEFAULT_SOURCE_TYPE, findSourceType, sourceType } from '../sources/registry.js'
import type { RoutingFields } from '../sources/definition.js'
import { eventLine } from '../event-line.js'
import type { GatewayMetrics } from '../../plugins/metrics/metrics.js'
import type { SinkConfig } from '../config/types.js'
import type { DeliveryEvent, Sink } from './contract.js'
import { Batcher } from './batcher.js'
import { DeadLetterNow, type JobView } from './job.js'
import { redactor } from './redact.js'

/** Fields of a job whose event its source type cannot route (stored before that type changed): delivered all the same. */
const UNKNOWN_FIELDS: RoutingFields = { object_type: 'unknown', metric: 'unknown' }

export class SinkRuntime {
  private readonly batcher: Batcher
  private readonly redact: ReturnType<typeof redactor>
  private closed = false

  constructor (
    readonly config: SinkConfig,
    readonly sink: Sink,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger
  ) {
    this.redact = redactor(config.redact, config.redactKey)
    this.batcher = new Batcher(config.batch, (batch) => this.deliverBatch(batch))
  }

  /** How many jobs a backend should run at once so that `concurrency` full batches can form. */
  get jobConcurrency (): number {
    return Math.min(10_000, this.config.batch.maxEvents * this.config.concurrency)
  }

  async start (): Promise<void> {
    await this.sink.start?.()
  }

  /**
   * Delivers one job's event. Resolves when delivered; throws the sink's error to ask for a retry, or
   * DeadLetterNow when no attempt is left or the error is permanent.
   */
  async handle (job: JobView): Promise<void> {
    const event = this.toDeliveryEvent(job)
    try {
      await this.batcher.add(event)
    } catch (error) {
      const final = error instanceof PermanentSinkError || job.attemptsMade + 1 >= this.config.retry.attempts
      this.metrics.sinkErrors.inc({ sink: this.config.name, type: this.config.type, error_type: errorTypeOf(error) })
      if (!final) throw error
      this.metrics.sinkDeadLettered.inc({ sink: this.config.name })
      this.logger.warn({ sink: this.config.name, event_id: job.data.e, attempts: job.attemptsMade + 1, error: describeError(error) }, 'event dead-lettered')
      throw new DeadLetterNow(describeError(error), { cause: error })
    }
    this.metrics.sinkDelivered.inc({ sink: this.config.name, type: this.config.type })
    this.metrics.eventLag.observe({ sink: this.config.name }, Math.max(0, Date.now() - job.data.r) / 1000)
  }

  /** Sends what waits and everything that arrives from now on without waiting for a batch to fill. */
  async drain (): Promise<void> {
    await this.batcher.drain()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.batcher.drain()
    await this.sink.close()
  }

  private toDeliveryEvent (job: JobView): DeliveryEvent {
    const { s: source, r: receivedAt, b: raw, e: eventId, t: sourceTypeName } = job.data
    const received = JSON.parse(raw) as Record<string, unknown>
    // Routing fields and event time come from the event as received, before any redaction.
    const type = findSourceType(sourceTypeName ?? DEFAULT_SOURCE_TYPE) ?? sourceType(DEFAULT_SOURCE_TYPE)
    const fields = type.fieldsOf(received)
    const { object_type: objectType, metric } = typeof fields === 'string' ? UNKNOWN_FIELDS : fields
    const timeMs = type.eventTimeMs(received) ?? receivedAt
    const event = this.redact === undefined ? received : this.redact(received) as Record<string, unknown>
    const stamp = { source, received_at: new Date(receivedAt).toISOString() }
    const body = event === received ? raw : JSON.stringify(event)
    const line = eventLine(body, event, stamp)
    return { eventId, source, sourceType: type.type, objectType, metric, timeMs, receivedAt, event, body, line, size: Buffer.byteLength(line) }
  }

  private async deliverBatch (batch: readonly DeliveryEvent[]): Promise<ReadonlyMap<number, Error>> {
    const sink = this.config.name
    this.metrics.sinkBatchSize.observe({ sink }, batch.length)
    const stopTimer = this.metrics.sinkDeliveryDuration.startTimer({ sink })
    try {
      const outcome = await this.sink.deliver(batch)
      return outcome?.failures ?? new Map()
    } finally {
      stopTimer()
    }
  }
}
