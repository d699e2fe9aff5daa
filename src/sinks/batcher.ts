/**
 * Groups events handed over one at a time (one per queue job) into batches bounded by count, bytes
 * and wait, and settles each event's promise with its own outcome. The queue backends run many jobs
 * at once, so a batch fills while its jobs wait on it.
 */
import type { BatchSettings, DeliveryEvent } from './contract.js'

interface Pending {
  readonly event: DeliveryEvent
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

export type DeliverBatch = (batch: readonly DeliveryEvent[]) => Promise<ReadonlyMap<number, Error>>

export class Batcher {
  private pending: Pending[] = []
  private pendingBytes = 0
  private timer: NodeJS.Timeout | undefined
  private draining = false
  private readonly inFlight = new Set<Promise<void>>()

  constructor (private readonly settings: BatchSettings, private readonly deliver: DeliverBatch) {}

  /** Resolves once this event is delivered; rejects with its own error otherwise. */
  add (event: DeliveryEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // A single event larger than max_bytes still goes out, alone.
      if (this.pending.length > 0 && this.pendingBytes + event.size > this.settings.maxBytes) this.flush()
      this.pending.push({ event, resolve, reject })
      this.pendingBytes += event.size
      if (this.draining || this.pending.length >= this.settings.maxEvents || this.pendingBytes >= this.settings.maxBytes) {
        this.flush()
      } else if (this.timer === undefined) {
        this.timer = setTimeout(() => this.flush(), this.settings.maxWaitMs)
      }
    })
  }

  /** From now on every event goes out at once; what waits now is sent. Resolves when all sent batches settle. */
  async drain (): Promise<void> {
    this.draining = true
    this.flush()
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
  }

  private flush (): void {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    this.pendingBytes = 0
    const sending = this.send(batch).finally(() => this.inFlight.delete(sending))
    this.inFlight.add(sending)
  }

  private async send (batch: Pending[]): Promise<void> {
    let failures: ReadonlyMap<number, Error>
    try {
      failures = await this.deliver(batch.map((item) => item.event))
    } catch (error) {
      const reason = error instanceof Error ? error : new Error(String(error))
      for (const item of batch) item.reject(reason)
      return
    }
    batch.forEach((item, index) => {
      const failure = failures.get(index)
      if (failure === undefined) item.resolve()
      else item.reject(failure)
    })
  }
}
