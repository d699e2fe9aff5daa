/**
 * Calendar days as `YYYY-MM-DD`, the unit of the App API's series and of reconciliation.
 *
 * Two day boundaries are in use. Campaign metrics are asked for with `tz=UTC`, so their days are
 * UTC days. Newsletter and broadcast metrics have no time-zone parameter; their published spec says
 * "Days start at 00:00 EST" (https://docs.customer.io/integrations/api/app/tag/newsletter-metrics/getNewsletterMetrics/,
 * …/tag/broadcasts/broadcastMetrics/). EST is Eastern *Standard* Time, UTC−05:00, and the text names
 * no daylight-saving variant, so those days are cut at 05:00 UTC all year round: never at 04:00 UTC
 * in summer, as America/New_York would. The choice is made here only, in EASTERN_OFFSET_MS.
 */

export const DAY_MS = 86_400_000

/** "EST" as the App API spec writes it: UTC−05:00, the same in summer and winter. */
export const EASTERN_OFFSET_MS = -5 * 3_600_000

/** How report events and reports name that boundary. */
export const EASTERN_TIME_ZONE = 'EST'

/** The UTC day of a time in milliseconds. */
export function utcDay (ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** The EST (UTC−05:00) day of a time in milliseconds. */
export function easternDay (ms: number): string {
  return utcDay(ms + EASTERN_OFFSET_MS)
}

/** Milliseconds at 00:00 UTC of a `YYYY-MM-DD` day. */
export function dayStartMs (day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`)
}

/** Milliseconds at 00:00 EST of a `YYYY-MM-DD` day (05:00 UTC). */
export function easternDayStartMs (day: string): number {
  return dayStartMs(day) - EASTERN_OFFSET_MS
}

export function addDays (day: string, days: number): string {
  return utcDay(dayStartMs(day) + days * DAY_MS)
}

/** `count` days ending with `last`, oldest first. */
export function daysEndingWith (last: string, count: number): string[] {
  const days: string[] = []
  for (let back = count - 1; back >= 0; back--) days.push(addDays(last, -back))
  return days
}

export interface LookbackWindow {
  /** 00:00 UTC of the first day, ms. */
  readonly startMs: number
  /** The poll time, ms: the last day is today and still running. */
  readonly endMs: number
  /** Oldest first; the last one is today (incomplete). */
  readonly days: readonly string[]
}

/** `lookbackDays` UTC days ending with today. */
export function lookbackWindow (nowMs: number, lookbackDays: number): LookbackWindow {
  const days = daysEndingWith(utcDay(nowMs), lookbackDays)
  return { startMs: dayStartMs(days[0] as string), endMs: nowMs, days }
}
