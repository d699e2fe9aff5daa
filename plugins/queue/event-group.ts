/**
 * Runs one BullMQ job that holds a group of events (ingest writes one job per sink for the events of
 * one write; see ingest-script.ts) and settles every event on its own, as if each had its own job:
 *   - all delivered: the job completes;
 *   - all failed and may be retried: the job fails, and BullMQ retries the whole group with backoff;
 *   - all dead-lettered for one reason: the job fails for good with that reason;
 *   - anything else: the events that failed are split off into new jobs (one that retries the
 *     retryable events after their backoff with the attempts they have left, and one per reason for
 *     the dead-lettered ones, failed when taken), written before this job completes.
 *
 * Split jobs are named after the job and the attempt, so a worker that crashes after writing them
 * and runs the job again adds nothing twice. Every event not delivered by some run is in a job.
 */
import { UnrecoverableError, type Job } from 'bullmq'
import type { RetrySettings } from '../../src/sinks/contract.js'
import { retryDelayMs } from '../../src/sinks/retry-policy.js'
import { DeadLetterNow, type EventGroup, type JobPayload } from '../../src/sinks/job.js'
import type { JobHandler } from './backend.js'

/** A job to add for events split from a group. */
export interface SplitJob {
  readonly id: string
  readonly data: EventGroup
  readonly attempts: number
  readonly delayMs: number
}

/** Attempts the events of a job have had before its current one. */
export function attemptsBefore (job: Pick<Job, 'attemptsMade' | 'data'>): number {
  return job.attemptsMade + ((job.data as Partial<EventGroup>).a ?? 0)
}

export async function runEventGroup (job: Job, group: EventGroup, retry: RetrySettings, handler: JobHandler,
  split: (jobs: readonly SplitJob[]) => Promise<void>): Promise<void> {
  if (group.d !== undefined) throw new UnrecoverableError(group.d)
  const id = String(job.id)
  const attemptsMade = attemptsBefore(job)
  const outcomes = await Promise.allSettled(group.m.map(async (data) => await handler({ id, data, attemptsMade })))
  let delivered = 0
  const toRetry: JobPayload[] = []
  let retryError: unknown
  const dead = new Map<string, JobPayload[]>()
  outcomes.forEach((outcome, index) => {
    const event = group.m[index] as JobPayload
    if (outcome.status === 'fulfilled') {
      delivered++
    } else if (outcome.reason instanceof DeadLetterNow) {
      const reason = outcome.reason.message
      const events = dead.get(reason)
      if (events === undefined) dead.set(reason, [event])
      else events.push(event)
    } else {
      toRetry.push(event)
      retryError ??= outcome.reason
    }
  })
  if (toRetry.length === 0 && dead.size === 0) return
  if (delivered === 0 && dead.size === 0) throw retryError
  if (delivered === 0 && toRetry.length === 0 && dead.size === 1) throw new UnrecoverableError([...dead.keys()][0])

  const attempt = attemptsMade + 1
  // A dead-letter group's one take counts as an attempt in BullMQ: `a` leaves it out.
  const jobs: SplitJob[] = [...dead].map(([reason, events], index) => ({
    id: `${id}-d${attempt}-${index}`, data: { m: events, a: attemptsMade, d: reason }, attempts: 1, delayMs: 0
  }))
  if (toRetry.length > 0) {
    jobs.push({
      id: `${id}-r${attempt}`,
      data: { m: toRetry, a: attempt },
      // Not final, so at least one attempt is left.
      attempts: retry.attempts - attempt,
      delayMs: retryDelayMs(attempt, retry, retryError)
    })
  }
  await split(jobs)
}
