/** What a queue job holds: the event as received, once per sink. Short keys keep Redis small. */
export interface JobPayload {
  /** source name */
  readonly s: string
  /** receipt time, ms since the epoch */
  readonly r: number
  /** the event's raw text (of a batch, the member's own), UTF-8 */
  readonly b: string
  /** dedupe key: event_id, or sha256 of the body */
  readonly e: string
  /** source type, when not `customerio`: how the body is read (routing fields, event time) */
  readonly t?: string
}

/**
 * What a BullMQ job written by ingest holds: the events of one ingest write routed to its sink (up to
 * 64), and, for the jobs a partly failed job is split into, what came before.
 */
export interface EventGroup {
  readonly m: readonly JobPayload[]
  /**
   * Attempts the events had before this job (0 when absent): BullMQ counts this job's own from 0.
   * On a dead-letter group, one less, since the take that fails it counts as one of BullMQ's.
   */
  readonly a?: number
  /** Set on a group of dead letters split from a job: the reason; the job fails with it when taken. */
  readonly d?: string
}

/** A queue job's data: one event (quarantine, the embedded queue, jobs from before grouping) or a group. */
export type JobData = JobPayload | EventGroup

export function isEventGroup (data: JobData): data is EventGroup {
  return Array.isArray((data as Partial<EventGroup>).m)
}

/** The events a job holds, whatever its shape. */
export function eventsOf (data: JobData): readonly JobPayload[] {
  return isEventGroup(data) ? data.m : [data]
}

/** The part of a queue job the sink machinery needs, whatever the backend. */
export interface JobView {
  readonly id: string
  readonly data: JobPayload
  /** Attempts finished before this one (0 on the first). */
  readonly attemptsMade: number
}

/** Thrown to a queue backend to dead-letter a job now, without further attempts. */
export class DeadLetterNow extends Error {
  override readonly name = 'DeadLetterNow'
}
