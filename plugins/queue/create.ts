/** Picks the queue backend from the config: BullMQ when Redis is configured, else the embedded one. */
import type { Logger } from '../../src/logger.js'
import type { GatewayConfig, QueueConfig } from '../../src/config/types.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { QueueBackend } from './backend.js'
import { EmbeddedBackend } from './embedded-backend.js'
import { Keyspace } from './keyspace.js'
import { RedisBackend } from './redis-backend.js'
import { RedisTopology } from './redis-topology.js'

/** The key layout of a Redis-backed config. */
export function keyspaceOf (queue: QueueConfig): Keyspace {
  return new Keyspace(queue.prefix, queue.shards, queue.redis?.kind === 'cluster')
}

export function createQueueBackend (config: GatewayConfig, metrics: GatewayMetrics, logger: Logger, onConnectionLost?: (reason: string) => void): QueueBackend {
  const onQuarantineDropped = (reason: string, events: number): void => { metrics.quarantineDropped.inc({ reason }, events) }
  if (config.queue.redis === undefined) {
    return new EmbeddedBackend({ dedupeWindowMs: config.dedupe.windowMs, quarantine: config.quarantine, onQuarantineDropped })
  }
  return new RedisBackend({
    topology: new RedisTopology(config.queue.redis),
    keyspace: keyspaceOf(config.queue),
    dedupeWindowMs: config.dedupe.windowMs,
    replicasAck: config.queue.replicasAck,
    quarantine: config.quarantine,
    lockDurationMs: config.queue.lockDurationMs,
    queues: [...config.sinks.keys()],
    logger,
    onCounts: (queue, counts) => {
      for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) metrics.queueJobs.set({ sink: queue, state }, counts[state])
    },
    onDegradedWrite: (events) => { metrics.replicationDegraded.inc(events) },
    onConnectionLost,
    onQuarantineDropped
  })
}
