/** Picks the queue backend from the config: BullMQ when redis_url is set, else the embedded one. */
import type { Logger } from '../../src/logger.js'
import type { GatewayConfig } from '../../src/config/types.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { QueueBackend } from './backend.js'
import { EmbeddedBackend } from './embedded-backend.js'
import { RedisBackend } from './redis-backend.js'

export function createQueueBackend (config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): QueueBackend {
  if (config.queue.redisUrl === '') return new EmbeddedBackend(config.dedupe.windowMs)
  return new RedisBackend({
    url: config.queue.redisUrl,
    prefix: config.queue.prefix,
    dedupeWindowMs: config.dedupe.windowMs,
    lockDurationMs: config.queue.lockDurationMs,
    queues: [...config.sinks.keys()],
    logger,
    onCounts: (queue, counts) => {
      for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) metrics.queueJobs.set({ sink: queue, state }, counts[state])
    }
  })
}
