/**
 * Config messages (SPEC §4): said in words (no ajv wording, no regular expression) and never
 * echoing a configured value, only its type or length, since values are often secrets.
 */
import t from 'tap'
import type { TSchema } from '@sinclair/typebox'
import { parseConfig, ConfigError } from '../../src/config/load.js'
import { ConfigSchema, CommonSinkProperties, CommonSourceProperties } from '../../src/config/schema.js'
import { allSinkDefinitions } from '../../src/registry.js'
import { allSourceDefinitions } from '../../src/sources/registry.js'

function problemsOf (yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'routes.yaml', env)
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n')
    throw error
  }
  return []
}

const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

t.test('no configured value is echoed: a secret with a trailing newline, a URL with credentials, a mistyped duration, PORT', async (t) => {
  const yaml = `server: { shutdown_grace: "hunter2" }
queue: { prefix: "redis://:hunter2@cache" }
sources:
  customerio: { type: customerio, secrets: [k] }
sinks:
  crm: { type: webhook, url: "ftp://admin:hunter2@crm.example.com/hooks", secret: "${WEBHOOK_SECRET}\\n" }
routes:
  - { name: all, match: {}, sinks: [crm] }
`
  const problems = problemsOf(yaml, { PORT: 'hunter2' })
  t.same(problems, [
    'routes.yaml:1:1 server.port: environment variable PORT is not a port number (it is a string of 7 characters)',
    'routes.yaml:1:27 server.shutdown_grace: must be a duration such as 500ms, 30s, 5m, 24h or 7d (got a string of 7 characters)',
    'routes.yaml:2:18 queue.prefix: must be made of letters, digits, _, . and - (got a string of 22 characters)',
    'routes.yaml:6:30 sinks.crm.url: must be an http:// or https:// URL without spaces (got a string of 41 characters)',
    'routes.yaml:6:83 sinks.crm.secret: must be empty, or a Standard Webhooks secret: whsec_ and base64 of at least 24 random bytes, with no spaces or line breaks (got a string of 39 characters)'
  ])
  const text = problems.join('\n')
  for (const value of ['hunter2', WEBHOOK_SECRET.slice(6), 'crm.example.com', 'cache']) t.notOk(text.includes(value), `no '${value}' in the messages`)
})

t.test('every kind of problem in words: no ajv wording, no regular expression', async (t) => {
  const yaml = `server: { port: 70000, body_limit: 12 }
admin: { token: 7 }
queue: { high_water_mark: 0 }
sources:
  customerio: { type: customerio, secrets: [] }
  Partner: { type: segment, secrets: [""] }
sinks:
  "warehouse 2": { type: file, path: x }
  crm: { type: webhook, url: "https://crm.example.com/hooks", headers: { "X Token": t } }
  lake: { type: bigquery, dataset: "my-dataset", table: "events-{object_type}", batch: { max_events: 0 }, pipelines_table: "cdp-{source}" }
  files: { type: file, path: "", redact: ["data..email"] }
routes:
  - { name: "", match: { metrc: bounced, object_type: [] }, sinks: [] }
reporting: { region: mars }
`
  const problems = problemsOf(yaml)
  t.same(problems, [
    'routes.yaml:1:17 server.port: must be at most 65535',
    'routes.yaml:1:36 server.body_limit: must be a size such as 512kb or 1mb (got a number)',
    'routes.yaml:2:17 admin.token: must be a string (got a number)',
    'routes.yaml:3:27 queue.high_water_mark: must be at least 1',
    'routes.yaml:5:44 sources.customerio.secrets: must list at least one entry',
    'routes.yaml:6:3 sources.Partner: must be a source name of lowercase letters, digits, _ and -, starting with a letter or digit (it is the URL path /webhooks/<name>)',
    "routes.yaml:6:20 sources.Partner.type: source type 'segment' is not known (known: customerio, customerio_pipelines)",
    'routes.yaml:8:3 sinks.warehouse 2: must be a sink name of letters, digits, _ and -, starting with a letter or digit',
    'routes.yaml:9:74 sinks.crm.headers.X Token: must be a header name of letters, digits and -',
    'routes.yaml:10:36 sinks.lake.dataset: must be made of letters, digits and _ (got a string of 10 characters)',
    'routes.yaml:10:57 sinks.lake.table: must be made of letters, digits, _ and the placeholders {object_type} and {source} (got a string of 20 characters)',
    'routes.yaml:10:102 sinks.lake.batch.max_events: must be at least 1',
    'routes.yaml:10:124 sinks.lake.pipelines_table: must be made of letters, digits, _ and the placeholders {object_type} and {source} (got a string of 12 characters)',
    'routes.yaml:11:30 sinks.files.path: must not be empty',
    'routes.yaml:11:43 sinks.files.redact[0]: must be a dotted path such as data.recipient (got a string of 11 characters)',
    'routes.yaml:13:13 routes[0].name: must not be empty',
    'routes.yaml:13:26 routes[0].match.metrc: must be source, object_type, metric or a dotted path such as data.campaign_id',
    'routes.yaml:13:55 routes[0].match.object_type: must be a string or a list of strings',
    'routes.yaml:13:68 routes[0].sinks: must list at least one entry',
    'routes.yaml:14:22 reporting.region: must be one of: us, eu'
  ])
  for (const problem of problems) t.notMatch(problem, /must NOT|must match|must be equal to|must have|must be >|must be <|\^|\$|\\\\|\[\^/, problem)
})

t.test('a source of an unknown type, a section without entries', async (t) => {
  t.same(problemsOf('sources: {}\nsinks: {}\nroutes: []\n'), ['routes.yaml:1:10 sources: must have at least one entry'])
  t.same(problemsOf('sources:\n  partner: { type: segment, secrets: [k] }\nsinks: {}\nroutes: []\n'), [
    "routes.yaml:2:20 sources.partner.type: source type 'segment' is not known (known: customerio, customerio_pipelines)"
  ])
})

/** Every string schema with a pattern, anywhere under `schema`, with its place. */
function patterns (schema: unknown, place: string, found: { place: string, expected: unknown }[] = []): { place: string, expected: unknown }[] {
  if (schema === null || typeof schema !== 'object') return found
  const node = schema as Record<string, unknown>
  if (typeof node.pattern === 'string') found.push({ place, expected: node.expected })
  if (node.patternProperties !== undefined) found.push({ place: `${place} (names)`, expected: node.expected })
  for (const [key, value] of Object.entries(node)) {
    if (key === 'patternProperties') {
      for (const inner of Object.values(value as Record<string, unknown>)) patterns(inner, `${place}.*`, found)
    } else if (typeof value === 'object') {
      patterns(value, key === 'properties' || key === 'items' || key === 'anyOf' ? place : `${place}.${key}`, found)
    }
  }
  return found
}

t.test('every pattern in the schemas says in words what it expects', async (t) => {
  const schemas: [string, TSchema | Record<string, TSchema>][] = [
    ['routes.yaml', ConfigSchema],
    ['sources.<name>', CommonSourceProperties],
    ...allSourceDefinitions().map((definition): [string, TSchema] => [`sources.<${definition.type}>`, definition.schema]),
    ['sinks.<name>', CommonSinkProperties],
    ...allSinkDefinitions().map((definition): [string, TSchema] => [`sinks.<${definition.type}>`, definition.schema])
  ]
  const found = schemas.flatMap(([place, schema]) => patterns(schema, place))
  t.ok(found.length >= 14, `${found.length} patterns found`)
  t.same(found.filter((pattern) => typeof pattern.expected !== 'string'), [], 'each has its `expected` description')
})
