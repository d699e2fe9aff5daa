/**
 * The chart's values reference, read from values.yaml's `# --` comments and typed by
 * values.schema.json. The chart's README.md holds the generated table between two markers; the values
 * test fails when it is out of date and rewrites it when run with CIO_UPDATE_DOCS=1.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMap, isScalar, parseDocument, type Node } from 'yaml'
import { CHART_DIR, isPlainObject } from './chart.js'

export const DOCS_BEGIN = '<!-- values-reference:begin (generated from helm/cio-gateway/values.yaml) -->'
export const DOCS_END = '<!-- values-reference:end -->'

export interface ValueDoc {
  key: string
  type: string
  default: unknown
  description: string | undefined
}

type Schema = Record<string, unknown>

export function loadSchema (): Schema {
  return JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Schema
}

/** A schema node whose keys are documented one by one (rather than as one free-form value). */
function isStructured (schema: Schema | undefined): schema is Schema & { properties: Record<string, Schema> } {
  return schema !== undefined && schema.$ref === undefined && isPlainObject(schema.properties) && schema.additionalProperties === false
}

function describe (comment: string | null | undefined): string | undefined {
  if (comment === null || comment === undefined) return undefined
  const lines = comment.split('\n').map((l) => l.replace(/^ /, ''))
  const start = lines.map((l) => l.startsWith('-- ')).lastIndexOf(true)
  if (start === -1) return undefined
  return lines.slice(start).join(' ').replace(/^-- /, '').trim()
}

function typeOf (schema: Schema | undefined, value: unknown): string {
  if (schema !== undefined) {
    if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ')
    if (typeof schema.type === 'string') return schema.type
    if (Array.isArray(schema.oneOf)) return (schema.oneOf as Schema[]).map((s) => String(s.type)).join(' or ')
    if (typeof schema.$ref === 'string') return 'object'
  }
  if (Array.isArray(value)) return 'array'
  return value === null ? 'null' : typeof value
}

/** Every documented key of values.yaml, in file order. */
export function valueDocs (): ValueDoc[] {
  const schema = loadSchema()
  const doc = parseDocument(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'))
  const out: ValueDoc[] = []
  const walk = (node: Node | null, node_schema: Schema & { properties: Record<string, Schema> }, prefix: string): void => {
    if (!isMap(node)) return
    node.items.forEach((pair, index) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      const keySchema = node_schema.properties[key]
      const path = prefix + key
      const comment = (isScalar(pair.key) ? pair.key.commentBefore : undefined) ?? (index === 0 ? node.commentBefore : undefined)
      if (isStructured(keySchema)) {
        walk(pair.value as Node, keySchema, `${path}.`)
        return
      }
      const value = (pair.value as Node | null)?.toJSON() as unknown
      out.push({ key: path, type: typeOf(keySchema, value), default: value, description: describe(comment) })
    })
  }
  if (!isStructured(schema)) throw new Error('values.schema.json: the root must list its properties and reject others')
  walk(doc.contents as Node, schema, '')
  return out
}

function formatDefault (value: unknown): string {
  const json = JSON.stringify(value)
  if (json === undefined) return ''
  if (json.length > 60) return '(see values.yaml)'
  return '`' + json.replace(/\|/g, '\\|') + '`'
}

export function valuesReferenceMarkdown (): string {
  const rows = valueDocs().map((d) =>
    `| \`${d.key}\` | ${d.type} | ${formatDefault(d.default)} | ${(d.description ?? '').replace(/\|/g, '\\|')} |`)
  return ['| Key | Type | Default | Description |', '|---|---|---|---|', ...rows].join('\n')
}

export function docsWithReference (docs: string): string {
  const begin = docs.indexOf(DOCS_BEGIN)
  const end = docs.indexOf(DOCS_END)
  if (begin === -1 || end === -1 || end < begin) throw new Error(`helm/cio-gateway/README.md: the markers ${DOCS_BEGIN} and ${DOCS_END} are missing`)
  return docs.slice(0, begin + DOCS_BEGIN.length) + '\n' + valuesReferenceMarkdown() + '\n' + docs.slice(end)
}
