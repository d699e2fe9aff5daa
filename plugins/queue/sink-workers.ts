/** Builds every configured sink from the registry and runs a queue worker for each. */
import type { FastifyBaseLogger } from 'fastify'
import type { GatewayConfig, SinkConfig } from '../../src/config/types.js'
import { sinkDefinition, unknownSinkTypeMessage } from '../../src/registry.js'
import { SinkRuntime } from '../../src/sinks/worker-runtime.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { QueueBackend } from './backend.js'

export interface SinkWorkers {
  /** The running sinks by name; a config reload adds, replaces and removes entries (see sink-reload.ts). */
  readonly runtimes: Map<string, SinkRuntime>
  drain (): Promise<void>
  close (): Promise<void>
}

export async function startSinkWorkers (config: GatewayConfig, backend: QueueBackend, metrics: GatewayMetrics, log: FastifyBaseLogger): Promise<SinkWorkers> {
  const runtimes = new Map<string, SinkRuntime>()
  for (const sink of config.sinks.values()) {
    const runtime = await startSinkRuntime(sink, metrics, log)
    runtimes.set(sink.name, runtime)
    runSinkWorker(backend, runtime)
  }
  return {
    runtimes,
    drain: async () => { await Promise.all([...runtimes.values()].map(async (runtime) => await runtime.drain())) },
    close: async () => { await Promise.allSettled([...runtimes.values()].map(async (runtime) => await runtime.close())) }
  }
}

/** Builds a sink from the registry and starts it (its own I/O: directories, tables), without a worker yet. */
export async function startSinkRuntime (sink: SinkConfig, metrics: GatewayMetrics, log: FastifyBaseLogger): Promise<SinkRuntime> {
  const definition = sinkDefinition(sink.type)
  if (definition === undefined) throw new Error(unknownSinkTypeMessage(sink.type))
  const logger = log.child({ sink: sink.name })
  const runtime = new SinkRuntime(sink, definition.create(sink.options as never, { name: sink.name, logger }), metrics, logger)
  await runtime.start()
  return runtime
}

/** Runs the queue worker of a started sink. */
export function runSinkWorker (backend: QueueBackend, runtime: SinkRuntime): void {
  backend.runWorker(runtime.config.name, { concurrency: runtime.jobConcurrency, retry: runtime.config.retry }, async (job) => await runtime.handle(job))
}
