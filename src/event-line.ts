/**
 * The NDJSON line of an event: the object as received plus one top-level `_gateway` field. Built by
 * splicing the raw text so the body is not re-serialised on the common path (SPEC §6 wants the
 * event "as received"); falls back to JSON.stringify when the raw text cannot be spliced safely.
 */
export interface GatewayStamp { source: string; received_at: string }

export function eventLine (raw: string, event: Readonly<Record<string, unknown>>, stamp: GatewayStamp): string {
  const gateway = JSON.stringify(stamp)
  const end = lastNonSpace(raw)
  const spliceable = end > 0 && raw.charCodeAt(end) === 0x7d /* } */ && !/[\r\n\u2028\u2029]/.test(raw) &&
    !Object.hasOwn(event, '_gateway')
  if (spliceable) return `${raw.slice(0, end)},"_gateway":${gateway}}`
  return JSON.stringify({ ...event, _gateway: stamp })
}

function lastNonSpace (text: string): number {
  let index = text.length - 1
  while (index >= 0 && /\s/.test(text.charAt(index))) index--
  return index
}
