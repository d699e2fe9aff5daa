/**
 * Per-sink PII redaction (SPEC §6): the values at the sink's `redact` paths are replaced by their
 * SHA-256 hex digest (HMAC-SHA256 keyed with `redact_key` when set), on a copy made for that sink
 * only; other sinks keep the original.
 *
 * The rules, chosen so that a digest can stand in for the value in joins and a path never misses
 * what it names:
 * - a string is digested as its UTF-8 bytes; any other scalar as its JSON text, so the number 42 and
 *   the string "42" give the same digest (Customer.io sends ids both ways);
 * - an object at the path is digested whole, as its JSON text;
 * - an array at the path has each element redacted by these rules (a list of emails stays a list);
 * - an array on the way is walked element by element (`data.recipients.device_id` redacts every
 *   device id), unless the next segment is an index such as `data.recipients.0.device_id`;
 * - a missing path, null and undefined are left as they are: redaction never adds a field;
 * - only own properties are followed, so no path reaches Object.prototype.
 */
import { createHash, createHmac } from 'node:crypto'

export type Redactor = (event: Record<string, unknown>) => Record<string, unknown>
type Digest = (value: unknown) => string

const INDEX = /^(0|[1-9][0-9]*)$/

export function redactor (paths: readonly string[], key: string | undefined): Redactor | undefined {
  if (paths.length === 0) return undefined
  const split = paths.map((path) => path.split('.'))
  const digest: Digest = (value) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    return (key === undefined ? createHash('sha256') : createHmac('sha256', key)).update(text, 'utf8').digest('hex')
  }
  return (event) => {
    const copy = structuredClone(event)
    for (const path of split) redactAt(copy, path, 0, digest)
    return copy
  }
}

function redactAt (node: unknown, path: readonly string[], depth: number, digest: Digest): void {
  if (node === null || typeof node !== 'object') return
  const segment = path[depth] as string
  const last = depth === path.length - 1
  if (Array.isArray(node)) {
    if (!INDEX.test(segment)) {
      for (const item of node) redactAt(item, path, depth, digest)
      return
    }
    const index = Number(segment)
    if (index >= node.length) return
    if (last) node[index] = redacted(node[index], digest)
    else redactAt(node[index], path, depth + 1, digest)
    return
  }
  if (!Object.hasOwn(node, segment)) return
  const record = node as Record<string, unknown>
  if (last) record[segment] = redacted(record[segment], digest)
  else redactAt(record[segment], path, depth + 1, digest)
}

function redacted (value: unknown, digest: Digest): unknown {
  if (value === null || value === undefined) return value
  if (Array.isArray(value)) return value.map((item) => redacted(item, digest))
  return digest(value)
}
