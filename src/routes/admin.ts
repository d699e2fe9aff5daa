/**
 * The admin API (SPEC §3): queue counts per sink, dead letters with their last error, and replay of a
 * sink's dead letters, `_quarantine` included. Served on the management listener in every role, behind
 * `Authorization: Bearer <admin.token>`; with no token configured every /admin path answers 404 as
 * if it did not exist. The token and the sinks are read per request from the configuration in force,
 * so a reload that sets, rotates or clears the token applies from the next request on.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GatewayConfig } from '../config/types.js'
import { ERROR_CODES } from '../errors.js'
import type { LogThrottle } from '../log-throttle.js'
import { QUARANTINE_QUEUE, replayAttempts, type QueueBackend } from '../../plugins/queue/backend.js'

export interface AdminRouteOptions {
  backend: QueueBackend
  /** The configuration in force now (a reload swaps it). */
  current: () => GatewayConfig
  /** Refused tokens are logged at most once per interval. */
  throttle: LogThrottle
  /** Whether a request carries a valid console session (SPEC §12): it opens the read-only endpoints, never a POST. */
  session?: (request: FastifyRequest, token: string) => boolean
}

export const DEAD_LETTER_LIMIT = { default: 100, max: 1000 } as const

/**
 * Most bytes of dead letters in one answer. A dead letter holds its event as received, up to
 * `server.body_limit` (1 MB by default), so a count alone does not bound the answer: letters are
 * added until the next would pass this, and at least one is always shown whole.
 */
export const DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024

interface SinkParams { sink: string }

export async function adminRoutes (app: FastifyInstance, options: AdminRouteOptions): Promise<void> {
  const { backend, current, throttle } = options

  // POST /retry carries no body; whatever a client sends along (curl's JSON header, say) is ignored.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, _body, done) => done(null, undefined))

  app.addHook('onRequest', async (request, reply) => {
    const token = current().admin.token
    if (token === '') return await reply.code(404).send({ error: ERROR_CODES.notFound })
    const viaSession = request.method === 'GET' && options.session?.(request, token) === true
    if (!viaSession && !bearerMatches(request.headers.authorization, token)) {
      const ip = request.ip
      throttle.write('admin:401', (count) => request.log.warn({ ip, count }, 'admin request refused (401): missing or wrong bearer token'))
      return await reply.code(401).header('www-authenticate', 'Bearer realm="cio-gateway admin"')
        .send({ error: ERROR_CODES.unauthorized, message: 'a valid admin bearer token is required' })
    }
  })

  app.get('/admin/queues', async (_request, reply) => {
    const names = [...current().sinks.keys(), QUARANTINE_QUEUE]
    return await answer(reply, async () => {
      const counts = await Promise.all(names.map(async (name) => [name, await backend.counts(name)] as const))
      return { queues: Object.fromEntries(counts) }
    })
  })

  app.get<{ Params: SinkParams, Querystring: { limit?: string } }>('/admin/queues/:sink/failed', async (request, reply) => {
    const { sink } = request.params
    if (!isQueue(current(), sink)) return await unknownSink(reply, sink)
    const limit = parseLimit(request.query.limit)
    if (limit === undefined) {
      return await reply.code(400).send({ error: ERROR_CODES.invalidRequest, message: `limit must be an integer from 1 to ${DEAD_LETTER_LIMIT.max}` })
    }
    return await answer(reply, async () => {
      const [counts, deadLetters] = await Promise.all([backend.counts(sink), backend.deadLetters(sink, limit)])
      const shown = fitting(deadLetters, DEAD_LETTER_MAX_BYTES)
      if (shown.length === deadLetters.length) return { sink, failed: counts.failed, dead_letters: deadLetters, truncated: false }
      return {
        sink,
        failed: counts.failed,
        dead_letters: shown,
        truncated: true,
        message: `${shown.length} of the ${deadLetters.length} dead letters asked for fit in the ${DEAD_LETTER_MAX_BYTES}-byte answer`
      }
    })
  })

  app.post<{ Params: SinkParams }>('/admin/queues/:sink/retry', async (request, reply) => {
    const { sink } = request.params
    if (!isQueue(current(), sink)) return await unknownSink(reply, sink)
    return await answer(reply, async () => {
      const retried = await backend.retryDeadLetters(sink, replayAttempts(current().sinks, sink))
      request.log.info({ sink, retried, ip: request.ip }, 'dead letters re-queued through the admin API')
      return { sink, retried }
    })
  })
}

/** Compares SHA-256 digests, so the comparison takes the same time whatever the length or content of the guess. */
function bearerMatches (header: string | undefined, token: string): boolean {
  const match = typeof header === 'string' ? /^Bearer +(.+)$/i.exec(header) : null
  const given = createHash('sha256').update(match?.[1] ?? '').digest()
  const expected = createHash('sha256').update(token).digest()
  return timingSafeEqual(given, expected) && match !== null
}

/** The first items whose JSON takes at most `maxBytes` together; the first item always. */
function fitting<T> (items: readonly T[], maxBytes: number): T[] {
  let bytes = 0
  let count = 0
  for (const item of items) {
    bytes += Buffer.byteLength(JSON.stringify(item))
    if (count > 0 && bytes > maxBytes) break
    count++
  }
  return items.slice(0, count)
}

function isQueue (config: GatewayConfig, name: string): boolean {
  return name === QUARANTINE_QUEUE || config.sinks.has(name)
}

function parseLimit (value: string | undefined): number | undefined {
  if (value === undefined || value === '') return DEAD_LETTER_LIMIT.default
  if (!/^[0-9]{1,4}$/.test(value)) return undefined
  const limit = Number(value)
  return limit >= 1 && limit <= DEAD_LETTER_LIMIT.max ? limit : undefined
}

async function unknownSink (reply: FastifyReply, sink: string): Promise<FastifyReply> {
  return await reply.code(404).send({ error: ERROR_CODES.unknownSink, message: `sink '${sink}' is not configured` })
}

/** The queue backend's answer, or 503 when it cannot be reached (Redis down). */
async function answer (reply: FastifyReply, read: () => Promise<unknown>): Promise<FastifyReply> {
  let body: unknown
  try {
    body = await read()
  } catch (error) {
    reply.log.error({ error: (error as Error).message }, 'admin request failed: queue backend unavailable')
    return await reply.code(503).send({ error: ERROR_CODES.queueUnavailable, message: (error as Error).message })
  }
  return await reply.code(200).send(body)
}
