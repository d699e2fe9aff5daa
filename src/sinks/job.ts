/** What a queue job holds: the event as received, once per sink. Short keys keep Redis small. */
export interface JobPayload {
  /** source name */
  readonly s: string
  /** receipt time, ms since the epoch */
  readonly r: number
  /** raw body, UTF-8 */
  readonly b: string
  /** dedupe key: event_id, or sha256 of the body */
  readonly e: string
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
