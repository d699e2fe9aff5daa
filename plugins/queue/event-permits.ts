/**
 * A sink's events in hand, shared by its workers of every shard. On a cluster a sink has one BullMQ
 * queue per shard and so one worker per shard; each may take a job whenever it has a slot, but the
 * sink's concurrency (`batch.max_events × concurrency` events in hand, see SinkRuntime) holds for all
 * of them together: a job waits here, its lock kept alive by BullMQ, until its events fit. With one
 * shard it is what bounds the events in hand at all: the job concurrency only follows an average of
 * events per job, which a run of small jobs followed by large ones outruns.
 *
 * A job is let through whatever its size when nothing is held, so one larger than the whole budget
 * still runs (alone).
 */
interface Waiter {
  readonly events: number
  readonly resolve: () => void
}

export class EventPermits {
  private held = 0
  private readonly waiting: Waiter[] = []

  constructor (private readonly capacity: number) {}

  /** Resolves once `events` more fit; call the returned function when they are settled. */
  async acquire (events: number): Promise<() => void> {
    if (this.waiting.length === 0 && this.fits(events)) {
      this.held += events
    } else {
      // The releaser adds them to `held` before resolving, so the order of arrival is kept.
      await new Promise<void>((resolve) => this.waiting.push({ events, resolve }))
    }
    let released = false
    return () => {
      if (released) return
      released = true
      this.held -= events
      this.wake()
    }
  }

  private fits (events: number): boolean {
    return this.held === 0 || this.held + events <= this.capacity
  }

  private wake (): void {
    while (this.waiting.length > 0 && this.fits((this.waiting[0] as Waiter).events)) {
      const next = this.waiting.shift() as Waiter
      this.held += next.events
      next.resolve()
    }
  }
}
