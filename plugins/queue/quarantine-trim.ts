/**
 * Keeps the quarantine bounded (SPEC §5: `quarantine: { max_events, max_age }`): quarantined bodies
 * are dead letters of the `_quarantine` queue, one event per job, and this drops the ones older than
 * `max_age` and then the oldest beyond `max_events`, counting each. It also measures the bytes the
 * quarantine holds, which count against `queue.max_bytes` in every process (they are kept in Redis:
 * an ingest process does not trim, but must know).
 *
 * The bound is per shard (`max_events / shards`, rounded up), since each shard's queue is trimmed on
 * its own; events hash evenly over shards, so the total stays within a shard's rounding of the bound.
 */
import type { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import type { QuarantineConfig } from '../../src/config/types.js'

export type QuarantineDrop = 'max_age' | 'max_events'

/** Removed at most per shard and pass, so one pass stays short; the next pass goes on. */
const MAX_REMOVED_PER_PASS = 10_000

export interface QuarantineTrimOptions {
  readonly limits: QuarantineConfig
  readonly shards: number
  /** The `_quarantine` queue of a shard. */
  readonly queue: (shard: number) => Queue
  readonly onDropped: (reason: QuarantineDrop, events: number) => void
}

export interface TrimResult {
  readonly dropped: number
  /** Bytes of the quarantined bodies kept. */
  readonly bytes: number
}

export async function trimQuarantine (options: QuarantineTrimOptions, shard: number): Promise<TrimResult> {
  const queue = options.queue(shard)
  const client = await queue.client as unknown as Redis
  const failedKey = queue.keys.failed as string
  const { maxAgeMs, maxEvents } = options.limits
  const aged = await queue.clean(maxAgeMs, MAX_REMOVED_PER_PASS, 'failed')
  if (aged.length > 0) options.onDropped('max_age', aged.length)

  const perShard = Math.ceil(maxEvents / options.shards)
  const excess = Math.min(MAX_REMOVED_PER_PASS, await client.zcard(failedKey) - perShard)
  let dropped = aged.length
  if (excess > 0) {
    // Oldest first: the failed set is scored by failure time.
    const oldest = await client.zrange(failedKey, 0, excess - 1)
    let removed = 0
    for (const id of oldest) removed += await queue.remove(id)
    if (removed > 0) options.onDropped('max_events', removed)
    dropped += removed
  }
  return { dropped, bytes: await storedBytes(client, queue, failedKey) }
}

/** Bytes of the data of every dead letter in the queue (all in one slot, so one pipeline). */
async function storedBytes (client: Redis, queue: Queue, failedKey: string): Promise<number> {
  const ids = await client.zrange(failedKey, 0, -1)
  if (ids.length === 0) return 0
  const pipeline = client.pipeline()
  for (const id of ids) pipeline.hstrlen(`${queue.qualifiedName}:${id}`, 'data')
  const answers = await pipeline.exec() ?? []
  let bytes = 0
  for (const [error, length] of answers) if (error === null) bytes += Number(length)
  return bytes
}
