/**
 * At most one log line per key and interval. At 10,000 events/s a failing dependency or an
 * attacker's stream of bad signatures would otherwise write one line per request: the log fills,
 * costs CPU and hides everything else. Metrics keep the exact counts; the log says that it
 * happens, and how often.
 *
 * The first call for a key writes at once, for itself (count 1). Later calls inside the interval
 * are only counted; when the interval ends, the last of them writes once with the number of calls
 * it stands for, and a new interval begins. An interval without calls closes the key's window, so
 * the next call writes at once again. `close()` writes what is still counted (at shutdown).
 */

/** Writes one line standing for `count` calls (the calls since the previous line of its key). */
export type ThrottledWrite = (count: number) => void

/** Runs `fn` after `ms`; returns a function that cancels it. */
export type Schedule = (fn: () => void, ms: number) => () => void

/** One line per key every 10 s at most. */
export const LOG_THROTTLE_MS = 10_000

interface Window {
  count: number
  last: ThrottledWrite | undefined
  cancel: () => void
}

/** A timer that does not keep the process alive. */
const unrefTimer: Schedule = (fn, ms) => {
  const timer = setTimeout(fn, ms)
  timer.unref()
  return () => clearTimeout(timer)
}

export class LogThrottle {
  private readonly windows = new Map<string, Window>()
  private closed = false

  constructor (readonly intervalMs = LOG_THROTTLE_MS, private readonly schedule: Schedule = unrefTimer) {}

  /** Writes now, or counts the call towards the line at the end of the key's interval. */
  write (key: string, write: ThrottledWrite): void {
    const window = this.windows.get(key)
    if (window !== undefined) {
      window.count++
      window.last = write
      return
    }
    write(1)
    if (!this.closed) this.open(key)
  }

  /** Writes every count still held and stops the timers; later calls write at once. */
  close (): void {
    this.closed = true
    for (const window of this.windows.values()) {
      window.cancel()
      this.flush(window)
    }
    this.windows.clear()
  }

  private open (key: string): void {
    const window: Window = { count: 0, last: undefined, cancel: () => {} }
    window.cancel = this.schedule(() => {
      this.windows.delete(key)
      if (window.count === 0) return
      this.flush(window)
      this.open(key)
    }, this.intervalMs)
    this.windows.set(key, window)
  }

  private flush (window: Window): void {
    if (window.last !== undefined && window.count > 0) window.last(window.count)
  }
}
