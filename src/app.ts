/**
 * The plugin tree of one gateway process, and its two listeners (src/listeners.ts). Kept apart from
 * src/server.ts (listening, signals) so tests build the same app and drive each listener with
 * `inject`: `app` is the webhook listener and owns the plugin tree; `app.management` is the
 * management listener, closed by `app.close()`.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { Registry } from 'prom-client'
import type { GatewayConfig } from './config/types.js'
import { ERROR_CODES } from './errors.js'
import { Ingestor } from './ingest.js'
import { capConnections, listenerOptions } from './listeners.js'
import { LogThrottle } from './log-throttle.js'
import { RoutingTable } from './routing.js'
import { ConfigReloader } from './reload/reloader.js'
import { adminRoutes } from './routes/admin.js'
import { healthRoutes } from './routes/health.js'
import { storeUnavailable, webhookRoutes } from './routes/webhooks.js'
import { DeadLetterNow } from './sinks/job.js'
import { DEFAULT_SOURCE_TYPE, findSourceType } from './sources/registry.js'
import metricsPlugin, { metricsRoute } from '../plugins/metrics/index.js'
import { GatewayMetrics } from '../plugins/metrics/metrics.js'
import verifierPlugin from '../plugins/verifier/index.js'
import dedupePlugin from '../plugins/dedupe/index.js'
import queuePlugin from '../plugins/queue/index.js'
import { createQueueBackend } from '../plugins/queue/create.js'
import reportingPlugin from '../plugins/reporting/index.js'
import consolePlugin from '../plugins/console/index.js'
import { sessionOf } from '../plugins/console/session.js'
import type { JobHandler, QueueBackend } from '../plugins/queue/backend.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The management listener (/metrics, /admin/*, /healthz, /readyz); set on the app that owns the plugin tree. */
    management: FastifyInstance
  }
}

export type Role = 'all' | 'ingest' | 'worker'
export const ROLES: readonly Role[] = ['all', 'ingest', 'worker']

/** Whether a role opens the webhook listener: a worker serves only the management listener. */
export function servesWebhooks (role: Role): boolean {
  return role !== 'worker'
}

export interface AppOptions {
  config: GatewayConfig
  role?: Role
  /** Inject a registry so tests never share the global one. */
  registry?: Registry
  logger?: FastifyServerOptions['logger']
  /** Inject a clock: the signature tolerance, and the days the reporting poller compares (tests pin the hour with it). */
  now?: () => number
  /** Use this backend instead of creating one from the config (tests of outages). */
  backend?: QueueBackend
  /**
   * Called when the process can no longer do its work and should be restarted (a Redis connection
   * that ended for good). The server shuts down gracefully and exits 1; tests leave it out.
   */
  onFatal?: (reason: string) => void
}

/**
 * Builds the app; nothing listens yet. To serve it, listen with `openListener` (src/listeners.ts):
 * `app` on `server.host`/`port` (unless the role is `worker`) and `app.management` on
 * `server.management_host`/`management_port`. `app.close()` closes both.
 */
export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const role = options.role ?? 'all'
  const app = Fastify({
    logger: options.logger ?? { level: process.env.LOG_LEVEL ?? 'info' },
    bodyLimit: config.server.bodyLimit,
    ...listenerOptions()
  })
  const management = Fastify({ loggerInstance: app.log.child({ listener: 'management' }), ...listenerOptions() })
  app.decorate('management', management)
  // One throttle for the floods a listener may see: refusals (401, 503), quarantined bodies and dropped connections.
  const throttle = new LogThrottle()
  // Added first, so it runs last (onClose hooks run in reverse): the counts held until shutdown are written.
  app.addHook('onClose', async () => { throttle.close() })
  capConnections(app, 'webhooks', config.server.maxConnections, throttle)
  capConnections(management, 'management', config.server.maxConnections, throttle)

  let closing = false
  // preClose runs as close() starts, before in-flight requests are waited for.
  app.addHook('preClose', async () => { closing = true })
  const isClosing = (): boolean => closing
  const metrics = new GatewayMetrics(options.registry ?? new Registry())
  metrics.seed(config.sources.keys(), config.sinks.values())
  const backend = options.backend ?? createQueueBackend(config, metrics, app.log, options.onFatal)
  const ingestor = new Ingestor(config, backend, new RoutingTable(config.routes), metrics, app.log, throttle)

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const source = (request.params as { source?: string } | undefined)?.source
      if (source !== undefined && ingestor.config.sources.has(source)) metrics.eventsRejected.inc({ source, reason: 'body_too_large' })
      return await reply.code(413).send({ error: ERROR_CODES.bodyTooLarge, message: `body is over the ${config.server.bodyLimit} byte limit` })
    }
    if (request.url.startsWith('/webhooks/')) {
      // Never a 500 on the webhook path: Customer.io waits an hour after one. 503 asks for a quick retry.
      throttle.write('500:webhooks', (count) => request.log.error({ error: error.message, code: error.code, count }, 'webhook request failed unexpectedly: answered 503'))
      return await storeUnavailable(reply, 'internal_error')
    }
    return await answerError(error, request, reply)
  })
  management.setErrorHandler(answerError)
  for (const instance of [app, management]) instance.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ error: ERROR_CODES.notFound }))

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
  if (config.reporting !== undefined) await app.register(reportingPlugin, { config, reporting: config.reporting, ingestor, metrics, runPoller: role !== 'ingest', now: options.now })
  // Hot reload (src/reload/reloader.ts). Its onClose, added after the queue's, runs first: a reload under way finishes before the sinks close.
  const reloader = new ConfigReloader({ ingestor, backend, workers: app.sinkWorkers, metrics, logger: app.log })
  app.decorate('configReloader', reloader)
  app.addHook('onClose', async () => await reloader.close())

  await management.register(healthRoutes, { backend, role, isClosing })
  await management.register(metricsRoute, { metrics })
  await management.register(adminRoutes, { backend, current: () => ingestor.config, throttle, session: (request, token) => sessionOf(request, token) !== undefined })
  await management.register(consolePlugin, { backend, ingestor, metrics, reloader, role, isClosing, throttle, reconciliation: () => app.reportingPoller?.latest })
  if (servesWebhooks(role)) {
    await app.register(healthRoutes, { backend, role, isClosing })
    await app.register(webhookRoutes, { config, ingestor, isClosing, throttle })
  }
  // Added last, so it runs first of the onClose hooks: once the webhook listener has stopped taking
  // requests and finished those in flight, the management listener stops too (its /readyz has said
  // "shutting_down" meanwhile), and only then are batches flushed and workers, queues and Redis closed.
  app.addHook('onClose', async () => { await management.close() })
  return app
}

/** Errors off the webhook path: the status the error carries (4xx), else 500, logged. */
async function answerError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
  if (status >= 500) request.log.error({ error: error.message }, 'request failed')
  return await reply.code(status).send({ error: error.code ?? 'internal_error', message: error.message })
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
