/**
 * `${VAR}` and `${VAR:-default}` in string scalars, applied to the YAML tree itself so every node
 * keeps its line and column for error messages.
 *
 * `${VAR}` needs VAR set and not empty: a misnamed Secret key must not silently turn signing or
 * redaction off, so an unset one is a problem at its own line. `${VAR:-}` is the explicit empty
 * default, and a sequence entry that comes out empty is dropped, so
 * `["${KEY}", "${KEY_PREVIOUS:-}"]` shrinks to one key when the second is unset.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Scalar } from 'yaml'
import { dottedPath, type ConfigProblem } from './problems.js'

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/**
 * Replaces the references in `text`; `missing` receives each variable referenced without a default
 * and not set (or set empty), whose reference is then left as written.
 */
function interpolateString (text: string, env: NodeJS.ProcessEnv, missing: (name: string, set: boolean) => void): string {
  return text.replace(REFERENCE, (whole, name: string, fallback: string | undefined) => {
    const value = env[name]
    if (value !== undefined && value !== '') return value
    if (fallback !== undefined) return fallback
    missing(name, value !== undefined)
    return whole
  })
}

/**
 * Interpolates every string value of the document in place and returns a problem for each variable
 * that is needed and not set. Their scalars keep the reference text, so later checks see a
 * non-empty value there instead of piling up messages about an empty one.
 */
export function interpolateDocument (document: Document, env: NodeJS.ProcessEnv, lines: LineCounter): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const interpolate = (scalar: Scalar, path: readonly (string | number)[]): void => {
    scalar.value = interpolateString(scalar.value as string, env, (name, set) => {
      const { line, col } = lines.linePos(scalar.range?.[0] ?? 0)
      problems.push({ line, col, path: dottedPath(path), message: `environment variable ${name} is ${set ? 'empty' : 'not set'}` })
    })
  }
  const visit = (node: Node | null | undefined, path: readonly (string | number)[]): void => {
    if (node == null) return
    if (isScalar(node)) {
      if (hasReference(node)) interpolate(node, path)
    } else if (isSeq(node)) {
      const kept: unknown[] = []
      for (const item of node.items) {
        const itemPath = [...path, kept.length]
        if (isScalar(item) && hasReference(item)) {
          interpolate(item, itemPath)
          if (item.value === '') continue
        } else {
          visit(item as Node, itemPath)
        }
        kept.push(item)
      }
      node.items = kept
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (isPair(pair)) visit(pair.value as Node | null, [...path, isScalar(pair.key) ? String(pair.key.value) : String(pair.key)])
      }
    }
  }
  visit(document.contents as Node | null, [])
  return problems
}

function hasReference (scalar: Scalar): boolean {
  return typeof scalar.value === 'string' && scalar.value.includes('${')
}
