/**
 * A sink whose implementation module is imported when it starts, not when the registry is loaded:
 * an ingest process never starts a sink, so it never loads the BigQuery, S3 or HTTP client
 * libraries (about 10 MB of resident memory it would carry for nothing).
 */
import type { BatchOutcome, DeliveryEvent, Sink } from './contract.js'

export function lazySink (load: () => Promise<Sink>): Sink {
  let loading: Promise<Sink> | undefined
  const sink = async (): Promise<Sink> => await (loading ??= load())
  return {
    start: async () => { await (await sink()).start?.() },
    deliver: async (batch: readonly DeliveryEvent[]): Promise<BatchOutcome | void> => await (await sink()).deliver(batch),
    // Closes only what was opened: a sink never started has nothing to close.
    close: async () => { if (loading !== undefined) await (await loading).close() }
  }
}
