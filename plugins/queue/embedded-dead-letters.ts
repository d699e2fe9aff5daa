/**
 * The dead letters of the embedded queue, for dead-letter-book.ts. Each job holds one event here,
 * so an action always takes a whole job, and "changed since read" means "no longer a dead letter".
 */
import type { JobPayload } from '../../src/sinks/job.js'
import type { DeadLetterJobs, StoredDeadLetterJob } from './dead-letter-book.js'
import type { MemoryJob, MemoryQueue } from './embedded-backend.js'

const PAGE = 500

export interface EmbeddedDeadLetterJob extends StoredDeadLetterJob {
  readonly job: MemoryJob
}

export class EmbeddedDeadLetterJobs implements DeadLetterJobs<EmbeddedDeadLetterJob> {
  constructor (private readonly queue: (name: string) => MemoryQueue) {}

  async * pages (name: string): AsyncIterable<readonly EmbeddedDeadLetterJob[]> {
    // Newest last in `failed`; copied first, so the walk is over the dead letters of its start.
    const jobs = [...this.queue(name).failed].reverse()
    for (let start = 0; start < jobs.length; start += PAGE) yield jobs.slice(start, start + PAGE).map(stored)
  }

  async job (name: string, key: string): Promise<EmbeddedDeadLetterJob | undefined> {
    const job = this.queue(name).failed.find((candidate) => candidate.id === key)
    return job === undefined ? undefined : stored(job)
  }

  async requeue (name: string, { job }: EmbeddedDeadLetterJob, _taken: readonly JobPayload[], _kept: readonly JobPayload[], attempts: number): Promise<boolean> {
    const queue = this.queue(name)
    if (!queue.takeFailed(job)) return false
    queue.requeue(job, attempts)
    return true
  }

  async discard (name: string, { job }: EmbeddedDeadLetterJob): Promise<boolean> {
    return this.queue(name).discardFailed(job)
  }
}

function stored (job: MemoryJob): EmbeddedDeadLetterJob {
  return { key: job.id, job, events: [job.data], failedAt: job.finishedOn, attempts: job.attemptsMade, error: job.failedReason }
}
