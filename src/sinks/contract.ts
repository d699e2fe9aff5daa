/**
 * What every sink implements, and what the shared worker machinery hands it. A sink sees batches of
 * events and answers per event; retries, backoff, dead-lettering, batching and metrics are the
 * worker's job (src/sinks/worker-runtime.ts), never the sink's.
 */
import type { Logger } from '../logger.js'

/** One event as a sink receives it. */
export interface DeliveryEvent {
  /** The event's id (a reporting webhook's event_id, a Data Pipelines messageId), or the SHA-256 of its raw text when it has none. */
  readonly eventId: string
  readonly source: string
  /** The type of that source, which says how `event` is shaped: `customerio` (reporting webhooks), `customerio_pipelines`. */
  readonly sourceType: string
  /**
   * The routing fields, as routes matched them: a reporting webhook's own `object_type` and
   * `metric`; for Data Pipelines the call type (`track`, `identify`, …) and the event name of a
   * `track` call, else the call type.
   */
  readonly objectType: string
  readonly metric: string
  /** When the event happened, ms since the epoch: its own time (Customer.io's timestamp) when usable, else `receivedAt`. */
  readonly timeMs: number
  /** When the gateway acked the event, ms since the epoch. */
  readonly receivedAt: number
  /** The event object as received (after the sink's redaction, if any). */
  readonly event: Readonly<Record<string, unknown>>
  /** The event's JSON text as received (re-serialised only when this sink redacts fields). */
  readonly body: string
  /** The event as one NDJSON line (no newline), with the `_gateway` field added. */
  readonly line: string
  /** Byte length of `line`, for `batch.max_bytes`. */
  readonly size: number
}

/**
 * The answer to one batch: events that failed, by their index in the batch. Omitted indexes were
 * delivered. Throwing from `deliver` fails the whole batch with that error.
 */
export interface BatchOutcome {
  readonly failures?: ReadonlyMap<number, Error>
}

export interface Sink {
  /** Connect, create tables, check buckets: I/O that `create` must not do. */
  start?(): Promise<void>
  deliver(batch: readonly DeliveryEvent[]): Promise<BatchOutcome | void>
  /** Idempotent; releases only what the sink opened. */
  close(): Promise<void>
}

export interface SinkContext {
  readonly name: string
  readonly logger: Logger
}

/** Options every sink accepts, already parsed into numbers. */
export interface BatchSettings { maxEvents: number; maxBytes: number; maxWaitMs: number }
export interface RetrySettings { attempts: number; initialDelayMs: number; maxDelayMs: number }
