/** Builds every configured sink from the registry and runs a queue worker for each. */
import type { FastifyBaseLogger } from 'fastify'
import type { GatewayConfig } from '../../src/config/types.js'
import { sinkDefinition, unknownSinkTypeMessage } from '../../src/registry.js'
import { SinkRuntime } from '../../src/sinks/worker-runtime.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { QueueBackend } from './backend.js'

export interface SinkWorkers {
  readonly runtimes: ReadonlyMap<string, SinkRuntime>
  drain (): Promise<void>
  close (): Promise<void>
}

export async function startSinkWorkers (config: GatewayConfig, backend: QueueBackend, metrics: GatewayMetrics, log: FastifyBaseLogger): Promise<SinkWorkers> {
  const runtimes = new Map<string, SinkRuntime>()
  for (const sink of config.sinks.values()) {
    const definition = sinkDefinition(sink.type)
    if (definition === undefined) throw new Error(unknownSinkTypeMessage(sink.type))
    const logger = log.child({ sink: sink.name })
    const runtime = new SinkRuntime(sink, definition.create(sink.options as never, { name: sink.name, logger }), metrics, logger)
    await runtime.start()
    runtimes.set(sink.name, runtime)
    backend.runWorker(sink.name, { concurrency: runtime.jobConcurrency, retry: sink.retry }, async (job) => await runtime.handle(job))
  }
  return {
    runtimes,
    drain: async () => { await Promise.all([...runtimes.values()].map(async (runtime) => await runtime.drain())) },
    close: async () => { await Promise.allSettled([...runtimes.values()].map(async (runtime) => await runtime.close())) }
  }
}
