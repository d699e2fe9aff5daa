/** The contract both queue backends (Redis/BullMQ and the embedded in-process one) fulfil. */
import type { JobPayload, JobView } from '../../src/sinks/job.js'
import type { RetrySettings } from '../../src/sinks/contract.js'
import type { DeadLetterBook } from './dead-letter-book.js'

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

/** Why a write is refused before it is tried: ingest answers 503 + Retry-After with this reason. */
export type Refusal = 'high_water_mark' | 'max_bytes'

/** What a write is held against before it is tried. */
export interface AdmissionRequest {
  /** The sinks configured now: their backlog counts (a removed sink's queue, which nothing drains, does not). */
  readonly sinks: readonly string[]
  /** The event's place (its shard, on a cluster). */
  readonly source: string
  readonly dedupeKey: string
  readonly highWaterMark: number
  readonly maxBytes: number
}

export interface QueueCounts {
  waiting: number
  active: number
  delayed: number
  failed: number
  completed: number
}

/** Events (not jobs) a queue holds, for the console: exact, or estimated from a sample of its jobs where jobs hold groups. */
export interface EventCounts {
  readonly waiting: number
  readonly active: number
  readonly delayed: number
  readonly failed: number
  /** True when a count is an estimate (jobs times the events per job of a sample). */
  readonly estimated: boolean
  /** When the event waiting longest was received, ms; undefined when none waits. */
  readonly oldestWaitingAt: number | undefined
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

/**
 * How quarantined bodies are written: like an event for one sink, `_quarantine`, whose worker fails
 * them at once into the dead letters (one attempt, one event per job so that each can be shown,
 * replayed and dropped on its own).
 */
export const QUARANTINE_SETTINGS: SinkQueueSettings = { name: QUARANTINE_QUEUE, retry: { attempts: 1, initialDelayMs: 1000, maxDelayMs: 1000 } }

/** The BullMQ job name of events (and of groups of them) in the sink queues. */
export const EVENT_JOB_NAME = 'event'

export interface QueueBackend {
  readonly mode: 'redis' | 'embedded'
  /** Connects and checks the store before the gateway listens; rejects when it must not be used. */
  start (): Promise<void>
  /**
   * Dedupe and enqueue in one atomic step: either every chosen sink gets a job and the dedupe mark is
   * set, or (on a duplicate) nothing is written. Rejects when the event could not be stored.
   */
  enqueue (request: EnqueueRequest): Promise<IngestOutcome>
  /**
   * Whether a write may be tried now (cheap: read on every request, from counts refreshed every
   * second): undefined, or why not. Held against the high-water mark (events waiting or delayed in
   * the sinks named and the quarantine; on a cluster also the event's shard's share) and against
   * `max_bytes` (the bytes those events and the quarantine hold). Where a job holds a group of
   * events, the events are estimated from the jobs and the events per job recently written.
   */
  admit (request: AdmissionRequest): Refusal | undefined
  /** Throws when the backend cannot store events right now. */
  ping (): Promise<void>
  counts (queue: string): Promise<QueueCounts>
  deadLetters (queue: string, limit: number): Promise<DeadLetter[]>
  /**
   * Moves the queue's dead letters (those failed until now) back to waiting, each with `attempts`
   * attempts (the sink's full `retry.attempts`); answers how many events.
   */
  retryDeadLetters (queue: string, attempts: number): Promise<number>
  eventCounts (queue: string): Promise<EventCounts>
  /** A queue's dead letters event by event: listed, grouped, re-queued, discarded, exported by reference or filter. */
  readonly deadLetterBook: DeadLetterBook
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

/** The attempts a replayed dead letter of `queue` gets: its sink's whole retry budget. */
export function replayAttempts (sinks: ReadonlyMap<string, { readonly retry: { readonly attempts: number } }>, queue: string): number {
  return sinks.get(queue)?.retry.attempts ?? QUARANTINE_SETTINGS.retry.attempts
}
