/**
 * One catalogue of the gateway's errors. HTTP errors carry a stable `error` code for response bodies;
 * sink errors are small classes that steer the retry machinery (never string matching).
 */
import createError from '@fastify/error'

export const UnknownSourceError = createError('CIO_GW_ERR_UNKNOWN_SOURCE', "source '%s' is not configured", 404)
export const BodyTooLargeError = createError('CIO_GW_ERR_BODY_TOO_LARGE', 'request body is over the %s byte limit', 413)
export const SignatureError = createError('CIO_GW_ERR_SIGNATURE', 'signature check failed: %s', 401)
export const StoreUnavailableError = createError('CIO_GW_ERR_STORE_UNAVAILABLE', 'event could not be stored: %s', 503)
export const AdminUnauthorizedError = createError('CIO_GW_ERR_ADMIN_UNAUTHORIZED', 'a valid admin bearer token is required', 401)
export const UnknownSinkError = createError('CIO_GW_ERR_UNKNOWN_SINK', "sink '%s' is not configured", 404)

/** Stable `error` codes of JSON error bodies, by HTTP status (SPEC §3). */
export const ERROR_CODES = {
  unknownSource: 'unknown_source',
  bodyTooLarge: 'body_too_large',
  invalidSignature: 'invalid_signature',
  storeUnavailable: 'store_unavailable',
  unauthorized: 'unauthorized',
  notFound: 'not_found',
  shuttingDown: 'shutting_down',
  unknownSink: 'unknown_sink',
  invalidRequest: 'invalid_request',
  queueUnavailable: 'queue_unavailable'
} as const

/** Base of errors a sink throws to tell the worker how to go on. */
export class SinkError extends Error {
  override readonly name: string = 'SinkError'
  /** Bounded label for `sink_errors_total{error_type}`. */
  readonly errorType: string
  constructor (message: string, errorType: string, options?: ErrorOptions) {
    super(message, options)
    this.errorType = errorType
  }
}

/** The target refused the event for good (a 4xx other than 408/429, an invalid row): dead-letter now. */
export class PermanentSinkError extends SinkError {
  override readonly name = 'PermanentSinkError'
}

/** A temporary failure; `retryAfterMs` is honoured when the target said when to come back. */
export class RetryableSinkError extends SinkError {
  override readonly name = 'RetryableSinkError'
  readonly retryAfterMs: number | undefined
  constructor (message: string, errorType: string, retryAfterMs?: number, options?: ErrorOptions) {
    super(message, errorType, options)
    this.retryAfterMs = retryAfterMs
  }
}

/** Bounded error label for any error a sink may throw. */
export function errorTypeOf (error: unknown): string {
  if (error instanceof SinkError) return error.errorType
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^[A-Z_]{2,32}$/.test(code)) return code.toLowerCase()
  return 'error'
}

/** A message safe to keep with a dead letter and to log: one line, bounded length. */
export function describeError (error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.replace(/\s+/g, ' ').slice(0, 500)
}
