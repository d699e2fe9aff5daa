/**
 * POST /webhooks/:source (SPEC §3). The body arrives as raw bytes whatever its content type, since
 * the signature covers the bytes. Answers are 200 for every signed event; 401, 404, 413 and 503 are
 * the only others.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GatewayConfig, SourceConfig } from '../config/types.js'
import { ERROR_CODES } from '../errors.js'
import { StoreUnavailable, type Ingestor } from '../ingest.js'

/** Seconds Customer.io is asked to wait after a 503; short, since most outages are brief. */
export const RETRY_AFTER_SECONDS = 5

/** The webhook path's one kind of refusal: 503 with Retry-After, so Customer.io retries soon. */
export function storeUnavailable (reply: FastifyReply, reason: string): FastifyReply {
  return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ error: ERROR_CODES.storeUnavailable, reason })
}

export interface WebhookRouteOptions {
  config: GatewayConfig
  ingestor: Ingestor
  /** True once the server has begun to close: new events are refused with 503 + Retry-After. */
  isClosing: () => boolean
}

interface Params { source: string }

/**
 * The source a request was accepted for, as configured when it arrived: a config reload while its
 * body is read neither fails it nor verifies it against another source's secrets.
 */
const sourceOfRequest = new WeakMap<FastifyRequest, SourceConfig>()

export async function webhookRoutes (app: FastifyInstance, options: WebhookRouteOptions): Promise<void> {
  const { config, ingestor, isClosing } = options

  // Raw bytes for every content type, and no body parsing by Fastify at all.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.server.bodyLimit }, (_request, body, done) => done(null, body))

  app.post<{ Params: Params, Body: Buffer | undefined }>('/webhooks/:source', {
    bodyLimit: config.server.bodyLimit,
    // Unknown sources are refused before their body is read.
    onRequest: async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      // Sources are read per request from the configuration in force (a reload swaps it).
      const configured = ingestor.config.sources.get(request.params.source)
      if (configured === undefined) {
        return reply.code(404).send({ error: ERROR_CODES.unknownSource, message: `source '${request.params.source}' is not configured` })
      }
      if (isClosing()) {
        // A request on a kept-alive connection while the gateway stops: another replica, or this one
        // restarted, takes it after Retry-After. Connection: close is set by Fastify.
        app.metrics.ingestUnavailable.inc({ source: configured.name, reason: ERROR_CODES.shuttingDown })
        return storeUnavailable(reply, ERROR_CODES.shuttingDown)
      }
      sourceOfRequest.set(request, configured)
      // The signature covers the bytes, not the media type: a malformed Content-Type must not turn
      // a correctly signed event into an error, so every body is read as raw bytes.
      request.headers['content-type'] = 'application/octet-stream'
    }
  }, async (request, reply) => {
    const source = sourceOfRequest.get(request) as SourceConfig
    const stopTimer = app.metrics.ingestDuration.startTimer({ source: source.name })
    try {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const rejected = app.verifySource(source, request, body)
      if (rejected !== undefined) {
        app.metrics.eventsRejected.inc({ source: source.name, reason: rejected })
        request.log.warn({ source: source.name, reason: rejected, ip: request.ip }, 'webhook signature rejected')
        return await reply.code(401).send({ error: ERROR_CODES.invalidSignature, reason: rejected })
      }
      try {
        return await reply.code(200).send(await ingestor.ingest(source, body, Date.now()))
      } catch (error) {
        if (!(error instanceof StoreUnavailable)) throw error
        app.metrics.ingestUnavailable.inc({ source: source.name, reason: error.reason })
        request.log.error({ source: source.name, reason: error.reason, cause: (error.cause as Error | undefined)?.message, stored: error.stored }, 'event not stored: answered 503')
        return await storeUnavailable(reply, error.reason)
      }
    } finally {
      stopTimer()
    }
  })
}
