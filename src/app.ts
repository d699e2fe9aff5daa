/**
 * The plugin tree of one gateway process. Kept apart from src/server.ts (listening, signals) so
 * tests build the same app and drive it with `inject`.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Registry } from 'prom-client'
import type { GatewayConfig } from './config/types.js'
import { ERROR_CODES } from './errors.js'
import { Ingestor } from './ingest.js'
import { RoutingTable } from './routing.js'
import { ConfigReloader } from './reload/reloader.js'
import { adminRoutes } from './routes/admin.js'
import { healthRoutes } from './routes/health.js'
import { storeUnavailable, webhookRoutes } from './routes/webhooks.js'
import { DeadLetterNow } from './sinks/job.js'
import { DEFAULT_SOURCE_TYPE, findSourceType } from './sources/registry.js'
import metricsPlugin from '../plugins/metrics/index.js'
import { GatewayMetrics } from '../plugins/metrics/metrics.js'
import verifierPlugin from '../plugins/verifier/index.js'
import dedupePlugin from '../plugins/dedupe/index.js'
import queuePlugin from '../plugins/queue/index.js'
import { createQueueBackend } from '../plugins/queue/create.js'
import reportingPlugin from '../plugins/reporting/index.js'
import type { JobHandler, QueueBackend } from '../plugins/queue/backend.js'

export type Role = 'all' | 'ingest' | 'worker'
export const ROLES: readonly Role[] = ['all', 'ingest', 'worker']

/**
 * Server timeouts, set on purpose: a slow or stalled client must not hold a socket for long, and
 * Customer.io gives up after 4 s anyway. Keep-alive outlives common load-balancer idle timeouts (60 s)
 * so the balancer, not the gateway, closes idle connections.
 */
export const SERVER_TIMEOUTS = {
  connectionTimeout: 10_000,
  requestTimeout: 10_000,
  keepAliveTimeout: 72_000
} as const

export interface AppOptions {
  config: GatewayConfig
  role?: Role
  /** Inject a registry so tests never share the global one. */
  registry?: Registry
  logger?: FastifyServerOptions['logger']
  /** Inject a clock (signature tolerance). */
  now?: () => number
  /** Use this backend instead of creating one from the config (tests of outages). */
  backend?: QueueBackend
}

export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const role = options.role ?? 'all'
  const app = Fastify({
    logger: options.logger ?? { level: process.env.LOG_LEVEL ?? 'info' },
    bodyLimit: config.server.bodyLimit,
    // One log line per request is noise at thousands of events per second; outcomes worth reading are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // Requests that arrive while the server closes are answered by the routes (webhooks: 503 with
    // Retry-After; /readyz: not ready), not by Fastify's bare 503.
    return503OnClosing: false,
    ...SERVER_TIMEOUTS
  })
  let closing = false
  // preClose runs as close() starts, before in-flight requests are waited for.
  app.addHook('preClose', async () => { closing = true })
  const isClosing = (): boolean => closing
  const metrics = new GatewayMetrics(options.registry ?? new Registry())
  metrics.seed(config.sources.keys(), config.sinks.values())
  const backend = options.backend ?? createQueueBackend(config, metrics, app.log)
  const ingestor = new Ingestor(config, backend, new RoutingTable(config.routes), metrics, app.log)

  app.setErrorHandler(async (error: Error & { code?: string, statusCode?: number }, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const source = (request.params as { source?: string } | undefined)?.source
      if (source !== undefined && ingestor.config.sources.has(source)) metrics.eventsRejected.inc({ source, reason: 'body_too_large' })
      return await reply.code(413).send({ error: ERROR_CODES.bodyTooLarge, message: `body is over the ${config.server.bodyLimit} byte limit` })
    }
    if (request.url.startsWith('/webhooks/')) {
      // Never a 500 on the webhook path: Customer.io waits an hour after one. 503 asks for a quick retry.
      request.log.error({ error: error.message, code: error.code }, 'webhook request failed unexpectedly')
      return await storeUnavailable(reply, 'internal_error')
    }
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) request.log.error({ error: error.message }, 'request failed')
    return await reply.code(status).send({ error: error.code ?? 'internal_error', message: error.message })
  })
  app.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ error: ERROR_CODES.notFound }))

  await app.register(metricsPlugin, { metrics })
  await app.register(verifierPlugin, { now: options.now })
  await app.register(dedupePlugin)
  await app.register(queuePlugin, {
    backend,
    config,
    metrics,
    runWorkers: role !== 'ingest',
    quarantineHandler: quarantineReplay(ingestor)
  })
  // After the queue plugin, so its onClose (stop the poller) runs before the queue's. Counts webhooks in every role; polls where workers run.
  if (config.reporting !== undefined) await app.register(reportingPlugin, { config, reporting: config.reporting, ingestor, metrics, runPoller: role !== 'ingest' })
  // Hot reload (src/reload/reloader.ts). Its onClose, added after the queue's, runs first: a reload under way finishes before the sinks close.
  const reloader = new ConfigReloader({ ingestor, backend, workers: app.sinkWorkers, metrics, logger: app.log })
  app.decorate('configReloader', reloader)
  app.addHook('onClose', async () => await reloader.close())
  await app.register(healthRoutes, { backend, role, isClosing })
  await app.register(adminRoutes, { backend, current: () => ingestor.config })
  if (role !== 'worker') await app.register(webhookRoutes, { config, ingestor, isClosing })
  return app
}

/**
 * A replayed quarantined body goes through routing when it has become routable (read as its source
 * type reads an event); otherwise back to the dead letters.
 */
function quarantineReplay (ingestor: Ingestor): JobHandler {
  return async (job) => {
    const type = findSourceType(job.data.t ?? DEFAULT_SOURCE_TYPE)
    if (type === undefined) throw new DeadLetterNow(`quarantined: source type '${String(job.data.t)}' is not known`)
    let event: unknown
    try { event = JSON.parse(job.data.b) } catch { event = undefined }
    const fields = type.fieldsOf(event)
    if (typeof fields === 'string') throw new DeadLetterNow(`quarantined: ${fields}`)
    const routable = event as Record<string, unknown>
    await ingestor.route(job.data.s, routable, { ...job.data, e: type.dedupeKeyOf(routable, job.data.b) }, fields)
  }
}
