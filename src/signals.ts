/**
 * The shutdown signals, listened to the same way on Node.js and on Deno 2.
 *
 * close-with-grace binds its signals itself, which fails on Deno in two ways:
 * - Deno refuses a listener for SIGILL, SIGFPE and SIGSEGV (`Binding to signal 'SIGILL' is not
 *   allowed`), and close-with-grace binds them all at once, so the gateway would not start;
 * - on the first signal close-with-grace swaps its listener for a "second signal: exit(1)" one, and
 *   Deno's signal dispatch walks a live Set of listeners, so that new listener gets the *same*
 *   signal and the process exits 1 at once, without finishing requests or flushing batches.
 *
 * So close-with-grace gets every signal in its `skip` list (it still handles uncaught errors and
 * the grace timer) and one listener per signal, installed once and never swapped, starts the close.
 * Signals the runtime refuses are found by trying, not by asking which runtime this is: Node
 * accepts all of them and keeps the same set as before.
 *
 * A second signal forces the exit, as close-with-grace does, unless it is the same signal within
 * REPEAT_MS of the first: `deno task` passes a terminal's Ctrl-C on to its child, which has already
 * had it from the terminal, and one key press must not skip the graceful close.
 */
import type closeWithGrace from 'close-with-grace'

export type Signal = closeWithGrace.Signals

const REPEAT_MS = 500

/** close-with-grace's own list (node_modules/close-with-grace/events/signal.events.js), less RELOAD_SIGNAL. */
export const SHUTDOWN_SIGNALS: readonly Signal[] = ['SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM']

/** Reloads the configuration (src/reload/reloader.ts) instead of shutting down: close-with-grace must skip it too. */
export const RELOAD_SIGNAL: Signal = 'SIGHUP'

/** Calls `reload` on every RELOAD_SIGNAL; false when the runtime refuses a listener for it. */
export function onReloadSignal (reload: () => void): boolean {
  try {
    process.on(RELOAD_SIGNAL, reload)
    return true
  } catch {
    return false
  }
}

/**
 * Calls `first` on the first shutdown signal and `again` on every later one. Returns the signals
 * the runtime refused a listener for.
 */
export function onShutdownSignal (first: (signal: Signal) => void, again: (signal: Signal) => void): Signal[] {
  let received: { signal: Signal, at: number } | undefined
  const refused: Signal[] = []
  for (const signal of SHUTDOWN_SIGNALS) {
    try {
      process.on(signal, () => {
        if (received === undefined) {
          received = { signal, at: Date.now() }
          first(signal)
        } else if (signal !== received.signal || Date.now() - received.at >= REPEAT_MS) {
          again(signal)
        }
      })
    } catch {
      refused.push(signal)
    }
  }
  return refused
}
