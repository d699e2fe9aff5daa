/**
 * What one gateway's keys hold in the shared test Redis: INFO's `used_memory` counts every test
 * running beside it, so the keys under one prefix are measured one by one (MEMORY USAGE, every
 * field counted), and sorted by what they are for.
 */
import type { Redis } from 'ioredis'

export interface PrefixMemory {
  keys: number
  /** Every key under the prefix. */
  bytes: number
  /** The dedupe marks (`<prefix>:_dedupe:*`), one per stored event for `dedupe.window`. */
  marks: number
  markBytes: number
  /** Jobs kept after delivery (BullMQ keeps the last 1000 per queue for an hour, for the counts), with their bodies. */
  completedJobs: number
  completedBytes: number
  /** The rest: queued and dead-lettered jobs, the quarantine, BullMQ's bookkeeping. */
  queuedBytes: number
}

const PIPELINE = 1000

export async function prefixMemory (client: Redis, prefix: string, queues: readonly string[]): Promise<PrefixMemory> {
  const completed = new Set<string>()
  for (const queue of queues) {
    for (const id of await client.zrange(`${prefix}:${queue}:completed`, 0, -1)) completed.add(`${prefix}:${queue}:${id}`)
  }
  const memory: PrefixMemory = { keys: 0, bytes: 0, marks: 0, markBytes: 0, completedJobs: 0, completedBytes: 0, queuedBytes: 0 }
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', PIPELINE)
    cursor = next
    const pipeline = client.pipeline()
    for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')
    const sizes = await pipeline.exec() ?? []
    keys.forEach((key, index) => {
      // A key deleted between SCAN and MEMORY USAGE answers nil.
      const bytes = Number(sizes[index]?.[1] ?? 0)
      memory.keys++
      memory.bytes += bytes
      if (key.startsWith(`${prefix}:_dedupe:`)) {
        memory.marks++
        memory.markBytes += bytes
      } else if (completed.has(key)) {
        memory.completedJobs++
        memory.completedBytes += bytes
      } else {
        memory.queuedBytes += bytes
      }
    })
  } while (cursor !== '0')
  return memory
}

/** INFO memory's `used_memory`: the whole server's, other tests' keys included. */
export async function usedMemory (client: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1] ?? 0)
}
