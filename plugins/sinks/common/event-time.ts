/** When an event happened, for partitioning: Customer.io's `timestamp` (unix seconds), else its receipt. */
import type { DeliveryEvent } from '../../../src/sinks/contract.js'

/** 9999-12-31T23:59:59Z: beyond it a "seconds" value is a unit mistake (milliseconds), not a date. */
const LATEST_SECONDS = 253_402_300_799

/**
 * Event time in ms since the epoch, UTC. A missing, non-numeric or out-of-range `timestamp` falls
 * back to the receipt time so the event still lands in a sensible partition instead of failing.
 */
export function eventTimeMs (event: Pick<DeliveryEvent, 'event' | 'receivedAt'>): number {
  const value = event.event.timestamp
  const seconds = typeof value === 'number'
    ? value
    : typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > LATEST_SECONDS) return event.receivedAt
  return Math.round(seconds * 1000)
}
