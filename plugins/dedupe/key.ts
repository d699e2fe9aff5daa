import { createHash } from 'node:crypto'

/** Longest event_id used as is; longer ones are hashed so Redis keys stay bounded. */
const MAX_ID_LENGTH = 128

/** event_id when present (SPEC §5), else the SHA-256 of the raw body. */
export function dedupeKeyOf (event: { event_id?: unknown }, rawBody: Buffer | string): string {
  const id = event.event_id
  if (typeof id === 'string' && id !== '') {
    return id.length <= MAX_ID_LENGTH ? id : `sha256:${sha256(id)}`
  }
  return `body:${sha256(rawBody)}`
}

function sha256 (data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}
