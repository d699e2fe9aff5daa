/**
 * The in-process queue used when no redis_url is configured: the same semantics as the BullMQ
 * backend (dedupe window, per-sink queues, retries with backoff, dead letters, replay) held in
 * memory. Nothing survives a restart: for trying the gateway out and for tests, not production.
 */
import { randomUUID } from 'node:crypto'
import { describeError } from '../../src/errors.js'
import { retryDelayMs } from '../../src/sinks/retry-policy.js'
import { DeadLetterNow, type JobPayload } from '../../src/sinks/job.js'
import type { QuarantineConfig } from '../../src/config/types.js'
import {
  QUARANTINE_QUEUE, deadLetterOf, type AdmissionRequest, type DeadLetter, type EnqueueRequest, type EventCounts, type IngestOutcome, type JobHandler,
  type QueueBackend, type QueueCounts, type Refusal, type WorkerSettings
} from './backend.js'
import type { QuarantineDrop } from './quarantine-trim.js'
import { DeadLetterBook } from './dead-letter-book.js'
import { EmbeddedDeadLetterJobs } from './embedded-dead-letters.js'

export interface MemoryJob {
  readonly id: string
  readonly data: JobPayload
  attempts: number
  attemptsMade: number
  failedReason: string
  finishedOn: number | undefined
}

interface Running {
  readonly settings: WorkerSettings
  readonly handler: JobHandler
}

/** Bounds of a queue's dead letters (the quarantine's), and who is told of what they drop. */
interface DeadLetterBounds extends QuarantineConfig {
  readonly onDropped: (reason: QuarantineDrop, events: number) => void
}

export class MemoryQueue {
  readonly waiting: MemoryJob[] = []
  readonly delayed = new Map<MemoryJob, NodeJS.Timeout>()
  readonly failed: MemoryJob[] = []
  active = 0
  completed = 0
  worker: Running | undefined
  /** Bytes of the events not yet settled (waiting, delayed, running), and of the dead letters: what `max_bytes` holds against. */
  pendingBytes = 0
  failedBytes = 0
  private readonly idle: (() => void)[] = []
  private readonly quiet: (() => void)[] = []

  constructor (private readonly bounds?: DeadLetterBounds, private readonly now: () => number = Date.now) {}

  /** A new job: counted in the bytes held until it is delivered. */
  add (job: MemoryJob): void {
    this.pendingBytes += job.data.b.length
    this.push(job)
  }

  push (job: MemoryJob): void {
    this.waiting.push(job)
    this.pump()
  }

  pump (): void {
    const worker = this.worker
    if (worker === undefined) return
    while (this.active < worker.settings.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift() as MemoryJob
      this.active++
      void this.run(job, worker).finally(() => {
        this.active--
        this.pump()
        if (this.active === 0 && this.waiting.length === 0) this.idle.splice(0).forEach((resolve) => resolve())
        if (this.active === 0) this.quiet.splice(0).forEach((resolve) => resolve())
      })
    }
  }

  private async run (job: MemoryJob, worker: Running): Promise<void> {
    try {
      await worker.handler({ id: job.id, data: job.data, attemptsMade: job.attemptsMade })
      this.completed++
      this.pendingBytes -= job.data.b.length
    } catch (error) {
      job.attemptsMade++
      job.failedReason = error instanceof DeadLetterNow ? error.message : describeError(error)
      if (error instanceof DeadLetterNow || job.attemptsMade >= job.attempts) {
        job.finishedOn = this.now()
        this.failed.push(job)
        this.pendingBytes -= job.data.b.length
        this.failedBytes += job.data.b.length
        this.trim()
        return
      }
      const timer = setTimeout(() => {
        this.delayed.delete(job)
        this.push(job)
      }, retryDelayMs(job.attemptsMade, worker.settings.retry, error))
      this.delayed.set(job, timer)
    }
  }

  /** Drops dead letters past the bounds, oldest first (the quarantine's; other queues keep theirs). */
  trim (): void {
    if (this.bounds === undefined) return
    const oldest = this.now() - this.bounds.maxAgeMs
    let aged = 0
    while (this.failed.length > 0 && ((this.failed[0] as MemoryJob).finishedOn ?? 0) < oldest) { this.drop(); aged++ }
    if (aged > 0) this.bounds.onDropped('max_age', aged)
    let over = 0
    while (this.failed.length > this.bounds.maxEvents) { this.drop(); over++ }
    if (over > 0) this.bounds.onDropped('max_events', over)
  }

  private drop (): void {
    const job = this.failed.shift() as MemoryJob
    this.failedBytes -= job.data.b.length
  }

  /** A dead letter (already out of `failed`) back to waiting with `attempts` attempts from zero. */
  requeue (job: MemoryJob, attempts: number): void {
    job.attempts = attempts
    job.attemptsMade = 0
    job.finishedOn = undefined
    this.failedBytes -= job.data.b.length
    this.pendingBytes += job.data.b.length
    this.push(job)
  }

  /** Takes one dead letter out of `failed`; false when it is no longer there. */
  takeFailed (job: MemoryJob): boolean {
    const index = this.failed.indexOf(job)
    if (index < 0) return false
    this.failed.splice(index, 1)
    return true
  }

  /** Drops one dead letter for good; false when it is no longer there. */
  discardFailed (job: MemoryJob): boolean {
    if (!this.takeFailed(job)) return false
    this.failedBytes -= job.data.b.length
    return true
  }

  /** Takes no more jobs; resolves when the running ones are done. Waiting and delayed jobs stay for a later worker. */
  async stop (): Promise<void> {
    this.worker = undefined
    if (this.active === 0) return
    await new Promise<void>((resolve) => this.quiet.push(resolve))
  }

  /** Resolves when nothing is waiting or running (delayed retries are not waited for). */
  async settled (): Promise<void> {
    if (this.worker === undefined || (this.active === 0 && this.waiting.length === 0)) return
    await new Promise<void>((resolve) => this.idle.push(resolve))
  }
}

export interface EmbeddedBackendOptions {
  readonly dedupeWindowMs: number
  /** Bounds of the quarantine; unbounded when absent (tests of other things). */
  readonly quarantine?: QuarantineConfig
  readonly onQuarantineDropped?: (reason: QuarantineDrop, events: number) => void
  /** How often the quarantine is trimmed by age (by count it is trimmed as bodies arrive). */
  readonly quarantineTrimMs?: number
  readonly now?: () => number
}

export class EmbeddedBackend implements QueueBackend {
  readonly mode = 'embedded'
  private readonly queues = new Map<string, MemoryQueue>()
  private readonly seen = new Map<string, number>()
  private readonly sweeper: NodeJS.Timeout
  private readonly trimmer: NodeJS.Timeout
  private readonly dedupeWindowMs: number
  private readonly now: () => number
  readonly deadLetterBook = new DeadLetterBook(new EmbeddedDeadLetterJobs((name) => this.queue(name)))

  constructor (private readonly options: EmbeddedBackendOptions) {
    this.dedupeWindowMs = options.dedupeWindowMs
    this.now = options.now ?? Date.now
    this.sweeper = setInterval(() => this.forgetExpired(), 60_000)
    this.sweeper.unref()
    this.trimmer = setInterval(() => this.queues.get(QUARANTINE_QUEUE)?.trim(), options.quarantineTrimMs ?? 10_000)
    this.trimmer.unref()
  }

  private queue (name: string): MemoryQueue {
    let queue = this.queues.get(name)
    if (queue === undefined) {
      const { quarantine, onQuarantineDropped } = this.options
      const bounds = name === QUARANTINE_QUEUE && quarantine !== undefined
        ? { ...quarantine, onDropped: onQuarantineDropped ?? (() => {}) }
        : undefined
      queue = new MemoryQueue(bounds, this.now)
      this.queues.set(name, queue)
    }
    return queue
  }

  async start (): Promise<void> {}

  async enqueue (request: EnqueueRequest): Promise<IngestOutcome> {
    const key = `${request.source}:${request.dedupeKey}`
    const expires = this.seen.get(key)
    if (expires !== undefined && expires > this.now()) return 'duplicate'
    this.seen.set(key, this.now() + this.dedupeWindowMs)
    for (const sink of request.sinks) {
      this.queue(sink.name).add(newJob(request.payload, sink.retry.attempts))
    }
    return 'accepted'
  }

  admit (request: AdmissionRequest): Refusal | undefined {
    let events = 0
    let bytes = 0
    for (const name of [...request.sinks, QUARANTINE_QUEUE]) {
      const queue = this.queues.get(name)
      if (queue === undefined) continue
      events += queue.waiting.length + queue.delayed.size
      // A sink's dead letters wait for an operator and do not hold ingest; the quarantine's are bounded and do.
      bytes += queue.pendingBytes + (name === QUARANTINE_QUEUE ? queue.failedBytes : 0)
    }
    if (events >= request.highWaterMark) return 'high_water_mark'
    if (bytes >= request.maxBytes) return 'max_bytes'
    return undefined
  }

  async ping (): Promise<void> {}

  async counts (name: string): Promise<QueueCounts> {
    const queue = this.queue(name)
    return { waiting: queue.waiting.length, active: queue.active, delayed: queue.delayed.size, failed: queue.failed.length, completed: queue.completed }
  }

  async deadLetters (name: string, limit: number): Promise<DeadLetter[]> {
    return this.queue(name).failed.slice(-limit).reverse()
      .map((job) => deadLetterOf(job.id, job.data, job.attemptsMade, job.failedReason, job.finishedOn))
  }

  async retryDeadLetters (name: string, attempts: number): Promise<number> {
    return await this.deadLetterBook.retry(name, { filter: { failedTo: this.now() + 1 } }, attempts)
  }

  async eventCounts (name: string): Promise<EventCounts> {
    const queue = this.queue(name)
    // One event per job here, so the counts are exact.
    return { waiting: queue.waiting.length, active: queue.active, delayed: queue.delayed.size, failed: queue.failed.length, estimated: false, oldestWaitingAt: queue.waiting[0]?.data.r }
  }

  runWorker (name: string, settings: WorkerSettings, handler: JobHandler): void {
    const queue = this.queue(name)
    queue.worker = { settings, handler }
    queue.pump()
  }

  async stopWorker (name: string): Promise<void> {
    await this.queues.get(name)?.stop()
  }

  /** Waits until every queue has run what it holds: in memory, whatever is left at exit is lost. */
  async stopWorkers (): Promise<void> {
    await Promise.all([...this.queues.values()].map(async (queue) => await queue.settled()))
  }

  /** Jobs that would be lost if the process stopped now (waiting, running or awaiting a retry). */
  pendingJobs (): number {
    let total = 0
    for (const queue of this.queues.values()) total += queue.waiting.length + queue.active + queue.delayed.size
    return total
  }

  async close (): Promise<void> {
    clearInterval(this.sweeper)
    clearInterval(this.trimmer)
    for (const queue of this.queues.values()) {
      for (const timer of queue.delayed.values()) clearTimeout(timer)
      queue.worker = undefined
    }
  }

  private forgetExpired (): void {
    const now = this.now()
    for (const [key, expires] of this.seen) if (expires <= now) this.seen.delete(key)
  }
}

function newJob (data: JobPayload, attempts: number): MemoryJob {
  return { id: randomUUID(), data, attempts, attemptsMade: 0, failedReason: '', finishedOn: undefined }
}
