/** ajv, run with allErrors, with its errors turned into config problems that carry their place. */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import type { TSchema } from '@sinclair/typebox'
import { DURATION_PATTERN, SIZE_PATTERN } from '../units.js'
import type { ConfigPath, ConfigProblem, Locator } from './problems.js'

// verbose: errors carry their schema, for 'did you mean' hints and readable anyOf messages.
const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false, verbose: true })
const compiled = new WeakMap<object, ValidateFunction>()

export function validateAgainst (schema: TSchema, data: unknown, base: ConfigPath, locator: Locator): ConfigProblem[] {
  let validate = compiled.get(schema)
  if (validate === undefined) {
    validate = ajv.compile(schema)
    compiled.set(schema, validate)
  }
  if (validate(data)) return []
  const errors = validate.errors ?? []
  // A failed anyOf also reports each branch's failure at the same place; keep only the summary.
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  const problems: ConfigProblem[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    if (error.keyword !== 'anyOf' && anyOfPaths.has(error.instancePath)) continue
    const problem = toProblem(error, data, base, locator)
    const key = `${problem.path}\0${problem.message}`
    if (seen.has(key)) continue
    seen.add(key)
    problems.push(problem)
  }
  return problems
}

function toProblem (error: ErrorObject, data: unknown, base: ConfigPath, locator: Locator): ConfigProblem {
  const path = [...base, ...pointerToPath(error.instancePath, data)]
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String((error.params as { additionalProperty: string }).additionalProperty)
      const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {})
      const hint = closest(key, known)
      return locator.problem([...path, key], `unknown key${hint === undefined ? '' : ` (did you mean '${hint}'?)`}`, { key: true })
    }
    case 'required':
      return locator.problem(path, `missing required key '${(error.params as { missingProperty: string }).missingProperty}'`)
    case 'pattern': {
      const pattern = (error.params as { pattern: string }).pattern
      if (pattern === DURATION_PATTERN) return locator.problem(path, `must be a duration such as 500ms, 30s, 5m, 24h or 7d (got ${show(valueAt(data, error.instancePath))})`)
      if (pattern === SIZE_PATTERN) return locator.problem(path, `must be a size such as 512kb or 1mb (got ${show(valueAt(data, error.instancePath))})`)
      return locator.problem(path, `${show(valueAt(data, error.instancePath))} must match ${pattern}`)
    }
    case 'propertyNames': {
      const name = (error.params as { propertyName?: string }).propertyName
      return locator.problem(name === undefined ? path : [...path, name], 'is not an allowed name', { key: true })
    }
    case 'enum':
      return locator.problem(path, `must be one of: ${((error.params as { allowedValues: unknown[] }).allowedValues).join(', ')}`)
    case 'anyOf':
      return locator.problem(path, `must be ${describeAnyOf(error.schema)}`)
    default:
      return locator.problem(path, error.message ?? 'is not valid')
  }
}

function pointerToPath (pointer: string, data: unknown): (string | number)[] {
  if (pointer === '') return []
  const path: (string | number)[] = []
  let current: unknown = data
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(current)) {
      const index = Number(segment)
      path.push(index)
      current = current[index]
    } else {
      path.push(segment)
      current = current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[segment] : undefined
    }
  }
  return path
}

function valueAt (data: unknown, pointer: string): unknown {
  let current = data
  for (const segment of pointer === '' ? [] : pointer.slice(1).split('/')) {
    current = current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[segment] : undefined
  }
  return current
}

function show (value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value)
}

function describeAnyOf (branches: unknown): string {
  const kinds = Array.isArray(branches)
    ? branches.map((branch: { type?: string }) => branch.type === 'array' ? 'a list of strings' : `a ${branch.type ?? 'value'}`)
    : []
  return kinds.length > 0 ? kinds.join(' or ') : 'of another shape'
}

/** The known key nearest to a misspelt one, when it is close enough to be a likely typo. */
function closest (word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate)
    if (distance < bestDistance) { best = candidate; bestDistance = distance }
  }
  return best
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
