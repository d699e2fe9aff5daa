/**
 * The dead-letter jobs of a BullMQ queue (its failed set) in every shard, read and rewritten for
 * dead-letter-book.ts.
 *
 * Reading: the ids in the failed sets are taken once when a walk begins (failed-set scores are
 * failure times, so the shards merge newest first), then the jobs are read in pages, one pipeline
 * of HMGETs per shard and page, only the fields needed (a job also keeps stack traces).
 *
 * Rewriting is guarded: a small script changes or removes a job only while it is still in the
 * failed set with the data that was read (compared by SHA-1), so two operators, or an operator and
 * a replay, never act on a job the other has changed. Re-queueing:
 *   - a whole job: its data loses a split group's `a`/`d` history, its `attempts` option becomes
 *     the sink's, then BullMQ's own retry moves it to waiting with its attempts reset (as
 *     the first replay did);
 *   - part of a group: a new job with those events is added first, then the old one keeps the rest;
 *     if the old one changed meanwhile, the new one is taken back. A crash between the two leaves
 *     the events in both (delivered once more on a later replay: at least once, never lost).
 */
import { createHash, randomBytes } from 'node:crypto'
import { Job, type JobsOptions, type Queue } from 'bullmq'
import type { Cluster, Redis } from 'ioredis'
import { eventsOf, isEventGroup, type EventGroup, type JobData, type JobPayload } from '../../src/sinks/job.js'
import { EVENT_JOB_NAME } from './backend.js'
import type { DeadLetterJobs, StoredDeadLetterJob } from './dead-letter-book.js'
import { attemptsBefore } from './event-group.js'

const PAGE = 500
/** Pages read ahead of the one being used: a listing of thousands waits on Redis once, not once per page. */
const READ_AHEAD = 4

export interface RedisDeadLetterJob extends StoredDeadLetterJob {
  readonly shard: number
  readonly id: string
  /** The job's data as read, parsed and as text (a rewrite checks by SHA-1 that it is unchanged). */
  readonly data: JobData
  readonly text: string
  /** The job's BullMQ options as stored (JSON). */
  readonly opts: string
}

type Client = Redis | Cluster
type RewriteCommand = (failed: string, job: string, logs: string, id: string, sha1: string, data: string, opts: string) => Promise<number>

/**
 * Changes or removes a job while it is still a dead letter with the data read. KEYS: failed set,
 * job hash, job logs; ARGV: job id, SHA-1 of the data read, new data ('' removes the job), new
 * options ('' keeps them). Answers 1 when done, 0 when the job is not as it was read.
 */
const REWRITE_LUA = `#!lua
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local data = redis.call('HGET', KEYS[2], 'data')
if not data or redis.sha1hex(data) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2], KEYS[3])
  return 1
end
redis.call('HSET', KEYS[2], 'data', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'opts', ARGV[4]) end
return 1
`

export class RedisDeadLetterJobs implements DeadLetterJobs<RedisDeadLetterJob> {
  /**
   * @param shardQueues a sink's queue in every shard (RedisBackend.shardQueues)
   * @param jobOptions the options of a new job with `attempts` attempts, as ingest writes them
   */
  constructor (private readonly shardQueues: (name: string) => readonly Queue[], private readonly jobOptions: (attempts: number) => JobsOptions) {}

  async * pages (name: string): AsyncIterable<readonly RedisDeadLetterJob[]> {
    const queues = this.shardQueues(name)
    const startedAt = Date.now()
    const entries = (await Promise.all(queues.map(async (queue, shard) => {
      const flat = await (await clientOf(queue)).zrevrangebyscore(queue.keys.failed as string, startedAt, '-inf', 'WITHSCORES')
      const found: Array<{ shard: number, id: string, failedAt: number }> = []
      for (let i = 0; i + 1 < flat.length; i += 2) found.push({ shard, id: flat[i] as string, failedAt: Number(flat[i + 1]) })
      return found
    }))).flat().sort((a, b) => b.failedAt - a.failedAt)
    const readPage = async (page: typeof entries): Promise<RedisDeadLetterJob[]> => {
      const read = await Promise.all(queues.map(async (queue, shard) => {
        const ids = page.filter((entry) => entry.shard === shard).map((entry) => entry.id)
        return ids.length === 0 ? [] : await readJobs(queue, shard, ids)
      }))
      // Back in failure order across shards; jobs removed since the walk began are gone.
      const byKey = new Map(read.flat().map((job) => [job.key, job]))
      return page.map((entry) => byKey.get(keyOf(entry.shard, entry.id))).filter((job) => job !== undefined)
    }
    const ahead: Array<Promise<RedisDeadLetterJob[]>> = []
    let next = 0
    const readAhead = (): void => {
      for (; ahead.length < READ_AHEAD && next < entries.length; next += PAGE) {
        const reading = readPage(entries.slice(next, next + PAGE))
        // A walk left early (a listing that has its page) never awaits the pages read ahead.
        reading.catch(() => {})
        ahead.push(reading)
      }
    }
    readAhead()
    while (ahead.length > 0) {
      const page = await (ahead.shift() as Promise<RedisDeadLetterJob[]>)
      readAhead()
      yield page
    }
  }

  async job (name: string, key: string): Promise<RedisDeadLetterJob | undefined> {
    const match = /^([0-9]+):(.+)$/.exec(key)
    const queue = match === null ? undefined : this.shardQueues(name)[Number(match[1])]
    if (match === null || queue === undefined) return undefined
    const client = await clientOf(queue)
    const id = match[2] as string
    if (await client.zscore(queue.keys.failed as string, id) === null) return undefined
    return (await readJobs(queue, Number(match[1]), [id]))[0]
  }

  async requeue (name: string, job: RedisDeadLetterJob, taken: readonly JobPayload[], kept: readonly JobPayload[], attempts: number): Promise<boolean> {
    const queue = this.shardQueues(name)[job.shard] as Queue
    if (kept.length === 0) {
      // The events start afresh: a split group's history goes, and the budget is the sink's.
      const data = isEventGroup(job.data) ? JSON.stringify({ m: job.data.m }) : JSON.stringify(job.data)
      const opts = JSON.stringify({ ...JSON.parse(job.opts) as Record<string, unknown>, attempts })
      if (!await rewrite(queue, job, data, opts)) return false
      const bullJob = await Job.fromId(queue, job.id)
      try {
        if (bullJob === undefined) return false
        await bullJob.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
        return true
      } catch {
        // Removed or retried by someone else between the rewrite and the retry.
        return false
      }
    }
    const id = `${job.id}-c${randomBytes(4).toString('hex')}`
    await queue.add(EVENT_JOB_NAME, { m: taken }, { ...this.jobOptions(attempts), jobId: id })
    if (await rewrite(queue, job, JSON.stringify({ ...job.data as EventGroup, m: kept }), '')) return true
    await queue.remove(id)
    return false
  }

  async discard (name: string, job: RedisDeadLetterJob, kept: readonly JobPayload[]): Promise<boolean> {
    const queue = this.shardQueues(name)[job.shard] as Queue
    return await rewrite(queue, job, kept.length === 0 ? '' : JSON.stringify({ ...job.data as EventGroup, m: kept }), '')
  }
}

function keyOf (shard: number, id: string): string {
  return `${shard}:${id}`
}

async function clientOf (queue: Queue): Promise<Client> {
  // BullMQ types its connection narrowly; it is the ioredis client the backend gave it.
  return await queue.client as unknown as Client
}

async function readJobs (queue: Queue, shard: number, ids: readonly string[]): Promise<RedisDeadLetterJob[]> {
  const pipeline = (await clientOf(queue)).pipeline()
  for (const id of ids) pipeline.hmget(queue.toKey(id), 'data', 'opts', 'atm', 'failedReason', 'finishedOn')
  const answers = await pipeline.exec() ?? []
  const jobs: RedisDeadLetterJob[] = []
  answers.forEach(([error, fields], index) => {
    const [text, opts, attemptsMade, failedReason, finishedOn] = (fields ?? []) as Array<string | null>
    if (error !== null || text === null || text === undefined) return
    const data = JSON.parse(text) as JobData
    const id = ids[index] as string
    jobs.push({
      key: keyOf(shard, id),
      shard,
      id,
      data,
      text,
      opts: opts ?? '{}',
      events: eventsOf(data),
      failedAt: finishedOn === null || finishedOn === undefined ? undefined : Number(finishedOn),
      attempts: attemptsBefore({ attemptsMade: Number(attemptsMade ?? 0), data }),
      error: failedReason ?? ''
    })
  })
  return jobs
}

const commands = new WeakMap<Client, RewriteCommand>()

async function rewrite (queue: Queue, job: RedisDeadLetterJob, data: string, opts: string): Promise<boolean> {
  const client = await clientOf(queue)
  let command = commands.get(client)
  if (command === undefined) {
    client.defineCommand('cioRewriteDeadLetter', { numberOfKeys: 3, lua: REWRITE_LUA })
    command = (client as unknown as Record<'cioRewriteDeadLetter', RewriteCommand>).cioRewriteDeadLetter.bind(client)
    commands.set(client, command)
  }
  const key = queue.toKey(job.id)
  const sha1 = createHash('sha1').update(job.text).digest('hex')
  return await command(queue.keys.failed as string, key, `${key}:logs`, job.id, sha1, data, opts) === 1
}
