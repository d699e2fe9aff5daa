/**
 * Events (not jobs) in a sink's BullMQ queues, for the console's overview. A job holds one event
 * or a group of up to 64, and only reading a job tells how many, so each state's events are counted
 * from a sample of its jobs: exact when the state holds no more jobs than the sample, else the job
 * count times the sample's events per job. The sample is small and fixed (about 32 jobs per state
 * over all shards), so a refreshing overview costs Redis the same whatever the backlog.
 *
 * The oldest waiting event comes with it: BullMQ takes jobs from the tail of the wait list, so the
 * tail's job is the one waiting longest.
 */
import type { Queue } from 'bullmq'
import type { Cluster, Redis } from 'ioredis'
import { eventsOf, type JobData } from '../../src/sinks/job.js'
import type { EventCounts, QueueCounts } from './backend.js'

const SAMPLE_JOBS = 32

type State = 'waiting' | 'active' | 'delayed' | 'failed'
const STATES: readonly State[] = ['waiting', 'active', 'delayed', 'failed']

interface Sample { jobs: number, events: number }

/** `jobs`: the queue's job counts summed over shards (RedisBackend.counts). */
export async function sampleEventCounts (queues: readonly Queue[], jobs: QueueCounts): Promise<EventCounts> {
  const perShard = Math.max(1, Math.ceil(SAMPLE_JOBS / queues.length))
  const samples = new Map<State, Sample>(STATES.map((state) => [state, { jobs: 0, events: 0 }]))
  let oldestWaitingAt: number | undefined
  await Promise.all(queues.map(async (queue) => {
    const client = await queue.client as unknown as Redis | Cluster
    const ids = await Promise.all(STATES.map(async (state): Promise<string[]> => {
      if (jobs[state] === 0) return []
      switch (state) {
        // The tail first: the oldest job is the list's last.
        case 'waiting': return (await client.lrange(queue.keys.wait as string, -perShard, -1)).reverse()
        case 'active': return await client.lrange(queue.keys.active as string, 0, perShard - 1)
        case 'delayed': return await client.zrange(queue.keys.delayed as string, 0, perShard - 1)
        case 'failed': return await client.zrevrange(queue.keys.failed as string, 0, perShard - 1)
      }
    }))
    const pipeline = client.pipeline()
    for (const id of ids.flat()) pipeline.hget(queue.toKey(id), 'data')
    const answers = await pipeline.exec() ?? []
    let at = 0
    ids.forEach((stateIds, index) => {
      const sample = samples.get(STATES[index] as State) as Sample
      stateIds.forEach((_id, position) => {
        const [error, text] = answers[at++] ?? [null, null]
        if (error !== null || typeof text !== 'string') return
        const events = eventsOf(JSON.parse(text) as JobData)
        sample.jobs++
        sample.events += events.length
        if (STATES[index] === 'waiting' && position === 0) {
          for (const event of events) oldestWaitingAt = Math.min(oldestWaitingAt ?? event.r, event.r)
        }
      })
    })
  }))
  let estimated = false
  const events = (state: State): number => {
    const sample = samples.get(state) as Sample
    if (sample.jobs >= jobs[state]) return sample.events
    estimated = true
    return Math.round(jobs[state] * (sample.jobs === 0 ? 1 : sample.events / sample.jobs))
  }
  return { waiting: events('waiting'), active: events('active'), delayed: events('delayed'), failed: events('failed'), estimated, oldestWaitingAt }
}
