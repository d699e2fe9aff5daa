/** GET /healthz (the process lives) and GET /readyz (config loaded, queue backend answers). */
import type { FastifyInstance } from 'fastify'
import type { QueueBackend } from '../../plugins/queue/backend.js'

export interface HealthRouteOptions {
  backend: QueueBackend
  role: string
  /** True once the server has begun to close: load balancers should send no more traffic. */
  isClosing: () => boolean
}

export async function healthRoutes (app: FastifyInstance, options: HealthRouteOptions): Promise<void> {
  const { backend, role, isClosing } = options
  const warnings = backend.mode === 'embedded' ? ['embedded queue: events and dedupe marks are kept in memory only; undelivered events are lost if the process stops, and an event resent after a restart is accepted again'] : []

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    if (isClosing()) return await reply.code(503).send({ status: 'not_ready', failing: 'shutting_down' })
    try {
      await backend.ping()
    } catch (error) {
      return await reply.code(503).send({ status: 'not_ready', failing: 'queue', error: (error as Error).message })
    }
    return { status: 'ready', role, queue: backend.mode, checks: { config: 'ok', queue: 'ok' }, warnings }
  })
}
