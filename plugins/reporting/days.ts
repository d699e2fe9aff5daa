/** Calendar days as `YYYY-MM-DD`, the unit of the Reporting API's series and of reconciliation. */

export const DAY_MS = 86_400_000

/** The UTC day of a time in milliseconds. */
export function utcDay (ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** Milliseconds at 00:00 UTC of a `YYYY-MM-DD` day. */
export function dayStartMs (day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`)
}

export function addDays (day: string, days: number): string {
  return utcDay(dayStartMs(day) + days * DAY_MS)
}

/** The calendar day of a time in an IANA time zone (newsletter series are in US Eastern days). */
export function zonedDay (ms: number, timeZone: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms))
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
  const today = utcDay(nowMs)
  const days: string[] = []
  for (let back = lookbackDays - 1; back >= 0; back--) days.push(addDays(today, -back))
  return { startMs: dayStartMs(days[0] as string), endMs: nowMs, days }
}
