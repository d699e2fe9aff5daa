/** Durations (`500ms`, `30s`, `5m`, `24h`, `7d`) and sizes (`512kb`, `1mb`) as written in routes.yaml. */

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const SIZE_UNITS_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$'
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?(b|kb|mb|gb)$'

function parseUnit (text: string, units: Record<string, number>, what: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([a-z]+)$/.exec(text.trim().toLowerCase())
  const factor = match?.[2] === undefined ? undefined : units[match[2]]
  if (match?.[1] === undefined || factor === undefined) {
    throw new Error(`'${text}' is not a ${what} (expected a number and one of ${Object.keys(units).join(', ')})`)
  }
  return Math.round(Number(match[1]) * factor)
}

/** Milliseconds in a duration string. */
export function parseDuration (text: string): number {
  return parseUnit(text, DURATION_UNITS_MS, 'duration')
}

/** Bytes in a size string. */
export function parseSize (text: string): number {
  return parseUnit(text, SIZE_UNITS_BYTES, 'size')
}

/** A duration as routes.yaml would write it, in the largest unit that divides it: 600000 → `10m`. */
export function formatDuration (ms: number): string {
  const [unit, factor] = Object.entries(DURATION_UNITS_MS).reverse().find(([, size]) => ms % size === 0) ?? ['ms', 1]
  return `${ms / factor}${unit}`
}
