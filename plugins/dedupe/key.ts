import { createHash } from 'node:crypto'

/** Longest event id used as is; longer ones are hashed so Redis keys stay bounded. */
const MAX_ID_LENGTH = 128

/** event_id when present (SPEC §5), else the SHA-256 of the raw body. */
export function dedupeKeyOf (event: { event_id?: unknown }, rawBody: Buffer | string): string {
  return dedupeKeyFor(event.event_id, rawBody)
}

/** The event's own id when it is a non-empty string, else the SHA-256 of its raw text. */
export function dedupeKeyFor (id: unknown, raw: Buffer | string): string {
  if (typeof id === 'string' && id !== '') {
    return id.length <= MAX_ID_LENGTH ? id : `sha256:${sha256(id)}`
  }
  return `body:${sha256(raw)}`
}

function sha256 (data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}
