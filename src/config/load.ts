/**
 * Reads routes.yaml: interpolate the environment, validate everything, report every problem at once
 * with its line and column, in file order, then resolve durations and sizes. Nothing listens before
 * this succeeds.
 */
import { readFile } from 'node:fs/promises'
import { parseDuration, parseSize } from '../units.js'
import { sinkDefinition, unknownSinkTypeMessage } from '../registry.js'
import { findSourceType, unknownSourceTypeMessage, type SourceType } from '../sources/registry.js'
import { ConfigSchema, type RawConfig, type RawRoute } from './schema.js'
import { checkConfig } from './checks.js'
import { ConfigError, Locator, type ConfigProblem } from './problems.js'
import { validateAgainst } from './validate.js'
import { listenerProblems, resolveListeners } from './listeners.js'
import { readYaml } from './yaml-source.js'
import { checkQueue, resolveQuarantine, resolveQueue } from './queue.js'
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
  const source = readYaml(text, env)
  if (source.document === undefined) throw new ConfigError(file, inFileOrder(source.problems))
  const { document, lines, data, problems: unset } = source
  const locator = new Locator(document, lines)
  const checked = [...validateAgainst(ConfigSchema, data, [], locator), ...checkConfig(data, locator, env), ...listenerProblems(data as RawConfig, env, locator), ...checkQueue(data as RawConfig, locator)]
  // A value whose variable is not set is reported as that, once: what the checks say about the
  // reference left in its place would only repeat it.
  const problems = [...unset, ...checked.filter((problem) => !unset.some((missing) => missing.path === problem.path))]
  if (problems.length > 0) throw new ConfigError(file, inFileOrder(problems))
  return resolve(data as RawConfig, file, env)
}

function inFileOrder (problems: readonly ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col)
}

function windowMsOf (raw: RawConfig): number {
  return parseDuration(raw.dedupe?.window ?? '24h')
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
