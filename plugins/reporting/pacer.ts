/**
 * Keeps App API requests under Customer.io's limit of 10 per second (shared by everything that uses
 * the account's keys).
 *
 * Why even spacing and not a token bucket: a bucket of 10 refilled at 10/s lets 10 requests out at
 * once and 10 more during the next second, so some one-second window sees up to 20. Spacing request
 * starts by `(perMs + marginMs) / limit` means any window of `perMs` holds at most `limit` starts.
 * The margin is headroom: a request delayed on its way (network, a busy event loop on either side)
 * by less than the margin still cannot make the server count 11 in one second, and other clients of
 * the account keep some of the budget.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface PacerOptions {
  readonly limit: number
  readonly perMs: number
  readonly marginMs?: number
  readonly now?: () => number
}

export class RequestPacer {
  readonly spacingMs: number
  private lastStart = -Infinity
  private turns: Promise<void> = Promise.resolve()
  private readonly now: () => number

  constructor (options: PacerOptions) {
    this.spacingMs = (options.perMs + (options.marginMs ?? 0)) / options.limit
    this.now = options.now ?? Date.now
  }

  /**
   * Resolves when the caller may start its request; concurrent callers are served in order. The
   * spacing is measured from when the previous caller actually went, so a busy event loop that
   * wakes a caller late delays the next ones instead of letting them bunch up behind it.
   */
  async acquire (signal?: AbortSignal): Promise<void> {
    const turn = this.turns.then(async () => {
      const wait = this.lastStart + this.spacingMs - this.now()
      if (wait > 0) await sleep(wait, undefined, { signal })
      this.lastStart = this.now()
    })
    this.turns = turn.catch(() => undefined)
    await turn
  }
}

/** Customer.io's published limit for these endpoints (10/s) with 200 ms of headroom: one request every 120 ms. */
export const APP_API_PACE: PacerOptions = { limit: 10, perMs: 1000, marginMs: 200 }
