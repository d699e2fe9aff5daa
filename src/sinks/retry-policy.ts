/** Exponential backoff with jitter, capped, honouring a target's Retry-After. Shared by both queue backends. */
import { RetryableSinkError } from '../errors.js'
import type { RetrySettings } from './contract.js'

/**
 * Delay before the next attempt, after `attemptsMade` attempts failed (1 after the first failure).
 * "Equal jitter": half the exponential delay is fixed, half random, so retries of one failed batch
 * spread out without ever coming back sooner than half the nominal delay.
 */
export function retryDelayMs (attemptsMade: number, retry: RetrySettings, error?: unknown, random: () => number = Math.random): number {
  const exponential = retry.initialDelayMs * 2 ** Math.max(0, attemptsMade - 1)
  const capped = Math.min(retry.maxDelayMs, exponential)
  const jittered = Math.round(capped / 2 + random() * capped / 2)
  const retryAfter = error instanceof RetryableSinkError ? error.retryAfterMs : undefined
  return retryAfter === undefined ? jittered : Math.max(jittered, retryAfter)
}
