/**
 * How the HTTP-speaking sinks turn a failed request into the runtime's verdict. Only the error
 * classes decide retries (src/errors.ts); the labels here stay bounded for `sink_errors_total`.
 */
import { PermanentSinkError, RetryableSinkError, type SinkError } from '../../../src/errors.js'

/** A Retry-After can be abused to park a queue; anything longer than this is taken as this. */
const LONGEST_RETRY_AFTER_MS = 24 * 60 * 60 * 1000

/** Retry-After as delay-seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs (header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || value.trim() === '') return undefined
  const text = value.trim()
  let delay: number
  if (/^[0-9]+$/.test(text)) delay = Number(text) * 1000
  else {
    const date = Date.parse(text)
    if (Number.isNaN(date)) return undefined
    delay = date - now
  }
  return Math.min(LONGEST_RETRY_AFTER_MS, Math.max(0, delay))
}

/** Codes Node and undici give to connections that failed before any answer. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EADDRNOTAVAIL', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_SOCKET_CONNECTION_TIMEOUT'
])
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'
])

/**
 * `timeout`, `network`, or undefined when the error is not a transport failure. Looks through
 * `cause` chains because clients wrap the socket error (fetch's TypeError, undici's errors).
 */
export function transportErrorType (error: unknown): 'timeout' | 'network' | undefined {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const { code, name, type } = current as { code?: unknown, name?: unknown, type?: unknown }
    if (name === 'TimeoutError' || type === 'request-timeout') return 'timeout'
    if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return 'timeout'
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'network'
    if (type === 'system') return 'network'
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** The verdict on an HTTP status that is not a success. */
export function statusError (status: number, message: string, options: { retryAfter?: number | undefined, permanent: boolean }): SinkError {
  const errorType = `http_${status}`
  return options.permanent
    ? new PermanentSinkError(message, errorType)
    : new RetryableSinkError(message, errorType, options.retryAfter)
}
