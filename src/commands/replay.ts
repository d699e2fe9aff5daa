/**
 * `cio-gateway replay --sink NAME [--config F]` (SPEC §9): a short-lived process that re-queues one
 * sink's dead letters in Redis, for the running workers to deliver. The embedded queue lives inside
 * the gateway process, so there it cannot work: the admin API of that process does the same.
 */
import { Redis } from 'ioredis'
import { pino } from 'pino'
import type { GatewayConfig } from '../config/types.js'
import { QUARANTINE_QUEUE } from '../../plugins/queue/backend.js'
import { RedisBackend } from '../../plugins/queue/redis-backend.js'
import type { Output } from './output.js'

/**
 * How replay waits for Redis: new attempts for `tryForMs`, `pauseMs` apart, each allowed
 * `connectTimeoutMs` (docs/operations.md states the resulting bound, generated from these).
 */
export const REDIS_WAIT = { tryForMs: 3000, pauseMs: 250, connectTimeoutMs: 2000 } as const

export async function replay (config: GatewayConfig, sink: string, io: Output): Promise<number> {
  if (config.queue.redisUrl === '') {
    io.err(`replay needs a Redis queue, and ${config.file} has no queue.redis_url: the embedded queue lives inside the running gateway.\n` +
      `Use its admin API instead: POST /admin/queues/${sink}/retry\n`)
    return 1
  }
  if (sink !== QUARANTINE_QUEUE && !config.sinks.has(sink)) {
    io.err(`sink '${sink}' is not configured in ${config.file} (configured: ${[...config.sinks.keys(), QUARANTINE_QUEUE].join(', ')})\n`)
    return 1
  }
  try {
    await reachable(config.queue.redisUrl)
  } catch (error) {
    io.err(`cio-gateway replay: cannot reach Redis at ${redisHost(config.queue.redisUrl)}: ${(error as Error).message}\n`)
    return 1
  }
  const backend = new RedisBackend({
    url: config.queue.redisUrl,
    prefix: config.queue.prefix,
    dedupeWindowMs: config.dedupe.windowMs,
    queues: [],
    logger: pino({ level: 'silent' })
  })
  try {
    const retried = await backend.retryDeadLetters(sink)
    io.out(`re-queued ${retried} dead-lettered event${retried === 1 ? '' : 's'} of sink '${sink}' (redis ${redisHost(config.queue.redisUrl)}, prefix ${config.queue.prefix})\n`)
    return 0
  } catch (error) {
    io.err(`cio-gateway replay: ${(error as Error).message}\n`)
    return 1
  } finally {
    await backend.close()
  }
}

/**
 * Checks Redis answers before BullMQ is involved: BullMQ would wait for a connection forever, and
 * closing it half-connected takes seconds. A few quick attempts ride out a Redis that is restarting.
 */
async function reachable (url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: REDIS_WAIT.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null
  })
  // connect() rejects with a bare "Connection is closed."; the error event says why (ECONNREFUSED, ENOTFOUND, …).
  let cause: Error | undefined
  client.on('error', (error: Error) => { cause = error })
  const deadline = Date.now() + REDIS_WAIT.tryForMs
  try {
    for (;;) {
      try {
        if (client.status !== 'ready') await client.connect()
        await client.ping()
        return
      } catch (error) {
        if (Date.now() > deadline) throw cause ?? error
        client.disconnect()
        await new Promise((resolve) => setTimeout(resolve, REDIS_WAIT.pauseMs))
      }
    }
  } finally {
    client.disconnect()
  }
}

/** host:port of a Redis URL, never its password. */
export function redisHost (url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port === '' ? '6379' : parsed.port}`
  } catch {
    return 'unknown host'
  }
}
