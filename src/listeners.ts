/**
 * The two HTTP listeners (SPEC §3): `webhooks`, the one Customer.io reaches (POST /webhooks/*,
 * /healthz, /readyz), and `management`, kept inside (/metrics, /admin/*, /healthz, /readyz). Each is
 * its own Fastify instance with its own server, so a path served by one cannot be reached through
 * the other, and each holds at most `server.max_connections` connections.
 */
import type { AddressInfo } from 'node:net'
import { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { LogThrottle } from './log-throttle.js'

export type ListenerName = 'webhooks' | 'management'

/**
 * Server timeouts, set on purpose: a slow or stalled client must not hold a socket for long, and
 * Customer.io gives up after 4 s anyway. Keep-alive outlives common load-balancer idle timeouts (60 s)
 * so the balancer, not the gateway, closes idle connections.
 */
const SERVER_TIMEOUTS = {
  connectionTimeout: 10_000,
  requestTimeout: 10_000,
  keepAliveTimeout: 72_000
} as const

/** Fastify options both listeners share. */
export function listenerOptions (): FastifyServerOptions {
  return {
    // One log line per request is noise at thousands of events per second; outcomes worth reading are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // Requests that arrive while the server closes are answered by the routes (webhooks: 503 with
    // Retry-After; /readyz: not ready), not by Fastify's bare 503.
    return503OnClosing: false,
    ...SERVER_TIMEOUTS
  }
}

/**
 * Caps the connections the listener holds at once (Node's `server.maxConnections`): one more is
 * closed as soon as it is accepted, while the open ones are served. Drops are logged, throttled.
 */
export function capConnections (instance: FastifyInstance, listener: ListenerName, maxConnections: number, throttle: LogThrottle): void {
  instance.server.maxConnections = maxConnections
  instance.server.on('drop', (dropped?: { remoteAddress?: string }) => {
    throttle.write(`drop:${listener}`, (count) => instance.log.warn({ listener, max_connections: maxConnections, ip: dropped?.remoteAddress, count },
      'connection refused: the listener holds server.max_connections connections'))
  })
}

/**
 * Listens and logs one line for the listener. Fastify's own listen() would log a line per network
 * interface when bound to 0.0.0.0 and no name for the listener; its close() still closes this server.
 */
export async function openListener (instance: FastifyInstance, listener: ListenerName, host: string, port: number): Promise<AddressInfo> {
  await instance.ready()
  const server = instance.server
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error): void => reject(new Error(`the ${listener} listener cannot listen on ${host}:${port}: ${error.message}`, { cause: error }))
    server.once('error', failed)
    server.listen({ host, port }, () => {
      server.off('error', failed)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  // The management instance logs through a child bound to its listener already: naming it again would
  // repeat the key in the JSON line.
  const bound = (instance.log as { bindings?: () => Record<string, unknown> }).bindings?.().listener !== undefined
  instance.log.info({ ...(bound ? {} : { listener }), address: address.address, port: address.port, serves: SERVES[listener] }, `${listener} listener open on ${hostPort(address)}`)
  return address
}

/** What each listener serves, for the log line and the banner. */
export const SERVES: Readonly<Record<ListenerName, string>> = {
  webhooks: 'POST /webhooks/<source>, /healthz, /readyz',
  management: '/metrics, /admin/*, /healthz, /readyz'
}

/** `127.0.0.1:8080`, `[::1]:8080` */
function hostPort (address: AddressInfo): string {
  return address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`
}
