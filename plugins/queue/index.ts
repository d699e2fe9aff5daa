/**
 * The queue plugin: owns the queue backend's lifecycle and, in the worker role, one worker per sink
 * plus the _quarantine worker. Shutdown order: drain batches, stop workers, close sinks, close queues.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { GatewayConfig } from '../../src/config/types.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { JobHandler, QueueBackend } from './backend.js'
import { QUARANTINE_SETTINGS } from './backend.js'
import { startSinkWorkers, type SinkWorkers } from './sink-workers.js'

declare module 'fastify' {
  interface FastifyInstance {
    queueBackend: QueueBackend
    /** The running sinks (roles `all` and `worker`); undefined in the ingest role. A config reload changes them. */
    sinkWorkers: SinkWorkers | undefined
  }
}

export interface QueuePluginOptions {
  backend: QueueBackend
  config: GatewayConfig
  metrics: GatewayMetrics
  /** Start the sink workers (roles `all` and `worker`). */
  runWorkers: boolean
  /** Replays a quarantined body through routing; throws DeadLetterNow while it still cannot be routed. */
  quarantineHandler: JobHandler
}

async function queuePlugin (app: FastifyInstance, options: QueuePluginOptions): Promise<void> {
  const { backend } = options
  app.decorate('queueBackend', backend)
  // A store the gateway must not run on (an old Redis, another shard count) stops the start here, with its reason.
  await backend.start()
  let workers: SinkWorkers | undefined
  if (options.runWorkers) {
    workers = await startSinkWorkers(options.config, backend, options.metrics, app.log)
    backend.runWorker(QUARANTINE_SETTINGS.name, { concurrency: 1, retry: QUARANTINE_SETTINGS.retry }, options.quarantineHandler)
  }
  app.decorate('sinkWorkers', workers)
  if (backend.mode === 'embedded') {
    // Dedupe marks stay in memory too, on purpose: a mark kept on disk would make a resend of an event
    // lost with the process a "duplicate", turning a possible duplicate into a certain loss.
    app.log.warn('EMBEDDED QUEUE: no Redis is configured (queue.redis_url, redis_sentinel or redis_cluster), events and dedupe marks are kept in memory only: undelivered events are LOST if this process stops, ' +
      'and an event resent after a restart is accepted (and delivered) again. Configure Redis for production.')
  }
  app.addHook('onClose', async () => {
    await workers?.drain()
    await backend.stopWorkers()
    if (backend.mode === 'embedded') {
      const pending = (backend as { pendingJobs?: () => number }).pendingJobs?.() ?? 0
      if (pending > 0) app.log.error({ pending }, 'embedded queue: events still awaiting retries are lost at exit')
    }
    await workers?.close()
    await backend.close()
  })
}

export default fp(queuePlugin, { fastify: '5.x', name: 'queue', dependencies: ['metrics'] })
