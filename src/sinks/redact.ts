/** Replaces values at dotted paths by their SHA-256 (or keyed HMAC-SHA256) hex digest, on a copy. */
import { createHash, createHmac } from 'node:crypto'

export function redactor (paths: readonly string[], key: string | undefined): ((event: Record<string, unknown>) => Record<string, unknown>) | undefined {
  if (paths.length === 0) return undefined
  const split = paths.map((path) => path.split('.'))
  const digest = (value: unknown): string => {
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    return (key === undefined ? createHash('sha256') : createHmac('sha256', key)).update(text).digest('hex')
  }
  return (event) => {
    const copy = structuredClone(event)
    for (const path of split) replaceAt(copy, path, digest)
    return copy
  }
}

function replaceAt (target: Record<string, unknown>, path: readonly string[], digest: (value: unknown) => string): void {
  let node: unknown = target
  for (let index = 0; index < path.length - 1; index++) {
    if (node === null || typeof node !== 'object') return
    node = (node as Record<string, unknown>)[path[index] as string]
  }
  const leaf = path[path.length - 1] as string
  if (node === null || typeof node !== 'object' || !Object.hasOwn(node, leaf)) return
  const value = (node as Record<string, unknown>)[leaf]
  if (value === null || value === undefined) return
  ;(node as Record<string, unknown>)[leaf] = digest(value)
}
