/**
 * Replay of a BullMQ queue's dead letters (its failed set), each with a fresh retry budget.
 *
 * Why not `Queue.retryJobs()`: it keeps `attemptsMade`, so a replayed event whose attempts were
 * used up gets one try and is dead-lettered again at the first hiccup; the embedded queue starts
 * replayed jobs from zero, and an operator replaying after an outage expects the full `retry.*`.
 * `Job.retry({ resetAttemptsMade })` does that, one job at a time, atomically per job.
 *
 * Only jobs that failed before the replay started are taken (failed-set scores are failure times):
 * a replayed job that fails again at once lands back in the set with a later score and is not
 * picked up a second time, so the loop always ends.
 */
import { Job, type Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { eventsOf, isEventGroup, type JobData } from '../../src/sinks/job.js'

const PAGE = 500

/** Answers how many events were re-queued (a job may hold several). */
export async function replayDeadLetters (queue: Queue): Promise<number> {
  // BullMQ types its connection narrowly; it is the ioredis client the backend gave it.
  const client = await queue.client as unknown as Redis
  const startedAt = Date.now()
  let retried = 0
  // Jobs that could not be retried (removed meanwhile) stay at the front of the range; skip past them.
  let skipped = 0
  for (;;) {
    const ids = await client.zrangebyscore(queue.keys.failed as string, '-inf', startedAt, 'LIMIT', skipped, PAGE)
    if (ids.length === 0) return retried
    for (const id of ids) {
      const job = await Job.fromId(queue, id)
      try {
        if (job === undefined) throw new Error(`job ${id} is gone`)
        const data = job.data as JobData
        // A group split off as dead letters would fail again when taken, and one split off for a
        // retry would carry its earlier attempts: replayed events start afresh.
        if (isEventGroup(data) && (data.d !== undefined || data.a !== undefined)) await job.updateData({ m: data.m })
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
        retried += eventsOf(data).length
      } catch {
        skipped++
      }
    }
  }
}
