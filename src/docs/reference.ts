/**
 * The configuration reference (docs/configuration.md) and the metrics reference (docs/monitoring.md),
 * rendered from the schemas and the metric definitions themselves so the docs cannot drift
 * (test/docs/references.test.ts compares them; `npm run docs` rewrites them).
 */
import { Registry } from 'prom-client'
import type { TSchema } from '@sinclair/typebox'
import { BatchSchema, CommonSinkProperties, CommonSourceProperties, ConfigSchema, RetrySchema, RouteSchema } from '../config/schema.js'
import { allSinkDefinitions } from '../registry.js'
import { allSourceDefinitions } from '../sources/registry.js'
import { GatewayMetrics } from '../../plugins/metrics/metrics.js'
import { renderEnvironmentReference } from './environment.js'
import { USAGE } from '../cli.js'
import { REDIS_WAIT } from '../commands/replay.js'

interface SchemaLike {
  type?: string
  description?: string
  default?: unknown
  pattern?: string
  enum?: unknown[]
  anyOf?: SchemaLike[]
  items?: SchemaLike
  properties?: Record<string, SchemaLike>
  required?: string[]
}

function typeOf (schema: SchemaLike): string {
  if (schema.enum !== undefined) return schema.enum.map((value) => `\`${String(value)}\``).join(' \\| ')
  if (schema.anyOf !== undefined) return schema.anyOf.map(typeOf).join(' \\| ')
  if (schema.type === 'string' && schema.pattern?.includes('ms|s|m|h|d') === true) return 'duration'
  if (schema.type === 'string' && schema.pattern?.includes('kb|mb') === true) return 'size'
  if (schema.type === 'array') return `list of ${typeOf(schema.items ?? {})}`
  return schema.type ?? 'value'
}

function cell (text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function table (prefix: string, properties: Record<string, SchemaLike>, required: readonly string[] = [], noDefault = ''): string {
  const rows = Object.entries(properties).map(([key, schema]) => {
    const fallback = schema.default === undefined ? (required.includes(key) ? '(required)' : noDefault) : `\`${JSON.stringify(schema.default)}\``
    return `| \`${prefix}${key}\` | ${typeOf(schema)} | ${fallback} | ${cell(schema.description ?? '')} |`
  })
  return ['| key | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n')
}

function section (title: string, description: string | undefined, prefix: string, schema: TSchema, noDefault = ''): string {
  const like = schema as SchemaLike
  return `### ${title}\n\n${description === undefined ? '' : `${description}\n\n`}${table(prefix, like.properties ?? {}, like.required, noDefault)}\n`
}

/**
 * A top-level section as the config file takes it (ConfigSchema's property, where `Type.Partial`
 * makes every key optional, rather than the full schema the code resolves to), then a subsection
 * for each of its keys that is an object of keys of its own (`queue.redis_sentinel`).
 */
function topSection (key: keyof typeof ConfigSchema.properties): string {
  const schema = ConfigSchema.properties[key] as TSchema
  const nested = Object.entries((schema as SchemaLike).properties ?? {})
    .filter(([, value]) => value.type === 'object' && value.properties !== undefined)
    .map(([name, value]) => section(`\`${key}.${name}\``, `${value.description ?? ''} Optional; when it is given, the keys marked (required) must be.`,
      `${key}.${name}.`, value as TSchema))
  return [section(`\`${key}\``, schema.description, `${key}.`, schema), ...nested].join('\n')
}

/** Bytes as routes.yaml writes them: the largest unit that divides them. */
function size (bytes: number): string {
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}mb`
  if (bytes % 1024 === 0) return `${bytes / 1024}kb`
  return `${bytes}b`
}

/** Milliseconds as routes.yaml writes them: the largest unit that divides them. */
function duration (ms: number): string {
  for (const [unit, factor] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % factor === 0) return `${ms / factor}${unit}`
  }
  return `${ms}ms`
}

/** One sentence: the batch defaults of a sink type, for its row in the reference and its own page. */
export function renderBatchDefaults (type: string): string {
  const definition = allSinkDefinitions().find((d) => d.type === type)
  if (definition === undefined) throw new Error(`sink type '${type}' is not known`)
  const { maxEvents, maxBytes, maxWaitMs } = definition.batchDefaults
  return `Batch defaults: \`max_events: ${maxEvents}\`, \`max_bytes: ${size(maxBytes)}\`, \`max_wait: ${duration(maxWaitMs)}\`.`
}

function batchDefaultsTable (): string {
  const rows = allSinkDefinitions().map(({ type, batchDefaults: b }) =>
    `| \`${type}\` | \`${b.maxEvents}\` | \`${size(b.maxBytes)}\` | \`${duration(b.maxWaitMs)}\` |`)
  return ['| sink type | `max_events` | `max_bytes` | `max_wait` |', '|---|---|---|---|', ...rows].join('\n')
}

export function renderConfigReference (): string {
  const parts = [
    topSection('server'),
    topSection('admin'),
    topSection('queue'),
    topSection('quarantine'),
    topSection('dedupe'),
    `### \`sources.<name>\`: options of every source type\n\nA webhook source, served at POST /webhooks/<name>.\n\n${table('', CommonSourceProperties as unknown as Record<string, SchemaLike>, ['type'])}\n`,
    ...allSourceDefinitions().map((definition) => section(`\`sources.<name>\` of \`type: ${definition.type}\``, definition.summary, '', definition.schema)),
    `### \`sinks.<name>\`: options of every sink type\n\n${table('', CommonSinkProperties as unknown as Record<string, SchemaLike>, ['type'])}\n`,
    section('`sinks.<name>.batch`', `${BatchSchema.description} Every key is optional; the defaults depend on the sink type:\n\n${batchDefaultsTable()}`, 'batch.', CommonSinkProperties.batch, 'by sink type'),
    section('`sinks.<name>.retry`', RetrySchema.description, 'retry.', RetrySchema)
  ]
  for (const definition of allSinkDefinitions()) {
    parts.push(section(`\`type: ${definition.type}\``,
      `${definition.summary} ${renderBatchDefaults(definition.type)}`, '', definition.schema))
  }
  parts.push(section('`routes[]`', RouteSchema.description ?? 'Walked in order for every event; every matching route adds its sinks.', '', RouteSchema))
  parts.push(topSection('reporting'))
  return parts.join('\n')
}

export function renderMetricsReference (): string {
  const registry = new Registry()
  // Only the gateway's own metrics are listed; the default process metrics are described in one line.
  const metrics = new GatewayMetrics(registry, { defaultMetrics: false })
  void metrics
  const rows = registry.getMetricsAsArray().map((metric) => {
    const { name, help, labelNames, type } = metric as unknown as { name: string, help: string, labelNames?: string[], type: string }
    return `| \`${name}\` | ${type} | ${(labelNames ?? []).map((label) => `\`${label}\``).join(', ')} | ${cell(help)} |`
  })
  return ['| metric | type | labels | meaning |', '|---|---|---|---|', ...rows].join('\n') +
    '\n\nPlus the default Node.js process metrics of prom-client, with the same `cio_gateway_` prefix (`cio_gateway_process_cpu_seconds_total`, `cio_gateway_nodejs_heap_size_used_bytes`, …).\n'
}

/**
 * How long `cio-gateway replay` waits for a Redis it cannot reach. The last attempt may start just
 * before the deadline, after a pause, and take its whole connect timeout.
 */
export function renderReplayRedisWait (): string {
  const { tryForMs, pauseMs, connectTimeoutMs } = REDIS_WAIT
  const seconds = (ms: number): string => `${ms / 1000} s`
  return `When Redis does not answer, replay starts new attempts for ${seconds(tryForMs)}, ${seconds(pauseMs)} after each failure, ` +
    `and allows each ${seconds(connectTimeoutMs)} to connect: it exits at most ${seconds(tryForMs + pauseMs + connectTimeoutMs)} after its ` +
    'first attempt (the process start and the config load come before).'
}

/** A generated block: the text between `<!-- name:start -->` and `<!-- name:end -->` in a docs file. */
export interface GeneratedBlock {
  /** Path from the repository root. */
  file: string
  name: string
  /** The block's text; `read` gives the text of a file of the repository by its path from the root. */
  render: (read: (file: string) => string) => string
}

/** Every generated block of the docs, for `npm run docs` and the test that keeps them current. */
export const generatedBlocks: readonly GeneratedBlock[] = [
  { file: 'docs/configuration.md', name: 'config-reference', render: renderConfigReference },
  { file: 'docs/configuration.md', name: 'environment-reference', render: (read) => renderEnvironmentReference(read('routes.yaml')) },
  { file: 'docs/cli.md', name: 'cli-usage', render: () => '```text\n' + USAGE + '\n```' },
  { file: 'docs/monitoring.md', name: 'metrics-reference', render: renderMetricsReference },
  { file: 'docs/operations.md', name: 'replay-redis-wait', render: renderReplayRedisWait },
  ...allSinkDefinitions().map(({ type }) => ({ file: `docs/sinks/${type}.md`, name: 'batch-defaults', render: () => renderBatchDefaults(type) }))
]
