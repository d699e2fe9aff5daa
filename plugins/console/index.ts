/**
 * The operator console (SPEC §12): server-rendered pages at /admin/ui to see what the gateway holds
 * and put it back — overview, dead letters with their actions, live tail — behind `admin.token`.
 *
 * Unlike the other plugins (STYLE §1) it is registered without fastify-plugin, on purpose: its
 * hooks (session, CSRF, security headers), its form parser and its cookies must stay inside its
 * own context, so nothing of it runs for webhooks or the admin API. Pages: overview.ts,
 * dead-letters.ts, tail-routes.ts; the gate: auth.ts and session.ts.
 */
import fastifyCookie from '@fastify/cookie'
import fastifyFormbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import type { Ingestor } from '../../src/ingest.js'
import type { ConfigReloader } from '../../src/reload/reloader.js'
import type { LogThrottle } from '../../src/log-throttle.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { QueueBackend } from '../queue/backend.js'
import type { Collected } from '../reporting/collect.js'
import { assetRoutes } from './assets.js'
import { authRoutes, guardConsole } from './auth.js'
import type { ConsoleContext } from './context.js'
import { deadLetterRoutes } from './dead-letters.js'
import { MetricHistory } from './history.js'
import { Masks } from './masking.js'
import { overviewRoutes } from './overview.js'
import { LiveTail } from './tail.js'
import { tailRoutes } from './tail-routes.js'

export interface ConsoleOptions {
  backend: QueueBackend
  /** The configuration in force (`ingestor.config`) and the accepted events (the live tail). */
  ingestor: Ingestor
  metrics: GatewayMetrics
  reloader: ConfigReloader
  role: string
  isClosing: () => boolean
  /** Refused logins and POSTs are logged at most once per interval, with their count. */
  throttle: LogThrottle
  /** What this process's last reporting poll read, where it polls. */
  reconciliation?: () => Collected | undefined
}

/** Forms carry at most a page of references (500) and a filter. */
const FORM_BODY_LIMIT = 256 * 1024

export default async function consolePlugin (app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  const current = (): typeof options.ingestor.config => options.ingestor.config
  const masks = new Masks(current)
  const history = new MetricHistory(options.metrics)
  const tail = new LiveTail((listener) => options.ingestor.onAccepted(listener), masks, app.log)
  history.start()
  // Open tails would hold the listener's close; they end as closing begins.
  app.addHook('preClose', async () => tail.close())
  app.addHook('onClose', async () => history.stop())

  // For reply.setCookie; its parsing runs for console requests only (this context).
  await app.register(fastifyCookie)
  await app.register(fastifyFormbody, { bodyLimit: FORM_BODY_LIMIT })
  guardConsole(app, current, options.throttle)

  const context: ConsoleContext = {
    backend: options.backend,
    current,
    history,
    masks,
    tail,
    reloader: options.reloader,
    role: options.role,
    isClosing: options.isClosing,
    reconciliation: options.reconciliation ?? (() => undefined),
    startedAt: Date.now(),
    warning: options.backend.mode === 'embedded'
      ? 'Embedded queue: events are kept in memory only and are lost if this process stops. Configure Redis for production.'
      : undefined
  }
  await assetRoutes(app)
  await authRoutes(app, { current, throttle: options.throttle })
  await overviewRoutes(app, context)
  await app.register(deadLetterRoutes, context)
  await tailRoutes(app, context)
}
