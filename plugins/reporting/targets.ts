/**
 * What reconciliation compares: campaigns, newsletters and API-triggered broadcasts, each with
 * Customer.io's daily counts per series, keyed by day in the day boundary of its metrics endpoint
 * (campaigns: UTC, asked for with `tz=UTC`; newsletters and broadcasts: EST, see days.ts).
 */
import { DAY_MS, dayStartMs, easternDay, easternDayStartMs, utcDay } from './days.js'
import type { Series } from './app-api.js'

export type TargetKind = 'campaign' | 'newsletter' | 'broadcast'

export const TARGET_KINDS: readonly TargetKind[] = ['campaign', 'newsletter', 'broadcast']

export interface TargetMetrics {
  readonly kind: TargetKind
  readonly id: number
  readonly name: string | undefined
  /** Series name → day → Customer.io's count. */
  readonly series: ReadonlyMap<string, ReadonlyMap<string, number>>
}

/** Whether the kind's days are EST days. */
export function easternKind (kind: TargetKind): boolean {
  return kind !== 'campaign'
}

/** The day an event at `ms` belongs to in the kind's series. */
export function dayOf (kind: TargetKind, ms: number): string {
  return easternKind(kind) ? easternDay(ms) : utcDay(ms)
}

/** When the kind's `day` ends, ms. */
export function dayEndMs (kind: TargetKind, day: string): number {
  return (easternKind(kind) ? easternDayStartMs(day) : dayStartMs(day)) + DAY_MS
}

/** Series of the v2 campaign endpoint: `values[i]` is the count of `days[i]` (the request's first day first). */
export function seriesFromStart (series: Series, days: readonly string[]): Map<string, Map<string, number>> {
  const byDay = new Map<string, Map<string, number>>()
  for (const [name, values] of series) {
    const counts = new Map<string, number>()
    for (let index = 0; index < Math.min(values.length, days.length); index++) counts.set(days[index] as string, values[index] as number)
    byDay.set(name, counts)
  }
  return byDay
}

/**
 * Series of the `period=days&steps=` endpoints: oldest to newest, the last value is the current
 * (EST) day, so a value `back` places from the end belongs to `today − back`. Aligning from the end
 * does not depend on how many values `steps` returns ("steps=1 means two days").
 */
export function seriesFromEnd (series: Series, today: string, maxDays: number): Map<string, Map<string, number>> {
  const byDay = new Map<string, Map<string, number>>()
  for (const [name, values] of series) {
    const counts = new Map<string, number>()
    for (let back = 0; back < Math.min(values.length, maxDays); back++) {
      counts.set(utcDay(dayStartMs(today) - back * DAY_MS), values[values.length - 1 - back] as number)
    }
    byDay.set(name, counts)
  }
  return byDay
}
