/** The Redis the tests share: REDIS_URL or 127.0.0.1:6379, with a unique key prefix per test. */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { eventsOf, type JobData } from '../../src/sinks/job.js'
import { Keyspace } from '../../plugins/queue/keyspace.js'
import { RedisBackend, type RedisBackendOptions } from '../../plugins/queue/redis-backend.js'
import { RedisTopology } from '../../plugins/queue/redis-topology.js'

export const REDIS_URL = process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '' ? process.env.REDIS_URL : 'redis://127.0.0.1:6379'

export function uniquePrefix (label = 'test'): string {
  return `cio-test-${label}-${randomUUID().slice(0, 8)}`
}

/** Deletes every key under `prefix:` (teardown of one test's queues). */
export async function deleteKeys (prefix: string, url = REDIS_URL): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    let deleted = 0
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) deleted += await client.del(...keys)
    } while (cursor !== '0')
    return deleted
  } finally {
    client.disconnect()
  }
}

/** The event ids waiting in a queue, over its jobs (one event each, or a group of them). */
export async function waitingEventIds (client: Redis, prefix: string, queue: string): Promise<string[]> {
  const ids = await client.lrange(`${prefix}:${queue}:wait`, 0, -1)
  const events: string[] = []
  for (const id of ids.reverse()) {
    const data = JSON.parse(String(await client.hget(`${prefix}:${queue}:${id}`, 'data'))) as JobData
    for (const event of eventsOf(data)) events.push(event.e)
  }
  return events
}

/** A Redis backend on one node (REDIS_URL unless `url`), keys under `prefix`, dedupe window one minute unless set. */
export function redisBackend (options: Omit<RedisBackendOptions, 'topology' | 'keyspace' | 'dedupeWindowMs'> & { prefix: string, url?: string, dedupeWindowMs?: number }): RedisBackend {
  const { prefix, url, dedupeWindowMs, ...rest } = options
  return new RedisBackend({
    ...rest,
    topology: new RedisTopology({ kind: 'single', url: url ?? REDIS_URL }),
    keyspace: new Keyspace(prefix, 1, false),
    dedupeWindowMs: dedupeWindowMs ?? 60_000
  })
}
