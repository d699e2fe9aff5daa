/** The contract both queue backends (Redis/BullMQ and the embedded in-process one) fulfil. */
import type { JobPayload, JobView } from '../../src/sinks/job.js'
import type { RetrySettings } from '../../src/sinks/contract.js'

export type IngestOutcome = 'accepted' | 'duplicate'

export interface EnqueueRequest {
  readonly source: string
  /** event_id, or the SHA-256 of the raw body */
  readonly dedupeKey: string
  readonly payload: JobPayload
  /** Sinks chosen by the routes; each gets its own job. */
  readonly sinks: readonly SinkQueueSettings[]
}

export interface SinkQueueSettings {
  readonly name: string
  readonly retry: RetrySettings
}

export interface QueueCounts {
  waiting: number
  active: number
  delayed: number
  failed: number
  completed: number
}

export interface DeadLetter {
  id: string
  event_id: string
  source: string
  received_at: string
  failed_at: string | null
  attempts: number
  error: string
  /** The event as received: parsed JSON when it parses, else the raw text. */
  event: unknown
}

export interface WorkerSettings {
  /** Events a worker should hold at once (jobs, where each holds one; fewer where jobs hold groups). */
  readonly concurrency: number
  readonly retry: RetrySettings
}

export type JobHandler = (job: JobView) => Promise<void>

/** The reserved queue of signed bodies that cannot be routed (SPEC §5). */
export const QUARANTINE_QUEUE = '_quarantine'

/** The BullMQ job name of events (and of groups of them) in the sink queues. */
export const EVENT_JOB_NAME = 'event'

export interface QueueBackend {
  readonly mode: 'redis' | 'embedded'
  /**
   * Dedupe and enqueue in one atomic step: either every chosen sink gets a job and the dedupe mark is
   * set, or (on a duplicate) nothing is written. Rejects when the event could not be stored.
   */
  enqueue (request: EnqueueRequest): Promise<IngestOutcome>
  /** Stores a signed body that cannot be routed in the _quarantine dead-letter store. */
  quarantine (payload: JobPayload, reason: string): Promise<void>
  /**
   * Events waiting or delayed in these sinks' queues, as of the last refresh (cheap: read on every
   * request). Where a job holds a group of events, estimated from the jobs and the events per job
   * recently written. The caller names the sinks configured now: a removed sink's queue keeps its
   * jobs, which nothing drains, and must not hold ingest above the high-water mark for good.
   */
  backlog (sinks: readonly string[]): number
  /** Throws when the backend cannot store events right now. */
  ping (): Promise<void>
  counts (queue: string): Promise<QueueCounts>
  deadLetters (queue: string, limit: number): Promise<DeadLetter[]>
  /** Moves a queue's dead letters back to waiting; answers how many. */
  retryDeadLetters (queue: string): Promise<number>
  /** Runs `handler` for the queue's jobs; DeadLetterNow from the handler fails the job for good. */
  runWorker (queue: string, settings: WorkerSettings, handler: JobHandler): void
  /**
   * Stops one queue's worker (a sink removed or replaced by a config reload): it takes no more jobs,
   * and this resolves once its running jobs are done. Waiting jobs stay in the queue.
   */
  stopWorker (queue: string): Promise<void>
  /** Stops taking jobs and waits for the running ones. */
  stopWorkers (): Promise<void>
  close (): Promise<void>
}

export function deadLetterOf (id: string, data: JobPayload, attempts: number, error: string, failedAt: number | undefined): DeadLetter {
  let event: unknown = data.b
  try { event = JSON.parse(data.b) } catch { /* quarantined bodies may not be JSON: show them raw */ }
  return {
    id,
    event_id: data.e,
    source: data.s,
    received_at: new Date(data.r).toISOString(),
    failed_at: failedAt === undefined ? null : new Date(failedAt).toISOString(),
    attempts,
    error,
    event
  }
}
