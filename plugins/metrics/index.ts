/**
 * Decorates the app with the metric handles, and gives the management listener its GET /metrics
 * (`metricsRoute`): the metrics are served there, never on the internet-facing webhook listener.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { GatewayMetrics } from './metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: GatewayMetrics
  }
}

export interface MetricsPluginOptions {
  metrics: GatewayMetrics
}

async function metricsPlugin (app: FastifyInstance, options: MetricsPluginOptions): Promise<void> {
  app.decorate('metrics', options.metrics)
}

/** GET /metrics in Prometheus text format, from the injected registry. */
export async function metricsRoute (app: FastifyInstance, options: MetricsPluginOptions): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    const registry = options.metrics.registry
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}

export default fp(metricsPlugin, { fastify: '5.x', name: 'metrics' })
