/** When to try an App API request again: Retry-After on 429, exponential backoff with jitter otherwise. */

export interface RetrySettings {
  /** Requests tried in all, the first included. */
  readonly attempts: number
  readonly initialDelayMs: number
  readonly maxDelayMs: number
  /** A longer Retry-After is cut to this, so one answer cannot stall a poll for hours. */
  readonly maxRetryAfterMs: number
}

export const APP_API_RETRY: RetrySettings = { attempts: 6, initialDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 120_000 }

/** Delay before attempt `attempt + 1` after `attempt` failed ones: doubling, capped, with ±20 % jitter. */
export function backoffMs (attempt: number, settings: RetrySettings, random: () => number = Math.random): number {
  const base = Math.min(settings.maxDelayMs, settings.initialDelayMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(base * (0.8 + 0.4 * random()))
}

/**
 * Milliseconds a `Retry-After` header asks for: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
 * undefined when absent or unreadable.
 */
export function retryAfterMs (header: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000
  const date = Date.parse(text)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - nowMs)
}
