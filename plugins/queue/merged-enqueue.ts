/**
 * The ingest write of the Redis backend, with the writes of concurrent requests merged.
 *
 * Every request that reaches `enqueue` during one turn of the event loop joins one call of the
 * batch script (ingest-script.ts), so a busy gateway makes one Redis round trip (one write, one read,
 * one timer) per turn instead of one per request. Semantics stay those of one write per request:
 *   - an event's dedupe check and its jobs (one per routed sink) are written together by a script,
 *     and Redis runs a script alone: concurrent copies of one event, in the same batch or not, see
 *     all of the other's jobs or none;
 *   - a batch that fails as a whole (Redis away, no answer in time) fails every request in it, and
 *     nothing of it was written, so no dedupe mark stays behind;
 *   - results map back per request: `accepted`, `duplicate`, or an error for that request alone (a
 *     queue whose keys are broken in Redis).
 *
 * The job's data JSON (which holds the whole body as a string) is serialised once per event for all
 * its sinks, and each sink's encoded options once per sink.
 */
import { randomBytes } from 'node:crypto'
import { Job, type JobsOptions, type Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { EVENT_JOB_NAME, type EnqueueRequest, type IngestOutcome, type SinkQueueSettings } from './backend.js'
import { ERROR_PREFIX, INGEST_BATCH_LUA, MAX_EVENTS_PER_JOB, batchArguments, type BatchEvent, type BatchResult, type QueueTarget } from './ingest-script.js'
import { withTimeout } from './timeout.js'

type QueueClient = Awaited<Queue['client']>
type BatchScript = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<BatchResult[]>

/** Requests merged into one batch at most; more wait for the next one (in the same turn). */
const MAX_REQUESTS_PER_BATCH = 256
const SCRIPT_COMMAND = 'cioIngestBatch'

interface Pending {
  readonly request: EnqueueRequest
  readonly jobId: string
  readonly resolve: (outcome: IngestOutcome) => void
  readonly reject: (error: Error) => void
}

export interface MergedEnqueueOptions {
  /** The producer connection, once ready; rejects when Redis cannot be reached in time. */
  readonly client: () => Promise<QueueClient>
  readonly queue: (name: string) => Queue
  /** BullMQ options of a sink's jobs. */
  readonly jobOptions: (sink: SinkQueueSettings) => JobsOptions
  /** Dedupe marks are `{dedupePrefix}{source}:{dedupe key}`. */
  readonly dedupePrefix: string
  readonly dedupeTtlMs: number
  readonly timeoutMs: number
}

export class MergedEnqueue {
  private pending: Pending[] = []
  private scheduled = false
  /** Job ids: unique per process start, then a counter; never an integer, never a ':' (BullMQ's rules). */
  private readonly idPrefix = `g${randomBytes(8).toString('hex')}-`
  private idCounter = 0
  /** Per sink settings object: a config reload brings new ones, with perhaps other retry options. */
  private readonly targets = new WeakMap<SinkQueueSettings, QueueTarget>()
  private readonly flushNow = (): void => this.flush()
  /** Moving average of the events per job written, per queue: the backlog in events is estimated from it. */
  private readonly groupSizes = new Map<string, number>()

  constructor (private readonly options: MergedEnqueueOptions) {}

  /** Dedupes and enqueues one event for its sinks; resolves once Redis confirmed the batch it joined. */
  enqueue (request: EnqueueRequest): Promise<IngestOutcome> {
    return new Promise<IngestOutcome>((resolve, reject) => {
      // One id per event: job ids are per queue, so its sinks can share it.
      this.pending.push({ request, jobId: this.idPrefix + (this.idCounter++).toString(36), resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(this.flushNow)
      }
    })
  }

  private flush (): void {
    this.scheduled = false
    while (this.pending.length > 0) {
      const batch = this.pending.length <= MAX_REQUESTS_PER_BATCH ? this.pending : this.pending.slice(0, MAX_REQUESTS_PER_BATCH)
      this.pending = batch === this.pending ? [] : this.pending.slice(MAX_REQUESTS_PER_BATCH)
      this.write(batch).catch((error: unknown) => {
        const reason = error instanceof Error ? error : new Error(String(error))
        for (const item of batch) item.reject(reason)
      })
    }
  }

  private async write (batch: readonly Pending[]): Promise<void> {
    const client = await this.options.client()
    const queueIndex = new Map<string, number>()
    const queues: QueueTarget[] = []
    const events: BatchEvent[] = []
    for (const { request, jobId } of batch) {
      const indexes: number[] = []
      for (const sink of request.sinks) {
        let index = queueIndex.get(sink.name)
        if (index === undefined) {
          index = queues.length
          queueIndex.set(sink.name, index)
          queues.push(this.target(sink))
        }
        indexes.push(index)
      }
      const { payload } = request
      events.push({ dedupeId: `${request.source}:${request.dedupeKey}`, jobId, timestamp: payload.r, data: JSON.stringify(payload), queues: indexes })
    }
    const { keys, args } = batchArguments(this.options.dedupePrefix, this.options.dedupeTtlMs, EVENT_JOB_NAME, queues, events)
    const results = await withTimeout(scriptOf(client)(keys.length, ...keys, ...args), this.options.timeoutMs, 'redis did not answer in time')
    if (!Array.isArray(results) || results.length !== batch.length) throw new Error(`redis answered ${String(results?.length)} results for ${batch.length} events`)
    const acceptedPerQueue = new Array<number>(queues.length).fill(0)
    for (let i = 0; i < batch.length; i++) {
      const { resolve, reject } = batch[i] as Pending
      const result = results[i]
      if (result === 1) {
        for (const index of (events[i] as BatchEvent).queues) acceptedPerQueue[index] = (acceptedPerQueue[index] ?? 0) + 1
        resolve('accepted')
      } else if (result === 0) {
        resolve('duplicate')
      } else {
        reject(new Error(String(result).replace(ERROR_PREFIX, '')))
      }
    }
    for (const [name, index] of queueIndex) this.noteGroupSize(name, acceptedPerQueue[index] ?? 0)
  }

  /** Events per job in the queue's recent writes (1 before any): the jobs it holds times this estimates its events. */
  eventsPerJob (queue: string): number {
    return this.groupSizes.get(queue) ?? 1
  }

  private noteGroupSize (queue: string, events: number): void {
    if (events === 0) return
    const jobs = Math.ceil(events / MAX_EVENTS_PER_JOB)
    const previous = this.groupSizes.get(queue) ?? events / jobs
    this.groupSizes.set(queue, previous + 0.1 * (events / jobs - previous))
  }

  /** A sink's queue keys and encoded options, computed once per sink. */
  private target (sink: SinkQueueSettings): QueueTarget {
    let target = this.targets.get(sink)
    if (target === undefined) {
      const queue = this.options.queue(sink.name)
      const { wait, paused, meta, active, marker } = queue.keys
      target = {
        wait: wait as string,
        paused: paused as string,
        meta: meta as string,
        active: active as string,
        marker: marker as string,
        jobPrefix: `${queue.qualifiedName}:`,
        optionsJson: JSON.stringify(Job.optsAsJSON(this.options.jobOptions(sink)))
      }
      this.targets.set(sink, target)
    }
    return target
  }
}

const scripts = new WeakMap<QueueClient, BatchScript>()

/** The batch script as a command of the connection (ioredis sends EVALSHA, and EVAL when Redis lost it). */
function scriptOf (client: QueueClient): BatchScript {
  let script = scripts.get(client)
  if (script === undefined) {
    // No numberOfKeys: the number of keys (five per queue of the batch) is the first argument of each call.
    ;(client as unknown as Pick<Redis, 'defineCommand'>).defineCommand(SCRIPT_COMMAND, { lua: INGEST_BATCH_LUA })
    script = (client as unknown as Record<typeof SCRIPT_COMMAND, BatchScript>)[SCRIPT_COMMAND].bind(client)
    scripts.set(client, script)
  }
  return script
}
