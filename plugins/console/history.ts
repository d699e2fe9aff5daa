/**
 * The last minutes of this process's counters (SPEC §8) for the overview: deliveries, errors by
 * type and dead letters per sink, and what ingest received, refused and quarantined. A timer reads
 * the counters every 10 s into a ring of 16 minutes; nothing runs on a request's path, and reading
 * prom-client's counters is a walk over a few dozen label sets.
 *
 * Counters are per process: with separate ingest and worker Deployments, deliveries show on the
 * worker pods' consoles and ingest on the ingest pods'.
 */
import type { Counter } from 'prom-client'
import type { GatewayMetrics } from '../metrics/metrics.js'

const SAMPLE_MS = 10_000
const KEPT_MS = 16 * 60_000

type Values = ReadonlyMap<string, number>

interface Sample { readonly at: number, readonly values: Values }

/** Series names: `<what>\t<label>…`. */
export const series = {
  delivered: (sink: string): string => `delivered\t${sink}`,
  deadLettered: (sink: string): string => `dead_lettered\t${sink}`,
  errors: (sink: string): string => `errors\t${sink}\t`,
  received: 'received',
  duplicate: 'duplicate',
  quarantined: 'quarantined',
  unavailable: 'unavailable\t',
  rejected: 'rejected\t'
} as const

export class MetricHistory {
  private readonly samples: Sample[] = []
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly metrics: GatewayMetrics, private readonly now: () => number = Date.now) {}

  start (): void {
    if (this.timer !== undefined) return
    const take = (): void => { this.sample().catch(() => { /* the next tick tries again */ }) }
    take()
    this.timer = setInterval(take, SAMPLE_MS)
    this.timer.unref()
  }

  /** Reads the counters into the ring (the timer's work; tests call it with their own clock). */
  async sample (): Promise<void> {
    const values = await this.read()
    const at = this.now()
    this.samples.push({ at, values })
    while ((this.samples[0] as Sample).at < at - KEPT_MS) this.samples.shift()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** The counters now, against what they were in the samples. */
  async view (): Promise<HistoryView> {
    return new HistoryView(this.now(), await this.read(), this.samples)
  }

  private async read (): Promise<Values> {
    const { metrics } = this
    const values = new Map<string, number>()
    const add = async (counter: Counter<string>, name: (labels: Partial<Record<string, string | number>>) => string): Promise<void> => {
      for (const { labels, value } of (await counter.get()).values) {
        const key = name(labels)
        values.set(key, (values.get(key) ?? 0) + value)
      }
    }
    await add(metrics.sinkDelivered, (labels) => series.delivered(String(labels.sink)))
    await add(metrics.sinkDeadLettered, (labels) => series.deadLettered(String(labels.sink)))
    await add(metrics.sinkErrors, (labels) => series.errors(String(labels.sink)) + String(labels.error_type))
    await add(metrics.eventsReceived, () => series.received)
    await add(metrics.eventsDuplicate, () => series.duplicate)
    await add(metrics.eventsQuarantined, () => series.quarantined)
    await add(metrics.ingestUnavailable, (labels) => series.unavailable + String(labels.reason))
    await add(metrics.eventsRejected, (labels) => series.rejected + String(labels.reason))
    return values
  }
}

export class HistoryView {
  constructor (readonly at: number, private readonly values: Values, private readonly samples: readonly Sample[]) {}

  /** How far back the samples reach, up to `ms`. */
  covered (ms: number): number {
    return this.baseline(ms) === undefined ? 0 : this.at - (this.baseline(ms) as Sample).at
  }

  /** How much a series grew over the last `ms` (or what the samples cover of it). */
  delta (key: string, ms: number): number {
    const base = this.baseline(ms)
    return base === undefined ? 0 : (this.values.get(key) ?? 0) - (base.values.get(key) ?? 0)
  }

  /** Per series starting with `prefix`: the rest of its name → its growth over `ms`, the non-zero ones. */
  deltas (prefix: string, ms: number): Map<string, number> {
    const found = new Map<string, number>()
    for (const key of this.values.keys()) {
      if (!key.startsWith(prefix)) continue
      const grown = this.delta(key, ms)
      if (grown > 0) found.set(key.slice(prefix.length), grown)
    }
    return found
  }

  /** Growth per minute over the last `minutes`, oldest first; minutes the samples do not reach are undefined. */
  perMinute (key: string, minutes: number): Array<number | undefined> {
    const points = Array.from({ length: minutes + 1 }, (_, index) => this.valueAt(key, this.at - (minutes - index) * 60_000))
    return points.slice(1).map((value, index) => {
      const before = points[index]
      return value === undefined || before === undefined ? undefined : value - before
    })
  }

  /** The oldest sample within `ms`, or undefined. */
  private baseline (ms: number): Sample | undefined {
    return this.samples.find((sample) => sample.at >= this.at - ms)
  }

  /** A series at time `at`: the last sample taken then or before (now for the present). */
  private valueAt (key: string, at: number): number | undefined {
    if (at >= this.at) return this.values.get(key) ?? 0
    let found: Sample | undefined
    for (const sample of this.samples) if (sample.at <= at) found = sample
    return found === undefined ? undefined : found.values.get(key) ?? 0
  }
}
