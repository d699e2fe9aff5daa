/**
 * The ingest write of the Redis backend, with the writes of concurrent requests merged.
 *
 * Every request that reaches `enqueue` during one turn of the event loop joins one MULTI … EXEC, so
 * a busy gateway makes one Redis round trip (one write, one read, one timer) per turn instead of one
 * per request. Semantics stay those of one MULTI per request:
 *   - a request's adds (one per routed sink, each with the dedupe key) are consecutive inside the
 *     transaction, and Redis never interleaves a MULTI with other clients: concurrent copies of one
 *     event, in the same transaction or not, see all of the other's jobs or none;
 *   - a transaction that fails as a whole (Redis away, no answer in time) fails every request in
 *     it, and nothing of it was written, so no dedupe mark stays behind;
 *   - results map back per request: `accepted` when one of its adds returned its own job id, else
 *     `duplicate`; a request whose add failed inside the transaction fails alone.
 *
 * Jobs are added with BullMQ's own addJob script through the queue's `scripts.addJob`, as
 * `Job.addJob` does, without building a `Job` per add: the job's data JSON (which holds the whole
 * body as a string) is serialised once per event for all its sinks, and the encoded options are
 * computed once per sink. A test compares what this writes with what `Job.addJob` writes.
 */
import { randomBytes } from 'node:crypto'
import { Job, type JobJson, type JobsOptions, type Queue, type RedisJobOptions } from 'bullmq'
import type { EnqueueRequest, IngestOutcome, SinkQueueSettings } from './backend.js'
import { withTimeout } from './timeout.js'

type QueueClient = Awaited<Queue['client']>

/** Requests merged into one transaction at most; more wait for the next one (in the same turn). */
const MAX_REQUESTS_PER_TRANSACTION = 256
const JOB_NAME = 'event'
/** The key BullMQ stores `deduplication` under in encoded options. */
const DEDUPLICATION_KEY = Object.keys(Job.optsAsJSON({ deduplication: { id: 'x' } }))[0] as string

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
  /** BullMQ options of a sink's jobs, without deduplication. */
  readonly jobOptions: (sink: SinkQueueSettings) => JobsOptions
  readonly dedupeTtlMs: number
  readonly timeoutMs: number
}

export class MergedEnqueue {
  private pending: Pending[] = []
  private scheduled = false
  /** Job ids: unique per process start, then a counter; never an integer, never a ':' (BullMQ's rules). */
  private readonly idPrefix = `g${randomBytes(8).toString('hex')}-`
  private idCounter = 0
  private readonly encodedOptions = new Map<string, RedisJobOptions>()
  private readonly flushNow = (): void => this.flush()

  constructor (private readonly options: MergedEnqueueOptions) {}

  /** Dedupes and enqueues one event for its sinks; resolves once Redis confirmed the transaction it joined. */
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
      const batch = this.pending.length <= MAX_REQUESTS_PER_TRANSACTION ? this.pending : this.pending.slice(0, MAX_REQUESTS_PER_TRANSACTION)
      this.pending = batch === this.pending ? [] : this.pending.slice(MAX_REQUESTS_PER_TRANSACTION)
      this.write(batch).catch((error: unknown) => {
        const reason = error instanceof Error ? error : new Error(String(error))
        for (const item of batch) item.reject(reason)
      })
    }
  }

  private async write (batch: readonly Pending[]): Promise<void> {
    const client = await this.options.client()
    const transaction = client.multi()
    let commands = 0
    for (const { request, jobId } of batch) {
      const { payload } = request
      const job = {
        name: JOB_NAME,
        data: JSON.stringify(payload),
        timestamp: payload.r,
        deduplicationId: `${request.source}:${request.dedupeKey}`
      } as JobJson
      const dedupe = { id: job.deduplicationId as string, ttl: this.options.dedupeTtlMs }
      for (const sink of request.sinks) {
        const opts = { ...this.encoded(sink), [DEDUPLICATION_KEY]: dedupe } as RedisJobOptions
        // Queues the command on the transaction synchronously; its promise settles with exec (checked below).
        this.options.queue(sink.name).scripts.addJob(transaction, job, opts, jobId).catch(() => {})
        commands++
      }
    }
    // MULTI itself is the first queued command. A mismatch would map results to the wrong requests.
    const queued = (transaction as unknown as { length: number }).length
    if (queued !== commands + 1) throw new Error(`redis transaction holds ${queued - 1} commands, expected ${commands}`)
    const results = await withTimeout(transaction.exec(), this.options.timeoutMs, 'redis did not answer in time')
    if (results === null) throw new Error('redis transaction was discarded')
    let index = 0
    for (const { request, jobId, resolve, reject } of batch) {
      let added = false
      let failure: Error | null = null
      for (let i = 0; i < request.sinks.length; i++) {
        const [error, id] = results[index++] as [Error | null, unknown]
        if (error !== null) failure = error
        else if (id === jobId) added = true
      }
      if (failure !== null) reject(failure)
      else resolve(added ? 'accepted' : 'duplicate')
    }
  }

  /** The sink's job options as BullMQ stores them (its short keys), computed once per sink. */
  private encoded (sink: SinkQueueSettings): RedisJobOptions {
    let encoded = this.encodedOptions.get(sink.name)
    if (encoded === undefined) {
      encoded = Job.optsAsJSON(this.options.jobOptions(sink))
      this.encodedOptions.set(sink.name, encoded)
    }
    return encoded
  }
}
