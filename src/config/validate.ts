/**
 * ajv, run with allErrors, with its errors turned into config problems that carry their place and
 * say in words what the file needs. Two rules for every message: no ajv wording and no regular
 * expression (a pattern is described by the `expected` annotation of its schema), and never the
 * configured value itself, only its type or length: values are often secrets.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import type { TSchema } from '@sinclair/typebox'
import { closest } from '../did-you-mean.js'
import type { ConfigPath, ConfigProblem, Locator } from './problems.js'

// verbose: errors carry their schema and data, for 'did you mean' hints, `expected` and the value's type.
const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false, verbose: true })
const compiled = new WeakMap<object, ValidateFunction>()

/**
 * What a schema may say beyond JSON Schema. `expected` describes a `pattern` in words ("a dotted path
 * such as data.recipient"); on a map of names (a record) it describes the names.
 */
interface SchemaNotes {
  readonly expected?: string
}

interface SchemaLike extends SchemaNotes {
  readonly pattern?: string
  readonly properties?: Record<string, unknown>
  readonly patternProperties?: Record<string, unknown>
  readonly anyOf?: readonly { type?: string }[]
}

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
  const schema = (error.parentSchema ?? {}) as SchemaLike
  const limit = (error.params as { limit?: number }).limit ?? 0
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String((error.params as { additionalProperty: string }).additionalProperty)
      if (schema.patternProperties !== undefined) return locator.problem([...path, key], `must be ${schema.expected ?? 'another name'}`, { key: true })
      const hint = closest(key, Object.keys(schema.properties ?? {}))
      return locator.problem([...path, key], `unknown key${hint === undefined ? '' : ` (did you mean '${hint}'?)`}`, { key: true })
    }
    case 'required':
      return locator.problem(path, `missing required key '${(error.params as { missingProperty: string }).missingProperty}'`)
    case 'pattern':
      return locator.problem(path, `must be ${schema.expected ?? 'of another form'} (got ${describe(error.data)})`)
    case 'type': {
      // `body_limit: 1024` is a number where a size is expected: say what a size looks like.
      const types = [(error.params as { type: string | string[] }).type].flat()
      const expected = schema.pattern === undefined ? undefined : schema.expected
      return locator.problem(path, `must be ${expected ?? types.map(typeName).join(' or ')} (got ${describe(error.data)})`)
    }
    case 'minimum':
      return locator.problem(path, `must be at least ${limit}`)
    case 'maximum':
      return locator.problem(path, `must be at most ${limit}`)
    case 'minLength':
      return locator.problem(path, limit === 1 ? 'must not be empty' : `must be at least ${limit} characters long (got ${describe(error.data)})`)
    case 'maxLength':
      return locator.problem(path, `must be at most ${limit} characters long (got ${describe(error.data)})`)
    case 'minItems':
      return locator.problem(path, limit === 1 ? 'must list at least one entry' : `must list at least ${limit} entries`)
    case 'maxItems':
      return locator.problem(path, `must list at most ${limit} entries`)
    case 'minProperties':
      return locator.problem(path, limit === 1 ? 'must have at least one entry' : `must have at least ${limit} entries`)
    case 'const':
      return locator.problem(path, `must be ${String((error.params as { allowedValue: unknown }).allowedValue)}`)
    case 'enum':
      return locator.problem(path, `must be one of: ${((error.params as { allowedValues: unknown[] }).allowedValues).join(', ')}`)
    case 'anyOf':
      return locator.problem(path, `must be ${describeAnyOf(schema.anyOf)}`)
    default:
      // A keyword the schemas do not use yet: say where, in words, rather than in ajv's.
      return locator.problem(path, 'is not valid here')
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

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', object: 'a mapping', array: 'a list', null: 'empty'
}

function typeName (type: string): string {
  return TYPE_NAMES[type] ?? type
}

/** A value by its type and size only: it may be a secret. */
function describe (value: unknown): string {
  if (typeof value === 'string') return value === '' ? 'an empty string' : `a string of ${value.length} character${value.length === 1 ? '' : 's'}`
  if (Array.isArray(value)) return `a list of ${value.length} entr${value.length === 1 ? 'y' : 'ies'}`
  if (value === null || value === undefined) return 'no value'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'boolean') return 'true or false'
  return `a ${typeof value}`
}

function describeAnyOf (branches: SchemaLike['anyOf']): string {
  const kinds = (branches ?? []).map((branch) => branch.type === 'array' ? 'a list of strings' : typeName(branch.type ?? 'value'))
  return kinds.length > 0 ? kinds.join(' or ') : 'of another shape'
}
