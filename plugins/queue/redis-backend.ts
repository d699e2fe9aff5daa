/**
 * BullMQ on Redis (one node, Sentinel or Cluster): one queue per sink and shard, and an ingest write
 * that dedupes and enqueues in one Lua script per batch of requests and shard (merged-enqueue.ts,
 * ingest-script.ts): the dedupe mark, lasting the dedupe window, is set and every chosen sink's job
 * added atomically, or nothing is written for a copy seen before; a failed write leaves no mark
 * behind (Customer.io's retry is accepted). Key layout: keyspace.ts. Connections: redis-topology.ts.
 *
 * Everything that reads queues reads every shard: counts are sums, dead letters are merged by time,
 * replay walks every shard, and a sink's workers (one per shard) share its concurrency.
 */
import { Queue, UnrecoverableError, Worker, type JobsOptions, type MinimalJob } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from '../../src/logger.js'
import type { QuarantineConfig } from '../../src/config/types.js'
import { retryDelayMs } from '../../src/sinks/retry-policy.js'
import { DeadLetterNow, eventsOf, isEventGroup, type EventGroup, type JobData } from '../../src/sinks/job.js'
import { GroupConcurrency } from './group-concurrency.js'
import { EventPermits } from './event-permits.js'
import { attemptsBefore, runEventGroup, type SplitJob } from './event-group.js'
import { RedisDeadLetterJobs } from './redis-dead-letters.js'
import { sampleEventCounts } from './redis-event-counts.js'
import { DeadLetterBook } from './dead-letter-book.js'
import { MergedEnqueue } from './merged-enqueue.js'
import type { Keyspace } from './keyspace.js'
import { PRODUCER_COMMAND_TIMEOUT_MS, closeClient, waitForConnection, type RedisClient, type RedisTopology } from './redis-topology.js'
import { ReplicaWatch, RedisSetupError, isCluster, isConnected, verifyRedis } from './redis-checks.js'
import { trimQuarantine, type QuarantineDrop } from './quarantine-trim.js'
import { SentinelFollower } from './sentinel-follow.js'
import {
  EVENT_JOB_NAME, QUARANTINE_QUEUE, deadLetterOf, type AdmissionRequest, type DeadLetter, type EnqueueRequest, type EventCounts, type IngestOutcome,
  type JobHandler, type QueueBackend, type QueueCounts, type Refusal, type WorkerSettings
} from './backend.js'
import { withTimeout } from './timeout.js'

const BACKOFF_TYPE = 'cio-gateway'
/** How long an ingest write may wait for Redis before the request is answered 503 (Customer.io waits 4 s). */
const STORE_TIMEOUT_MS = PRODUCER_COMMAND_TIMEOUT_MS
const COUNT_REFRESH_MS = 1000
const QUARANTINE_TRIM_MS = 10_000
/**
 * Delivered jobs kept per sink (over all its shards), for an hour at most: enough for the admin
 * API's `completed` count and a look at what went through. They hold their bodies and are outside
 * `queue.max_bytes`, so few are kept, and a cluster's shards share the number.
 */
const COMPLETED_KEPT_PER_SINK = 100
const COMPLETED_KEPT_SECONDS = 3600
/** On a cluster, one shard may hold this many times its even share of the high-water mark. */
const SHARD_SHARE_SLACK = 2

export interface RedisBackendOptions {
  readonly topology: RedisTopology
  readonly keyspace: Keyspace
  readonly dedupeWindowMs: number
  /** Replicas a write must reach before it is acknowledged (WAIT). */
  readonly replicasAck?: number
  readonly quarantine?: QuarantineConfig
  /** How often the quarantine is trimmed (where its worker runs); tests shorten it. */
  readonly quarantineTrimMs?: number
  /** Worker lock: a crashed worker's jobs are taken over after about this long. */
  readonly lockDurationMs?: number
  readonly queues: readonly string[]
  readonly logger: Logger
  /** Called with per-queue counts (summed over shards) at every refresh (for the queue_jobs gauge). */
  readonly onCounts?: (queue: string, counts: QueueCounts) => void
  /** Events acknowledged with fewer replicas than replicas_ack (none were online). */
  readonly onDegradedWrite?: (events: number) => void
  readonly onQuarantineDropped?: (reason: QuarantineDrop, events: number) => void
  /** A connection that should reconnect by itself ended for good: the process should be restarted. */
  readonly onConnectionLost?: (reason: string) => void
}

/** Events (estimated) a queue holds in one shard, waiting or delayed; and their bytes, with those being delivered. */
interface ShardBacklog { events: number, bytes: number }

export class RedisBackend implements QueueBackend {
  readonly mode = 'redis'
  /** Ingest writes only: a WAIT for replicas blocks its connection, and nothing else must queue behind it. */
  private readonly producer: RedisClient
  /** Everything else this process reads or writes off the workers: counts, dead letters, replay, checks. */
  private readonly reader: RedisClient
  private workerConnection: RedisClient | undefined
  /** `name` → the queue in every shard. */
  private readonly queues = new Map<string, Queue[]>()
  private readonly workers: Worker[] = []
  private backlogs = new Map<string, ShardBacklog[]>()
  /** Bytes of the quarantined bodies kept, as last measured by a trim (in any process). */
  private quarantineBytes = 0
  /**
   * Bytes being written, and written since the counts were last read. admit() reads counts
   * refreshed once a second: without these, a sender (or many at once) could write a second's
   * worth of events past max_bytes before the next count saw them.
   */
  private bytesWriting = 0
  private bytesWrittenSinceCount = 0
  /**
   * Bytes of the bodies this process quarantined lately, per second. A quarantined body is a dead
   * letter within moments, and dead letters are in no count: only the next trim (in whichever
   * process runs the quarantine's worker) measures it. Until that surely happened they are held
   * against max_bytes here, so a flood of distinct bodies cannot pass the budget between two trims.
   */
  private readonly recentQuarantine: Array<{ second: number, bytes: number }> = []
  private recentQuarantineBytes = 0
  private readonly timers: NodeJS.Timeout[] = []
  private closed = false
  private readonly writes: MergedEnqueue
  private readonly replicaWatch: ReplicaWatch
  private readonly sentinelFollower: SentinelFollower | undefined
  /** Settles once Redis was checked (version, shard count); rejects for good when it must not be used. */
  private verified: Promise<void> | undefined
  private setupError: RedisSetupError | undefined
  readonly deadLetterBook = new DeadLetterBook(new RedisDeadLetterJobs((name) => this.shardQueues(name), (attempts) => this.jobOptions(attempts)))

  constructor (private readonly options: RedisBackendOptions) {
    this.producer = options.topology.client('producer')
    this.producer.on('error', (error: Error) => this.logRedisError(error))
    this.reader = options.topology.client('state')
    this.reader.on('error', (error: Error) => this.logRedisError(error))
    this.watchForEnd(this.reader, 'the reading connection')
    for (const name of [...options.queues, QUARANTINE_QUEUE]) this.shardQueues(name)
    this.replicaWatch = new ReplicaWatch(this.reader, this.producer, options.keyspace, options.replicasAck ?? 0)
    const { connection } = options.topology
    this.sentinelFollower = connection.kind === 'sentinel' ? new SentinelFollower(connection, [this.producer as Redis, this.reader as Redis]) : undefined
    this.writes = new MergedEnqueue({
      client: async () => await this.client(),
      keyspace: options.keyspace,
      queue: (name, shard) => this.shardQueues(name)[shard] as Queue,
      jobOptions: (sink) => this.jobOptions(sink.retry.attempts),
      // One quarantined body per job: each is shown, replayed and dropped on its own.
      eventsPerJob: (queue) => queue === QUARANTINE_QUEUE ? 1 : Number.POSITIVE_INFINITY,
      dedupeTtlMs: options.dedupeWindowMs,
      timeoutMs: STORE_TIMEOUT_MS,
      replicas: async (shard) => await this.replicaWatch.requirement(shard),
      onDegraded: options.onDegradedWrite,
      onWriteFailed: () => this.lookForNewPrimary(),
      nodeOf: (shard) => this.replicaWatch.nodeOf(shard)
    })
    this.every(COUNT_REFRESH_MS, async () => await this.refresh())
    // Apart from the counts: a failover is when the replica counts change, and when counts may fail.
    // It also learns which slot each shard is in, for writes grouped by primary.
    this.every(COUNT_REFRESH_MS, async () => await this.replicaWatch.refresh().catch((error: Error) => this.logRedisError(error)))
  }

  /**
   * A write that timed out or found its node gone may mean a failover: a cluster's slot map is read
   * now rather than at the next interval (ioredis runs one refresh at a time); behind Sentinel the
   * sentinels are asked who the primary is (sentinel-follow.ts).
   */
  private lookForNewPrimary (): void {
    if (isCluster(this.producer)) this.producer.refreshSlotsCache()
    this.sentinelFollower?.writeFailed()
  }

  private every (ms: number, task: () => Promise<void>): void {
    const timer = setInterval(() => { void task() }, ms)
    timer.unref()
    this.timers.push(timer)
  }

  private lastRedisError = 0
  private logRedisError (error: Error): void {
    // ioredis reports every reconnect attempt; one line per 10 s is enough at 3 a.m.
    if (Date.now() - this.lastRedisError < 10_000) return
    this.lastRedisError = Date.now()
    this.options.logger.error({ error: error.message, redis: this.options.topology.describe() }, 'redis connection error')
  }

  private jobOptions (attempts: number): JobsOptions {
    return {
      attempts,
      backoff: { type: BACKOFF_TYPE },
      removeOnComplete: { count: Math.max(1, Math.ceil(COMPLETED_KEPT_PER_SINK / this.options.keyspace.shards)), age: COMPLETED_KEPT_SECONDS },
      removeOnFail: false
    }
  }

  /** The BullMQ queue of `name` in every shard (one on a single node or Sentinel), for readers of the dead letters. */
  shardQueues (name: string): readonly Queue[] {
    let queues: Queue[] | undefined = this.queues.get(name)
    if (queues === undefined) {
      queues = this.options.keyspace.shardPrefixes.map((prefix) => {
        const queue = new Queue(name, { connection: this.reader as never, prefix })
        queue.on('error', (error) => this.logRedisError(error))
        return queue
      })
      this.queues.set(name, queues)
    }
    return queues
  }

  /** The producer once connected and Redis checked; rejects in time when it is not reachable. */
  private async client (): Promise<RedisClient> {
    await withTimeout(this.ready(), STORE_TIMEOUT_MS, 'redis is not connected')
    return this.producer
  }

  private async ready (): Promise<void> {
    if (this.setupError !== undefined) throw this.setupError
    await Promise.all([waitForConnection(this.producer), waitForConnection(this.reader)])
    // Writes need the replica counts too (replicas_ack): they are read before the first.
    this.verified ??= verifyRedis(this.reader, this.options.keyspace, this.options.logger).then(async () => await this.replicaWatch.refresh()).catch((error: unknown) => {
      if (error instanceof RedisSetupError) {
        this.setupError = error
        this.options.logger.fatal({ redis: this.options.topology.describe() }, error.message)
      } else {
        // A connection that failed mid-check: check again at the next write.
        this.verified = undefined
      }
      throw error
    })
    await this.verified
  }

  /**
   * Checks Redis before the gateway listens, so a wrong shard count or an old Redis stops the start
   * with its reason. When Redis cannot be reached yet, the start goes on (webhooks get 503 until it
   * answers) and the check runs at the first write.
   */
  async start (): Promise<void> {
    try {
      await withTimeout(this.ready(), 5000, 'redis did not answer in time')
    } catch (error) {
      if (error instanceof RedisSetupError) throw error
      this.options.logger.warn({ error: (error as Error).message, redis: this.options.topology.describe() }, 'redis is not reachable yet: webhooks are answered 503 until it is')
    }
  }

  async enqueue (request: EnqueueRequest): Promise<IngestOutcome> {
    const bytes = request.payload.b.length * request.sinks.length
    this.bytesWriting += bytes
    try {
      const outcome = await this.writes.enqueue(request)
      if (outcome === 'accepted') {
        if (request.sinks.some((sink) => sink.name === QUARANTINE_QUEUE)) this.noteQuarantined(bytes)
        else this.bytesWrittenSinceCount += bytes
      }
      return outcome
    } finally {
      this.bytesWriting -= bytes
    }
  }

  admit (request: AdmissionRequest): Refusal | undefined {
    const { keyspace } = this.options
    const shard = keyspace.shardOf(request.source, request.dedupeKey)
    let events = 0
    let shardEvents = 0
    let bytes = this.quarantineBytes + this.recentQuarantineBytes + this.bytesWriting + this.bytesWrittenSinceCount
    for (const name of [...request.sinks, QUARANTINE_QUEUE]) {
      const backlogs = this.backlogs.get(name)
      if (backlogs === undefined) continue
      for (const backlog of backlogs) {
        events += backlog.events
        bytes += backlog.bytes
      }
      shardEvents += backlogs[shard]?.events ?? 0
    }
    if (events >= request.highWaterMark) return 'high_water_mark'
    if (keyspace.shards > 1 && shardEvents >= SHARD_SHARE_SLACK * request.highWaterMark / keyspace.shards) return 'high_water_mark'
    if (bytes >= request.maxBytes) return 'max_bytes'
    return undefined
  }

  async ping (): Promise<void> {
    // Waits for the first connection like a write would, so a gateway that just started is not "not ready" for a few ms.
    await this.client()
    await withTimeout(this.producer.ping(), STORE_TIMEOUT_MS, 'redis did not answer PING in time')
  }

  async counts (queue: string): Promise<QueueCounts> {
    const perShard = await Promise.all(this.shardQueues(queue).map(async (shardQueue) => await countsOf(shardQueue)))
    return sumCounts(perShard)
  }

  async deadLetters (queue: string, limit: number): Promise<DeadLetter[]> {
    // The newest `limit` jobs over all shards, read by id and failure time first; every job holds at least one event.
    const queues = this.shardQueues(queue)
    const newest = (await Promise.all(queues.map(async (shardQueue, shard) => {
      const entries = await this.reader.zrevrange(shardQueue.keys.failed as string, 0, Math.max(0, limit - 1), 'WITHSCORES')
      const found: Array<{ shard: number, id: string, failedAt: number }> = []
      for (let i = 0; i + 1 < entries.length; i += 2) found.push({ shard, id: entries[i] as string, failedAt: Number(entries[i + 1]) })
      return found
    }))).flat().sort((a, b) => b.failedAt - a.failedAt).slice(0, limit)
    const jobs = await Promise.all(newest.map(async ({ shard, id }) => await (queues[shard] as Queue).getJob(id)))
    return jobs.filter((job) => job !== undefined).flatMap((job) =>
      eventsOf(job.data as JobData).map((event) => deadLetterOf(String(job.id), event, attemptsBefore(job), job.failedReason ?? '', job.finishedOn))
    ).slice(0, limit)
  }

  async retryDeadLetters (queue: string, attempts: number): Promise<number> {
    // Only what failed before now: a replayed event that fails again at once is not taken twice.
    return await this.deadLetterBook.retry(queue, { filter: { failedTo: Date.now() + 1 } }, attempts)
  }

  async eventCounts (queue: string): Promise<EventCounts> {
    return await sampleEventCounts(this.shardQueues(queue), await this.counts(queue))
  }

  runWorker (queue: string, settings: WorkerSettings, handler: JobHandler): void {
    const { keyspace } = this.options
    const connection = this.workerConnection ??= this.sharedWorkerConnection()
    // The sink's events in hand are shared by its workers of every shard (not multiplied by the shards).
    // They bound one shard too: the job concurrency follows an average of events per job, and a run of
    // small jobs followed by large ones put 16,000 events in hand against 2,000 wanted (a Node 24
    // worker draining a backlog: up to 145 MB live, and out of memory at its 160 MB heap in some runs).
    const permits = new EventPermits(settings.concurrency)
    const perShard = Math.max(1, Math.ceil(settings.concurrency / keyspace.shards))
    this.shardQueues(queue).forEach((shardQueue, shard) => {
      const splitJobs = async (jobs: readonly SplitJob[]): Promise<void> => {
        await shardQueue.addBulk(jobs.map((job) => ({
          name: EVENT_JOB_NAME, data: job.data, opts: { ...this.jobOptions(job.attempts), jobId: job.id, delay: job.delayMs }
        })))
      }
      const concurrency = new GroupConcurrency(perShard)
      const worker: Worker = new Worker(queue, async (job) => {
        const data = job.data as JobData
        const events = eventsOf(data).length
        worker.concurrency = concurrency.after(events)
        const release = await permits.acquire(events)
        try {
          await runJob(job, data, settings, handler, splitJobs)
        } finally {
          release()
        }
      }, {
        connection: connection as never,
        prefix: keyspace.shardPrefixes[shard] as string,
        concurrency: concurrency.current,
        // A crash mid-batch leaves jobs stalled; they are taken over rather than failed (at-least-once).
        maxStalledCount: 10,
        lockDuration: this.options.lockDurationMs ?? 30_000,
        stalledInterval: this.options.lockDurationMs ?? 30_000,
        // BullMQ waits 15 s by default before fetching again after a Redis error; after a short outage
        // or a failover that is 15 s of lag for nothing. Redis' own reconnect backoff already paces it.
        runRetryDelay: 1000,
        settings: {
          // Split-off jobs carry the attempts their events had before, so backoff keeps growing.
          backoffStrategy: (attemptsMade: number, _type?: string, error?: Error, job?: MinimalJob) =>
            retryDelayMs(attemptsMade + ((job?.data as Partial<EventGroup> | undefined)?.a ?? 0), settings.retry, error)
        }
      })
      worker.on('error', (error) => this.logRedisError(error))
      this.workers.push(worker)
    })
    if (queue === QUARANTINE_QUEUE && this.options.quarantine !== undefined) this.every(this.options.quarantineTrimMs ?? QUARANTINE_TRIM_MS, async () => await this.trimQuarantine())
  }

  /** One connection for every worker's commands; BullMQ opens a blocking one of its own per worker. */
  private sharedWorkerConnection (): RedisClient {
    const connection = this.options.topology.client('worker')
    connection.on('error', (error: Error) => this.logRedisError(error))
    this.watchForEnd(connection, 'the workers\' connection')
    return connection
  }

  /**
   * These connections reconnect by themselves; one that ends all the same (ioredis 5 can end a
   * Sentinel client whose failover detector hears of a failover while it reconnects) would leave the
   * process unable to work for good: it is reported, so the process is restarted.
   */
  private watchForEnd (client: RedisClient, what: string): void {
    client.on('end', () => {
      if (this.closed) return
      this.options.logger.fatal({ redis: this.options.topology.describe() }, `${what} to Redis ended for good: restarting the process`)
      this.options.onConnectionLost?.(`${what} to Redis ended`)
    })
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
    for (const timer of this.timers) clearInterval(timer)
    this.sentinelFollower?.stop()
    await this.stopWorkers()
    const queues = [...this.queues.values()].flat()
    await settleStartup(queues)
    await Promise.allSettled(queues.map(async (queue) => await queue.close()))
    if (this.workerConnection !== undefined) await closeClient(this.workerConnection)
    await Promise.all([closeClient(this.producer), closeClient(this.reader)])
  }

  private noteQuarantined (bytes: number): void {
    const second = Math.floor(Date.now() / 1000)
    const last = this.recentQuarantine.at(-1)
    if (last?.second === second) last.bytes += bytes
    else this.recentQuarantine.push({ second, bytes })
    this.recentQuarantineBytes += bytes
  }

  /** Forgets the quarantined bytes that two trims and a count have had the time to measure. */
  private forgetMeasuredQuarantine (): void {
    const measuredBy = (Date.now() - 2 * (this.options.quarantineTrimMs ?? QUARANTINE_TRIM_MS) - COUNT_REFRESH_MS) / 1000
    while (this.recentQuarantine.length > 0 && (this.recentQuarantine[0] as { second: number }).second + 1 <= measuredBy) {
      this.recentQuarantineBytes -= (this.recentQuarantine.shift() as { bytes: number }).bytes
    }
  }

  private async refresh (): Promise<void> {
    this.forgetMeasuredQuarantine()
    if (!isConnected(this.reader)) return
    try {
      // Writes that ended before the counts are read are in them; later ones stay added until the next read.
      const written = this.bytesWrittenSinceCount
      const backlogs = new Map<string, ShardBacklog[]>()
      await Promise.all([...this.queues].map(async ([name, queues]) => {
        const perShard = await Promise.all(queues.map(async (queue) => await countsOf(queue)))
        // The mark is in events; a job holds one event or a group of them.
        const eventsPerJob = this.writes.eventsPerJob(name)
        const bytesPerEvent = this.writes.bytesPerEvent(name)
        backlogs.set(name, perShard.map((counts) => {
          // The mark counts events waiting; the bytes are also those a worker holds (active jobs stay in Redis until settled).
          const events = Math.round((counts.waiting + counts.delayed) * eventsPerJob)
          return { events, bytes: Math.round((counts.waiting + counts.delayed + counts.active) * eventsPerJob) * bytesPerEvent }
        }))
        this.options.onCounts?.(name, sumCounts(perShard))
      }))
      this.backlogs = backlogs
      this.bytesWrittenSinceCount -= written
      const measured = await this.reader.hvals(this.quarantineBytesKey)
      this.quarantineBytes = measured.reduce((sum, bytes) => sum + Number(bytes), 0)
    } catch (error) {
      this.logRedisError(error as Error)
    }
  }

  /** Bytes of the quarantined bodies per shard, written by whichever process trims. */
  private get quarantineBytesKey (): string {
    return `${this.options.keyspace.globalPrefix}:_quarantine_bytes`
  }

  private async trimQuarantine (): Promise<void> {
    const limits = this.options.quarantine
    if (limits === undefined || !isConnected(this.reader)) return
    const queues = this.shardQueues(QUARANTINE_QUEUE)
    try {
      for (let shard = 0; shard < queues.length; shard++) {
        const { bytes } = await trimQuarantine({
          limits,
          shards: queues.length,
          queue: (k) => queues[k] as Queue,
          onDropped: (reason, events) => {
            this.options.logger.warn({ reason, events }, 'quarantined bodies dropped: the quarantine is bounded (quarantine.max_events, quarantine.max_age)')
            this.options.onQuarantineDropped?.(reason, events)
          }
        }, shard)
        await this.reader.hset(this.quarantineBytesKey, String(shard), String(bytes))
      }
    } catch (error) {
      this.logRedisError(error as Error)
    }
  }
}

/** One job: a group of events settled one by one, or a single event (quarantine, jobs from before groups). */
async function runJob (job: Parameters<typeof runEventGroup>[0], data: JobData, settings: WorkerSettings, handler: JobHandler,
  splitJobs: (jobs: readonly SplitJob[]) => Promise<void>): Promise<void> {
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
}

async function countsOf (queue: Queue): Promise<QueueCounts> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized')
  return {
    waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
    completed: counts.completed ?? 0
  }
}

function sumCounts (all: readonly QueueCounts[]): QueueCounts {
  const total: QueueCounts = { waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 }
  for (const counts of all) {
    for (const state of Object.keys(total) as (keyof QueueCounts)[]) total[state] += counts[state]
  }
  return total
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

/** Where dedupe marks live on one node: `{prefix}:_dedupe:{source}:{key}` (keyspace.ts has every shard's). */
export function dedupePrefixOf (prefix: string): string {
  return `${prefix}:_dedupe:`
}
