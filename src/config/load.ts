/**
 * Reads routes.yaml: interpolate the environment, validate everything, report every problem at once
 * with its line and column, then resolve durations and sizes. Nothing listens before this succeeds.
 */
import { readFile } from 'node:fs/promises'
import { LineCounter, parseDocument } from 'yaml'
import { Type, type TObject, type TSchema } from '@sinclair/typebox'
import { parseDuration, parseSize } from '../units.js'
import { sinkDefinition, unknownSinkTypeMessage } from '../registry.js'
import { findSourceType, unknownSourceTypeMessage, type SourceType } from '../sources/registry.js'
import { ConfigSchema, CommonSinkProperties, CommonSourceProperties, type RawConfig, type RawRoute } from './schema.js'
import { interpolateDocument } from './interpolate.js'
import { ConfigError, Locator, type ConfigProblem } from './problems.js'
import { validateAgainst } from './validate.js'
import { checkQueue, resolveQuarantine, resolveQueue } from './queue.js'
import { listenerProblems, resolveListeners } from './listeners.js'
import type { GatewayConfig, MatchCondition, RouteConfig, SinkConfig, SourceConfig } from './types.js'

export { ConfigError } from './problems.js'

export async function loadConfigFile (file: string, env: NodeJS.ProcessEnv = process.env): Promise<GatewayConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message
    throw new ConfigError(file, [{ line: 1, col: 1, path: '', message: `cannot read the configuration: ${reason}` }])
  }
  return parseConfig(text, file, env)
}

export function parseConfig (text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const lines = new LineCounter()
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  const syntax = document.errors.map((error): ConfigProblem => {
    const { line, col } = lines.linePos(error.pos[0])
    return { line, col, path: '', message: error.message.split('\n')[0] ?? 'YAML syntax error' }
  })
  if (syntax.length > 0) throw new ConfigError(file, syntax)

  const { unset } = interpolateDocument(document, env)
  const data: unknown = document.toJS() ?? {}
  const locator = new Locator(document, lines)
  // Each source's options belong to the shape of the file, as when there was one source type.
  const problems = [...validateAgainst(ConfigSchema, data, [], locator), ...checkSourceOptions(data, locator)]
  const raw = data as RawConfig
  if (problems.length === 0) problems.push(...checkSinks(raw, locator), ...checkReferences(raw, locator, env), ...checkSourceRules(raw, locator), ...checkQueue(raw, locator))
  if (problems.length > 0) {
    const hint = unset.size > 0 ? ` (environment variables not set: ${[...unset].sort().join(', ')})` : ''
    const withHints = hint === '' ? problems : problems.map((problem) => ({ ...problem, message: problem.message + hint }))
    throw new ConfigError(file, withHints)
  }
  return resolve(raw, file, env)
}

/** A type's options schema with the common keys added: unknown keys are errors, as everywhere. */
function withCommon (cache: Map<string, TObject>, type: string, common: Record<string, TSchema>, options: TObject): TObject {
  let schema = cache.get(type)
  if (schema === undefined) {
    schema = Type.Object({ ...common, ...options.properties }, {
      additionalProperties: false, required: ['type', ...(options.required ?? [])]
    })
    cache.set(type, schema)
  }
  return schema
}

const sourceSchemas = new Map<string, TObject>()
const sinkSchemas = new Map<string, TObject>()

function windowMsOf (raw: RawConfig): number {
  return parseDuration(raw.dedupe?.window ?? '24h')
}

/** Each source's options against its type's schema; entries without a string `type` are the main schema's to report. */
function checkSourceOptions (data: unknown, locator: Locator): ConfigProblem[] {
  const sources = isRecord(data) ? data.sources : undefined
  if (!isRecord(sources)) return []
  const problems: ConfigProblem[] = []
  for (const [name, entry] of Object.entries(sources)) {
    if (!isRecord(entry) || typeof entry.type !== 'string') continue
    const definition = findSourceType(entry.type)
    if (definition === undefined) problems.push(locator.problem(['sources', name, 'type'], unknownSourceTypeMessage(entry.type)))
    else problems.push(...validateAgainst(withCommon(sourceSchemas, definition.type, CommonSourceProperties, definition.schema), entry, ['sources', name], locator))
  }
  return problems
}

/** The source types' checks across keys and against the rest of the file (a tolerance longer than the dedupe window). */
function checkSourceRules (raw: RawConfig, locator: Locator): ConfigProblem[] {
  const context = { dedupeWindowMs: windowMsOf(raw), dedupeWindow: raw.dedupe?.window ?? '24h' }
  return Object.entries(raw.sources).flatMap(([name, entry]) =>
    (findSourceType(entry.type)?.problems?.(entry, context) ?? []).map(({ key, message }) => locator.problem(['sources', name, key], message)))
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function checkSinks (raw: RawConfig, locator: Locator): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  for (const [name, entry] of Object.entries(raw.sinks)) {
    const definition = sinkDefinition(entry.type)
    if (definition === undefined) {
      problems.push(locator.problem(['sinks', name, 'type'], unknownSinkTypeMessage(entry.type)))
      continue
    }
    problems.push(...validateAgainst(withCommon(sinkSchemas, definition.type, CommonSinkProperties, definition.schema), entry, ['sinks', name], locator))
  }
  return problems
}

function checkReferences (raw: RawConfig, locator: Locator, env: NodeJS.ProcessEnv): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const routeNames = new Map<string, number>()
  raw.routes.forEach((route, index) => {
    const first = routeNames.get(route.name)
    if (first !== undefined) problems.push(locator.problem(['routes', index, 'name'], `route name '${route.name}' is already used by routes[${first}]`))
    else routeNames.set(route.name, index)
    route.sinks.forEach((sink, sinkIndex) => {
      if (!Object.hasOwn(raw.sinks, sink)) problems.push(locator.problem(['routes', index, 'sinks', sinkIndex], `sink '${sink}' is not defined`))
    })
  })
  const port = env.PORT
  if (port !== undefined && port !== '' && !/^[0-9]{1,5}$/.test(port)) {
    problems.push({ line: 1, col: 1, path: 'server.port', message: `environment variable PORT='${port}' is not a port number` })
  }
  problems.push(...listenerProblems(raw, env, locator))
  return problems
}

function resolve (raw: RawConfig, file: string, env: NodeJS.ProcessEnv): GatewayConfig {
  const windowMs = windowMsOf(raw)
  const sources = new Map<string, SourceConfig>()
  for (const [name, entry] of Object.entries(raw.sources)) {
    const definition = findSourceType(entry.type)
    if (definition === undefined) throw new Error(unknownSourceTypeMessage(entry.type))
    sources.set(name, { name, type: definition.type as SourceType, ...definition.resolve(entry, { dedupeWindowMs: windowMs, dedupeWindow: raw.dedupe?.window ?? '24h' }) })
  }
  const sinks = new Map<string, SinkConfig>()
  for (const [name, entry] of Object.entries(raw.sinks)) sinks.set(name, resolveSink(name, entry as Record<string, unknown>))
  const reporting = raw.reporting
  const apiKey = reporting?.api_key ?? ''
  return {
    file,
    server: {
      ...resolveListeners(raw, env),
      maxConnections: raw.server?.max_connections ?? 512,
      bodyLimit: parseSize(raw.server?.body_limit ?? '1mb'),
      shutdownGraceMs: parseDuration(raw.server?.shutdown_grace ?? '25s')
    },
    admin: { token: raw.admin?.token ?? '' },
    queue: resolveQueue(raw.queue),
    quarantine: resolveQuarantine(raw.quarantine),
    dedupe: { windowMs },
    sources,
    sinks,
    routes: raw.routes.map(resolveRoute),
    reporting: apiKey === ''
      ? undefined
      : {
          apiKey,
          baseUrl: nonEmpty(reporting?.base_url) ?? (reporting?.region === 'eu' ? 'https://api-eu.customer.io' : 'https://api.customer.io'),
          intervalMs: parseDuration(reporting?.interval ?? '10m'),
          lookbackDays: reporting?.lookback ?? 7,
          requestTimeoutMs: parseDuration(reporting?.timeout ?? '30s')
        }
  }
}

interface RawSinkCommon {
  type: string
  batch?: { max_events?: number; max_bytes?: string; max_wait?: string }
  retry?: { attempts?: number; initial_delay?: string; max_delay?: string }
  concurrency?: number
  redact?: string[]
  redact_key?: string
}

function resolveSink (name: string, entry: Record<string, unknown>): SinkConfig {
  const common = entry as unknown as RawSinkCommon
  const definition = sinkDefinition(common.type)
  if (definition === undefined) throw new Error(unknownSinkTypeMessage(common.type))
  const defaults = definition.batchDefaults
  return {
    name,
    type: common.type,
    batch: {
      maxEvents: common.batch?.max_events ?? defaults.maxEvents,
      maxBytes: common.batch?.max_bytes === undefined ? defaults.maxBytes : parseSize(common.batch.max_bytes),
      maxWaitMs: common.batch?.max_wait === undefined ? defaults.maxWaitMs : parseDuration(common.batch.max_wait)
    },
    retry: {
      attempts: common.retry?.attempts ?? 12,
      initialDelayMs: parseDuration(common.retry?.initial_delay ?? '1s'),
      maxDelayMs: parseDuration(common.retry?.max_delay ?? '10m')
    },
    concurrency: common.concurrency ?? 2,
    redact: common.redact ?? [],
    redactKey: nonEmpty(common.redact_key),
    options: entry
  }
}

function resolveRoute (route: RawRoute): RouteConfig {
  const conditions: MatchCondition[] = Object.entries(route.match).map(([key, value]) => {
    const list = typeof value === 'string' ? [value] : value
    return { path: key.split('.'), values: list.includes('*') ? undefined : new Set(list) }
  })
  return { name: route.name, conditions, sinks: route.sinks, stop: route.stop ?? false }
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
