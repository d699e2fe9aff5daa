/**
 * `cio-gateway replay --sink NAME [--config F]` (SPEC §9): a short-lived process that re-queues one
 * sink's dead letters in Redis, for the running workers to deliver. The embedded queue lives inside
 * the gateway process, so there it cannot work: the admin API of that process does the same.
 */
import { pino } from 'pino'
import type { GatewayConfig } from '../config/types.js'
import { QUARANTINE_QUEUE, replayAttempts } from '../../plugins/queue/backend.js'
import { keyspaceOf } from '../../plugins/queue/create.js'
import { RedisBackend } from '../../plugins/queue/redis-backend.js'
import { RedisTopology } from '../../plugins/queue/redis-topology.js'
import type { Output } from './output.js'

/**
 * How replay waits for Redis: new attempts for `tryForMs`, `pauseMs` apart, each allowed
 * `connectTimeoutMs` (docs/operations.md states the resulting bound, generated from these).
 */
export const REDIS_WAIT = { tryForMs: 3000, pauseMs: 250, connectTimeoutMs: 2000 } as const

export async function replay (config: GatewayConfig, sink: string, io: Output): Promise<number> {
  if (config.queue.redis === undefined) {
    io.err(`replay needs a Redis queue, and ${config.file} configures none (queue.redis_url, redis_sentinel or redis_cluster): the embedded queue lives inside the running gateway.\n` +
      `Use its admin API instead: POST /admin/queues/${sink}/retry\n`)
    return 1
  }
  if (sink !== QUARANTINE_QUEUE && !config.sinks.has(sink)) {
    io.err(`sink '${sink}' is not configured in ${config.file} (configured: ${[...config.sinks.keys(), QUARANTINE_QUEUE].join(', ')})\n`)
    return 1
  }
  const topology = new RedisTopology(config.queue.redis)
  // Checked before BullMQ is involved: BullMQ would wait for a connection forever, and closing it half-connected takes seconds.
  try {
    await topology.reachable({ tryForMs: REDIS_WAIT.tryForMs, pauseMs: REDIS_WAIT.pauseMs, attemptTimeoutMs: REDIS_WAIT.connectTimeoutMs })
  } catch (error) {
    io.err(`cio-gateway replay: cannot reach ${topology.describe()}: ${(error as Error).message}\n`)
    return 1
  }
  const backend = new RedisBackend({
    topology,
    keyspace: keyspaceOf(config.queue),
    dedupeWindowMs: config.dedupe.windowMs,
    queues: [],
    logger: pino({ level: 'silent' })
  })
  try {
    await backend.start()
    const retried = await backend.retryDeadLetters(sink, replayAttempts(config.sinks, sink))
    io.out(`re-queued ${retried} dead-lettered event${retried === 1 ? '' : 's'} of sink '${sink}' (${topology.describe()}, prefix ${config.queue.prefix})\n`)
    return 0
  } catch (error) {
    io.err(`cio-gateway replay: ${(error as Error).message}\n`)
    return 1
  } finally {
    await backend.close()
  }
}
