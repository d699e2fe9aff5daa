/**
 * POST /webhooks/:source (SPEC §3), on the webhook listener. The body arrives as raw bytes whatever
 * its content type, since the signature covers the bytes. Answers are 200 for every signed event;
 * 401, 404, 413 and 503 are the only others.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GatewayConfig, SourceConfig } from '../config/types.js'
import { ERROR_CODES } from '../errors.js'
import { StoreUnavailable, type Ingestor } from '../ingest.js'
import type { LogThrottle } from '../log-throttle.js'
import type { RejectReason } from '../../plugins/verifier/signature.js'

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
  /** Refusals (401, 503) come in floods: one line per source and reason every few seconds. */
  throttle: LogThrottle
}

interface Params { source: string }

/**
 * The source a request was accepted for, as configured when it arrived (a config reload while its
 * body is read neither fails it nor verifies it against another source's secrets), and the timer
 * of `ingest_duration_seconds`, started before the body is read.
 */
const acceptedRequests = new WeakMap<FastifyRequest, { source: SourceConfig, stopTimer: () => void }>()

export async function webhookRoutes (app: FastifyInstance, options: WebhookRouteOptions): Promise<void> {
  const { config, ingestor, isClosing, throttle } = options

  /** 401: counted, logged (throttled: bad signatures are an attacker's lever to fill the log), and answered. */
  const refuse = (request: FastifyRequest, reply: FastifyReply, source: string, reason: RejectReason): FastifyReply => {
    app.metrics.eventsRejected.inc({ source, reason })
    const ip = request.ip
    throttle.write(`401:${source}:${reason}`, (count) => request.log.warn({ source, reason, ip, count }, 'webhook request refused (401): signature check failed'))
    return reply.code(401).send({ error: ERROR_CODES.invalidSignature, reason })
  }

  // Raw bytes for every content type, and no body parsing by Fastify at all.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.server.bodyLimit }, (_request, body, done) => done(null, body))

  app.post<{ Params: Params, Body: Buffer | undefined }>('/webhooks/:source', {
    bodyLimit: config.server.bodyLimit,
    // Everything that needs no body is decided here, before the body is read.
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
      const stopTimer = app.metrics.ingestDuration.startTimer({ source: configured.name })
      const malformed = app.precheckSource(configured, request)
      if (malformed !== undefined) {
        // The body stays unread; closing the connection drops it instead of draining it.
        reply.header('connection', 'close')
        refuse(request, reply, configured.name, malformed)
        stopTimer()
        return reply
      }
      acceptedRequests.set(request, { source: configured, stopTimer })
      // The signature covers the bytes, not the media type: a malformed Content-Type must not turn
      // a correctly signed event into an error, so every body is read as raw bytes.
      request.headers['content-type'] = 'application/octet-stream'
    }
  }, async (request, reply) => {
    const { source, stopTimer } = acceptedRequests.get(request) as { source: SourceConfig, stopTimer: () => void }
    try {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const rejected = app.verifySource(source, request, body)
      if (rejected !== undefined) return await refuse(request, reply, source.name, rejected)
      try {
        return await reply.code(200).send(await ingestor.ingest(source, body, Date.now()))
      } catch (error) {
        if (!(error instanceof StoreUnavailable)) throw error
        const reason = error.reason
        app.metrics.ingestUnavailable.inc({ source: source.name, reason })
        // A warning, not an error: the gateway works as designed (Customer.io retries); the cause is logged where it happens.
        // `stored`: of a request of several events, what was stored before the failure (its retry finds those duplicate).
        const cause = (error.cause as Error | undefined)?.message
        const stored = error.stored
        throttle.write(`503:${source.name}:${reason}`, (count) => request.log.warn({ source: source.name, reason, cause, stored, count }, 'event not stored: answered 503 with Retry-After'))
        return await storeUnavailable(reply, reason)
      }
    } finally {
      stopTimer()
    }
  })
}
