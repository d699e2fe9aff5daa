/**
 * The one delivery path every sink shares: job → event → batch → sink, then metrics and the retry
 * verdict. Queue backends call `handle` per job and only have to schedule what it decides.
 */
import type { Logger } from '../logger.js'
import { PermanentSinkError, describeError, errorTypeOf } from '../errors.js'
import { DEFAULT_SOURCE_TYPE, findSourceType, sourceType } from '../sources/registry.js'
import type { RoutingFields } from '../sources/definition.js'
import { eventLine } from '../event-line.js'
import { LogThrottle } from '../log-throttle.js'
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
  /** A target that refuses everything dead-letters every event: one line per error type and interval. */
  private readonly deadLetterLog = new LogThrottle()
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

  /** Starts the sink; a failure names the sink, and a permission error the path and the user too. */
  async start (): Promise<void> {
    try {
      await this.sink.start?.()
    } catch (error) {
      throw new Error(startFailure(this.config, error), { cause: error })
    }
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
      const errorType = errorTypeOf(error)
      this.metrics.sinkErrors.inc({ sink: this.config.name, type: this.config.type, error_type: errorType })
      if (!final) throw error
      this.metrics.sinkDeadLettered.inc({ sink: this.config.name })
      const fields = { error_type: errorType, event_id: job.data.e, attempts: job.attemptsMade + 1, error: describeError(error) }
      // The logger is the sink's child: it names the sink already.
      this.deadLetterLog.write(errorType, (count) => this.logger.warn({ ...fields, count }, 'event dead-lettered'))
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
    this.deadLetterLog.close()
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

/** At 3 a.m. "EACCES: permission denied, mkdir '/app/data'" names neither the sink nor who was refused. */
function startFailure (config: SinkConfig, error: unknown): string {
  const message = `sink '${config.name}' (${config.type}) could not start: ${error instanceof Error ? error.message : String(error)}`
  const { code, path } = error as { code?: unknown, path?: unknown }
  if (typeof path !== 'string' || !(code === 'EACCES' || code === 'EPERM' || code === 'EROFS')) return message
  const user = process.getuid === undefined ? 'the gateway' : `the gateway (uid ${process.getuid()})`
  return `${message}; ${user} may not write to ${path}: make it writable for that user, or change the sink's settings`
}
