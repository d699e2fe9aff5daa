/**
 * Runs one gateway process: load and validate the config, build the app, open its listeners
 * (webhooks unless the role is worker, and management), and shut down in order on SIGTERM/SIGINT
 * within the configured grace period (close-with-grace calls app.close(), which closes both).
 * SIGHUP and changes of the config file reload it.
 */
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { loadConfigFile } from './config/load.js'
import { buildApp, servesWebhooks, type Role } from './app.js'
import { banner, type ListenerAddresses } from './banner.js'
import { openListener } from './listeners.js'
import { RELOAD_SIGNAL, SHUTDOWN_SIGNALS, onReloadSignal, onShutdownSignal, type Signal } from './signals.js'

/** An ingest process on the embedded queue would accept events that no worker can ever see. */
export const INGEST_NEEDS_REDIS = '--role ingest needs Redis (queue.redis_url, redis_sentinel or redis_cluster; REDIS_URL in the default routes.yaml): on the ' +
  'embedded in-memory queue no worker process can see what it accepts, so nothing would be delivered. Configure Redis, or run --role all.'

export interface ServeOptions {
  configFile: string
  role: Role
}

export async function serve (options: ServeOptions): Promise<FastifyInstance> {
  const config = await loadConfigFile(options.configFile)
  if (options.role === 'ingest' && config.queue.redis === undefined) throw new Error(INGEST_NEEDS_REDIS)
  // A gateway that can no longer work (a Redis connection ended for good) shuts down and exits 1, for its supervisor to restart it.
  const onFatal = (reason: string): void => {
    app.log.fatal({ reason }, 'shutting down to be restarted')
    process.exitCode = 1
    void grace.close()
  }
  const app = await buildApp({ config, role: options.role, onFatal })
  // SIGHUP and changes of the file reload the configuration (src/reload/reloader.ts); bound first, since SIGHUP's default is to exit.
  onReloadSignal(() => { void app.configReloader.reloadFile(options.configFile, 'signal') })
  // Signals reach close-with-grace through onShutdownSignal (see signals.ts: Deno 2 needs it).
  let signal: Signal | undefined
  const grace = closeWithGrace({ delay: config.server.shutdownGraceMs, skip: [...SHUTDOWN_SIGNALS, RELOAD_SIGNAL] }, async ({ err }) => {
    if (err !== undefined) app.log.error({ error: err.message }, 'shutting down after an uncaught error')
    else app.log.info({ signal }, 'shutting down: finishing requests, flushing batches')
    await app.close()
    app.log.info('shutdown complete')
  })
  onShutdownSignal((received) => {
    signal = received
    void grace.close()
  }, (again) => {
    app.log.error({ signal: again }, 'second signal: exiting now')
    process.exit(1)
  })
  const { server } = config
  let listeners: ListenerAddresses
  try {
    const webhooks = servesWebhooks(options.role) ? await openListener(app, 'webhooks', server.host, server.port) : undefined
    listeners = { webhooks, management: await openListener(app.management, 'management', server.managementHost, server.managementPort) }
  } catch (error) {
    // A port taken (often: a second gateway on the host with the same management port). Close what
    // was opened, workers and queues included, so the process ends instead of running half-served;
    // close-with-grace would otherwise close again when the loop empties, and exit 0.
    grace.uninstall()
    await app.close()
    throw error
  }
  process.stderr.write(banner(config, options.role, listeners))
  app.configReloader.watch(options.configFile)
  return app
}
