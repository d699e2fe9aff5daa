/**
 * `${VAR}` and `${VAR:-default}` in string scalars, applied to the YAML tree itself so every node
 * keeps its line and column for error messages. A sequence entry that interpolates to the empty
 * string is dropped, so `["${KEY}", "${KEY_PREVIOUS:-}"]` shrinks to one key when the second is unset.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml'

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

export interface Interpolation {
  /** Variables referenced without a default and not set, for hints in error messages. */
  readonly unset: Set<string>
}

export function interpolateString (text: string, env: NodeJS.ProcessEnv, unset?: Set<string>): string {
  return text.replace(REFERENCE, (_whole, name: string, fallback: string | undefined) => {
    const value = env[name]
    if (value !== undefined && value !== '') return value
    if (fallback === undefined) unset?.add(name)
    return fallback ?? ''
  })
}

export function interpolateDocument (document: Document, env: NodeJS.ProcessEnv): Interpolation {
  const unset = new Set<string>()
  visit(document.contents as Node | null, env, unset)
  return { unset }
}

function visit (node: Node | null | undefined, env: NodeJS.ProcessEnv, unset: Set<string>): void {
  if (node == null) return
  if (isScalar(node)) {
    if (typeof node.value === 'string' && node.value.includes('${')) node.value = interpolateString(node.value, env, unset)
    return
  }
  if (isSeq(node)) {
    node.items = node.items.filter((item) => {
      if (isScalar(item) && typeof item.value === 'string' && item.value.includes('${')) {
        item.value = interpolateString(item.value, env, unset)
        return item.value !== ''
      }
      visit(item as Node, env, unset)
      return true
    })
    return
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      if (isPair(pair)) visit(pair.value as Node | null, env, unset)
    }
  }
}
