/**
 * BullMQ on Redis: one queue per sink, and an ingest write that dedupes and enqueues in one Lua
 * script per batch of requests (merged-enqueue.ts, ingest-script.ts): the dedupe mark, lasting the
 * dedupe window, is set and every chosen sink's job added atomically, or nothing is written for a
 * copy seen before; a failed write leaves no mark behind (Customer.io's retry is accepted).
 */
import { randomUUID } from 'node:crypto'
import { Queue, UnrecoverableError, Worker, type JobsOptions, type MinimalJob } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from '../../src/logger.js'
import { retryDelayMs } from '../../src/sinks/retry-policy.js'
import { DeadLetterNow, eventsOf, isEventGroup, type EventGroup, type JobData, type JobPayload } from '../../src/sinks/job.js'
import { GroupConcurrency } from './group-concurrency.js'
import { attemptsBefore, runEventGroup, type SplitJob } from './event-group.js'
import { replayDeadLetters } from './redis-replay.js'
import { MergedEnqueue } from './merged-enqueue.js'
import {
  EVENT_JOB_NAME, QUARANTINE_QUEUE, deadLetterOf, type DeadLetter, type EnqueueRequest, type IngestOutcome, type JobHandler,
  type QueueBackend, type QueueCounts, type WorkerSettings
} from './backend.js'
import { withTimeout } from './timeout.js'

const BACKOFF_TYPE = 'cio-gateway'
/** How long an ingest write may wait for Redis before the request is answered 503 (Customer.io waits 4 s). */
const STORE_TIMEOUT_MS = 1500
const COUNT_REFRESH_MS = 1000
const COMPLETED_KEPT = { count: 1000, age: 3600 }

export interface RedisBackendOptions {
  readonly url: string
  readonly prefix: string
  readonly dedupeWindowMs: number
  /** Worker lock: a crashed worker's jobs are taken over after about this long. */
  readonly lockDurationMs?: number
  readonly queues: readonly string[]
  readonly logger: Logger
  /** Called with per-queue counts at every refresh (for the queue_jobs gauge). */
  readonly onCounts?: (queue: string, counts: QueueCounts) => void
}

export class RedisBackend implements QueueBackend {
  readonly mode = 'redis'
  private readonly producer: Redis
  private readonly queues = new Map<string, Queue>()
  private readonly workers: Worker[] = []
  /** Events waiting or delayed per sink queue, as of the last refresh. */
  private backlogByQueue = new Map<string, number>()
  private refreshTimer: NodeJS.Timeout | undefined
  private closed = false
  private readonly writes: MergedEnqueue

  constructor (private readonly options: RedisBackendOptions) {
    // Fail fast instead of queueing commands while Redis is away: the caller answers 503 at once.
    this.producer = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: STORE_TIMEOUT_MS,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(100 * times, 2000)
    })
    this.producer.on('error', (error) => this.logRedisError(error))
    for (const name of [...options.queues, QUARANTINE_QUEUE]) this.queueFor(name)
    this.writes = new MergedEnqueue({
      client: async () => await this.client(),
      queue: (name) => this.queueFor(name),
      jobOptions: (sink) => jobOptions(sink.retry.attempts),
      dedupePrefix: dedupePrefixOf(options.prefix),
      dedupeTtlMs: options.dedupeWindowMs,
      timeoutMs: STORE_TIMEOUT_MS
    })
    this.refreshTimer = setInterval(() => { void this.refreshCounts() }, COUNT_REFRESH_MS)
    this.refreshTimer.unref()
  }

  private lastRedisError = 0
  private logRedisError (error: Error): void {
    // ioredis reports every reconnect attempt; one line per 10 s is enough at 3 a.m.
    if (Date.now() - this.lastRedisError < 10_000) return
    this.lastRedisError = Date.now()
    this.options.logger.error({ error: error.message }, 'redis connection error')
  }

  private queueFor (name: string): Queue {
    let queue = this.queues.get(name)
    if (queue === undefined) {
      queue = new Queue(name, { connection: this.producer, prefix: this.options.prefix })
      queue.on('error', (error) => this.logRedisError(error))
      this.queues.set(name, queue)
    }
    return queue
  }

  private async client (): Promise<Awaited<Queue['client']>> {
    const queue = this.queueFor(QUARANTINE_QUEUE)
    return await withTimeout(queue.client, STORE_TIMEOUT_MS, 'redis is not connected')
  }

  async enqueue (request: EnqueueRequest): Promise<IngestOutcome> {
    return await this.writes.enqueue(request)
  }

  async quarantine (payload: JobPayload, reason: string): Promise<void> {
    await this.client()
    await withTimeout(this.queueFor(QUARANTINE_QUEUE).add(reason, payload, { ...jobOptions(1), jobId: randomUUID() }),
      STORE_TIMEOUT_MS, 'redis did not answer in time')
  }

  backlog (sinks: readonly string[]): number {
    let total = 0
    for (const sink of sinks) total += this.backlogByQueue.get(sink) ?? 0
    return total
  }

  async ping (): Promise<void> {
    // Waits for the first connection like a write would, so a gateway that just started is not "not ready" for a few ms.
    await this.client()
    await withTimeout(this.producer.ping(), STORE_TIMEOUT_MS, 'redis did not answer PING in time')
  }

  async counts (queue: string): Promise<QueueCounts> {
    const counts = await this.queueFor(queue).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized')
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
      completed: counts.completed ?? 0
    }
  }

  async deadLetters (queue: string, limit: number): Promise<DeadLetter[]> {
    // Every job holds at least one event, so `limit` jobs are enough.
    const jobs = await this.queueFor(queue).getFailed(0, Math.max(0, limit - 1))
    return jobs.filter((job) => job !== undefined).flatMap((job) =>
      eventsOf(job.data as JobData).map((event) => deadLetterOf(String(job.id), event, attemptsBefore(job), job.failedReason ?? '', job.finishedOn))
    ).slice(0, limit)
  }

  async retryDeadLetters (queue: string): Promise<number> {
    return await replayDeadLetters(this.queueFor(queue))
  }

  runWorker (queue: string, settings: WorkerSettings, handler: JobHandler): void {
    const splitJobs = async (jobs: readonly SplitJob[]): Promise<void> => {
      await this.queueFor(queue).addBulk(jobs.map((job) => ({
        name: EVENT_JOB_NAME, data: job.data, opts: { ...jobOptions(job.attempts), jobId: job.id, delay: job.delayMs }
      })))
    }
    const concurrency = new GroupConcurrency(settings.concurrency)
    const worker = new Worker(queue, async (job) => {
      const data = job.data as JobData
      worker.concurrency = concurrency.after(eventsOf(data).length)
      if (isEventGroup(data)) {
        await runEventGroup(job, data, settings.retry, handler, splitJobs)
        return
      }
      try {
        await handler({ id: String(job.id), data, attemptsMade: job.attemptsMade })
      } catch (error) {
        if (error instanceof DeadLetterNow) throw new UnrecoverableError(error.message)
        throw error
      }
    }, {
      connection: { url: this.options.url, maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(200 * times, 2000) } as never,
      prefix: this.options.prefix,
      concurrency: concurrency.current,
      // A crash mid-batch leaves jobs stalled; they are taken over rather than failed (at-least-once).
      maxStalledCount: 10,
      lockDuration: this.options.lockDurationMs ?? 30_000,
      stalledInterval: this.options.lockDurationMs ?? 30_000,
      // BullMQ waits 15 s by default before fetching again after a Redis error; after a short outage
      // that is 15 s of lag for nothing. Redis' own reconnect backoff already paces the attempts.
      runRetryDelay: 1000,
      settings: {
        // Split-off jobs carry the attempts their events had before, so backoff keeps growing.
        backoffStrategy: (attemptsMade: number, _type?: string, error?: Error, job?: MinimalJob) =>
          retryDelayMs(attemptsMade + ((job?.data as Partial<EventGroup> | undefined)?.a ?? 0), settings.retry, error)
      }
    })
    worker.on('error', (error) => this.logRedisError(error))
    this.workers.push(worker)
  }

  async stopWorker (queue: string): Promise<void> {
    const stopping = this.workers.filter((worker) => worker.name === queue)
    await settleStartup(stopping)
    // close() lets the running jobs finish; jobs still waiting stay in Redis.
    await Promise.all(stopping.map(async (worker) => await worker.close()))
    for (const worker of stopping) this.workers.splice(this.workers.indexOf(worker), 1)
  }

  async stopWorkers (): Promise<void> {
    await settleStartup(this.workers)
    await Promise.all(this.workers.map(async (worker) => await worker.close()))
    this.workers.length = 0
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer)
    await this.stopWorkers()
    await settleStartup([...this.queues.values()])
    await Promise.allSettled([...this.queues.values()].map(async (queue) => await queue.close()))
    await closeConnection(this.producer)
  }

  private async refreshCounts (): Promise<void> {
    if (this.producer.status !== 'ready') return
    try {
      const backlog = new Map<string, number>()
      for (const name of this.queues.keys()) {
        const counts = await this.counts(name)
        // The mark is in events; a job holds one event or a group of them.
        backlog.set(name, Math.round((counts.waiting + counts.delayed) * this.writes.eventsPerJob(name)))
        this.options.onCounts?.(name, counts)
      }
      this.backlogByQueue = backlog
    } catch (error) {
      this.logRedisError(error as Error)
    }
  }
}

/**
 * Lets BullMQ finish connecting before it is closed: closing in the middle of its start-up leaves
 * rejected promises nobody awaits. Bounded, since Redis may be down and never finish.
 */
async function settleStartup (items: readonly { waitUntilReady: () => Promise<unknown> }[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.allSettled(items.map(async (item) => await item.waitUntilReady())),
    new Promise((resolve) => { timer = setTimeout(resolve, 2000) })
  ])
  clearTimeout(timer)
}

/**
 * Quits cleanly. A connection still in its handshake is let finish first: ioredis rejects its
 * internal ready check with nobody listening if it is cut off in the middle.
 */
async function closeConnection (client: Redis): Promise<void> {
  if (client.status === 'connecting' || client.status === 'connect') {
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); client.off('ready', done); client.off('error', done); resolve() }
      const timer = setTimeout(done, 1000)
      client.once('ready', done)
      client.once('error', done)
    })
  }
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect())
  } else {
    client.disconnect()
  }
}

/** Where dedupe marks live: `{prefix}:_dedupe:{source}:{key}`; no sink queue can be named `_dedupe`. */
export function dedupePrefixOf (prefix: string): string {
  return `${prefix}:_dedupe:`
}

function jobOptions (attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: COMPLETED_KEPT,
    removeOnFail: false
  }
}
