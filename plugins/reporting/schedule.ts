/**
 * When polls run. With Redis: a BullMQ job scheduler on the queue `_reporting`, upserted by every
 * worker replica under one id, so the deployment gets one job per interval whoever created it; a
 * global concurrency of 1 keeps a slow poll from overlapping the next one on another replica (which
 * would also double the request rate). Without Redis: a timer in this process.
 */
import { Queue, Worker } from 'bullmq'
import type { Logger } from '../../src/logger.js'
import { closeClient, type RedisClient } from '../queue/redis-topology.js'

export const REPORTING_QUEUE = '_reporting'
const SCHEDULER_ID = 'reporting-poll'
/** Retry of the scheduler's setup while Redis is unreachable at start. */
const SETUP_RETRY_MS = 5000
/**
 * How often the scheduler is upserted again once set up (at most; never more often than the
 * interval). BullMQ keeps a schedule going by adding the next job as it runs one; a failover that
 * loses that write (replication is asynchronous) would stop polls for good. The upsert is idempotent:
 * it only writes the next job when it is missing.
 */
const RENEW_EVERY_MS = 60_000
/** A poll job whose worker died (or whose primary failed over) runs again after about this long. */
const POLL_LOCK_MS = 5000

export type PollRun = (signal: AbortSignal) => Promise<unknown>

export interface PollSchedule {
  start (): void
  /** Stops scheduling, aborts a poll under way and waits for it to end. Idempotent. */
  close (): Promise<void>
}

export class BullmqPollSchedule implements PollSchedule {
  private queue: Queue | undefined
  private worker: Worker | undefined
  private readonly abort = new AbortController()
  private setupTimer: NodeJS.Timeout | undefined
  private closing: Promise<void> | undefined
  private connection: RedisClient | undefined

  /** `connect` gives a patient connection (BullMQ's needs, see redis-topology.ts); `prefix` keeps its keys in one slot on a cluster. */
  constructor (private readonly options: { connect: () => RedisClient, prefix: string, intervalMs: number, logger: Logger, run: PollRun }) {}

  start (): void {
    const { logger } = this.options
    const connection = this.connection = this.options.connect()
    connection.on('error', (error: Error) => logger.debug({ error: error.message }, 'reporting connection error'))
    this.queue = new Queue(REPORTING_QUEUE, { connection: connection as never, prefix: this.options.prefix })
    this.queue.on('error', (error) => logger.debug({ error: error.message }, 'reporting queue error'))
    this.worker = new Worker(REPORTING_QUEUE, async () => await this.options.run(this.abort.signal), {
      connection: connection as never,
      prefix: this.options.prefix,
      concurrency: 1,
      lockDuration: POLL_LOCK_MS,
      stalledInterval: POLL_LOCK_MS,
      runRetryDelay: 1000
    })
    this.worker.on('error', (error) => logger.debug({ error: error.message }, 'reporting worker error'))
    this.worker.on('failed', (_job, error) => {
      if (!this.abort.signal.aborted) logger.warn({ error: error.message }, 'reporting poll failed; the next interval tries again')
    })
    void this.setup(this.queue)
  }

  private async setup (queue: Queue): Promise<void> {
    try {
      await queue.setGlobalConcurrency(1)
      await queue.upsertJobScheduler(SCHEDULER_ID, { every: this.options.intervalMs }, {
        name: 'poll',
        // One attempt: the next interval is the retry. Finished jobs are kept a while for inspection.
        opts: { attempts: 1, removeOnComplete: { count: 50 }, removeOnFail: { count: 50 } }
      })
      this.setupAgainIn(Math.max(RENEW_EVERY_MS, this.options.intervalMs), queue)
    } catch (error) {
      if (this.closing !== undefined) return
      this.options.logger.warn({ error: (error as Error).message, retry_ms: SETUP_RETRY_MS }, 'reporting schedule not set up yet')
      this.setupAgainIn(SETUP_RETRY_MS, queue)
    }
  }

  private setupAgainIn (ms: number, queue: Queue): void {
    if (this.closing !== undefined) return
    this.setupTimer = setTimeout(() => { void this.setup(queue) }, ms)
    this.setupTimer.unref()
  }

  async close (): Promise<void> {
    this.closing ??= (async () => {
      if (this.setupTimer !== undefined) clearTimeout(this.setupTimer)
      this.abort.abort()
      await this.worker?.close()
      await this.queue?.close()
      if (this.connection !== undefined) await closeClient(this.connection)
    })()
    await this.closing
  }
}

/** Embedded mode: one process, so a timer is the whole schedule. The first poll runs at start. */
export class TimerPollSchedule implements PollSchedule {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private readonly abort = new AbortController()

  constructor (private readonly options: { intervalMs: number, logger: Logger, run: PollRun }) {}

  start (): void {
    this.tick()
  }

  private tick (): void {
    if (this.abort.signal.aborted) return
    const started = Date.now()
    this.running = this.options.run(this.abort.signal).then(() => undefined, (error: Error) => {
      if (!this.abort.signal.aborted) this.options.logger.warn({ error: error.message }, 'reporting poll failed; the next interval tries again')
    }).finally(() => {
      this.running = undefined
      if (this.abort.signal.aborted) return
      // The next poll starts one interval after this one started, or at once if this one took longer.
      this.timer = setTimeout(() => this.tick(), Math.max(0, started + this.options.intervalMs - Date.now()))
      this.timer.unref()
    })
  }

  async close (): Promise<void> {
    this.abort.abort()
    if (this.timer !== undefined) clearTimeout(this.timer)
    await this.running
  }
}
