/**
 * The checks after the schema: each source's and sink's own options (by type), references between sections, and the
 * rules no JSON Schema can say. They run even when the schema found problems, so one run of
 * check-config reports everything (SPEC §4); each reads the data defensively and checks only the
 * parts that have the shape it needs, leaving the rest to the schema's messages.
 */
import ipaddr from 'ipaddr.js'
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox'
import { DURATION_PATTERN, parseDuration } from '../units.js'
import { sinkDefinition, unknownSinkTypeMessage } from '../registry.js'
import { DEFAULT_SOURCE_TYPE, findSourceType, unknownSourceTypeMessage } from '../sources/registry.js'
import { CommonSinkProperties, CommonSourceProperties } from './schema.js'
import type { ConfigProblem, Locator } from './problems.js'
import { validateAgainst } from './validate.js'

/** The signing key the default routes.yaml falls back to: public, so only for a loopback listener. */
export const DEVELOPMENT_KEY = 'dev-signing-key'

/** Shorter admin tokens are guessable (SPEC §3); an empty one turns the admin API off. */
export const MIN_ADMIN_TOKEN_LENGTH = 32

const DEFAULT_DEDUPE_WINDOW = '24h'

type Data = Readonly<Record<string, unknown>>

export function checkConfig (data: unknown, locator: Locator, env: NodeJS.ProcessEnv): ConfigProblem[] {
  const config = asRecord(data) ?? {}
  return [
    ...checkSources(config, locator),
    ...checkSinks(config, locator),
    ...checkRoutes(config, locator),
    ...checkAdminToken(config, locator),
    ...checkDevelopmentKey(config, locator, env),
    ...checkPortVariable(env)
  ]
}

/** The address the webhook listener binds: HOST overrides server.host. */
export function listenHost (data: unknown, env: NodeJS.ProcessEnv): string {
  const host = asRecord(asRecord(data)?.server)?.host
  return nonEmpty(env.HOST) ?? (typeof host === 'string' ? host : undefined) ?? '0.0.0.0'
}

const sourceSchemas = new Map<string, TObject>()
const sinkSchemas = new Map<string, TObject>()

/** A type's schema with the options every source (or sink) accepts: unknown keys are errors, as everywhere. */
function withCommon (schemas: Map<string, TObject>, type: string, common: Record<string, TSchema>, options: TObject): TObject {
  let schema = schemas.get(type)
  if (schema === undefined) {
    schema = Type.Object({ ...common, ...options.properties }, {
      additionalProperties: false, required: ['type', ...(options.required ?? [])]
    })
    schemas.set(type, schema)
  }
  return schema
}

/**
 * Each source against its type's schema, then its type's own rules (a tolerance longer than the
 * dedupe window), which need options of that shape and a dedupe window that is a duration.
 */
function checkSources (config: Data, locator: Locator): ConfigProblem[] {
  const window = asRecord(config.dedupe)?.window ?? DEFAULT_DEDUPE_WINDOW
  const context = isDuration(window) ? { dedupeWindowMs: parseDuration(window), dedupeWindow: window } : undefined
  const problems: ConfigProblem[] = []
  for (const [name, value] of Object.entries(asRecord(config.sources) ?? {})) {
    const entry = asRecord(value)
    // A source without a string type is the schema's to report.
    if (entry === undefined || typeof entry.type !== 'string') continue
    const definition = findSourceType(entry.type)
    if (definition === undefined) {
      problems.push(locator.problem(['sources', name, 'type'], unknownSourceTypeMessage(entry.type)))
      continue
    }
    const shape = validateAgainst(withCommon(sourceSchemas, definition.type, CommonSourceProperties, definition.schema), entry, ['sources', name], locator)
    problems.push(...shape)
    if (shape.length > 0 || context === undefined || definition.problems === undefined) continue
    for (const { key, message } of definition.problems(entry as Static<typeof definition.schema>, context)) problems.push(locator.problem(['sources', name, key], message))
  }
  return problems
}

function checkSinks (config: Data, locator: Locator): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  for (const [name, value] of Object.entries(asRecord(config.sinks) ?? {})) {
    const entry = asRecord(value)
    // A sink without a string type is the schema's to report.
    if (entry === undefined || typeof entry.type !== 'string') continue
    const definition = sinkDefinition(entry.type)
    if (definition === undefined) {
      problems.push(locator.problem(['sinks', name, 'type'], unknownSinkTypeMessage(entry.type)))
      continue
    }
    problems.push(...validateAgainst(withCommon(sinkSchemas, definition.type, CommonSinkProperties, definition.schema), entry, ['sinks', name], locator))
  }
  return problems
}

function checkRoutes (config: Data, locator: Locator): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const sinks = asRecord(config.sinks)
  const routeNames = new Map<string, number>()
  asList(config.routes).forEach((value, index) => {
    const route = asRecord(value)
    if (route === undefined) return
    if (typeof route.name === 'string') {
      const first = routeNames.get(route.name)
      if (first !== undefined) problems.push(locator.problem(['routes', index, 'name'], `route name '${route.name}' is already used by routes[${first}]`))
      else routeNames.set(route.name, index)
    }
    // Without a sinks section every reference would be reported; the schema names the missing section once.
    if (sinks === undefined) return
    asList(route.sinks).forEach((sink, sinkIndex) => {
      if (typeof sink === 'string' && !Object.hasOwn(sinks, sink)) problems.push(locator.problem(['routes', index, 'sinks', sinkIndex], `sink '${sink}' is not defined`))
    })
  })
  return problems
}

function checkAdminToken (config: Data, locator: Locator): ConfigProblem[] {
  const token = asRecord(config.admin)?.token
  if (typeof token !== 'string' || token === '' || token.length >= MIN_ADMIN_TOKEN_LENGTH) return []
  return [locator.problem(['admin', 'token'],
    `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters long (it has ${token.length}), e.g. from \`openssl rand -hex 32\`; empty turns the admin API off`)]
}

/**
 * The development key is public (it is in the README and the default routes.yaml): a gateway that
 * accepts it from the internet accepts forged events. SPEC §4: only on a loopback listener.
 */
function checkDevelopmentKey (config: Data, locator: Locator, env: NodeJS.ProcessEnv): ConfigProblem[] {
  const host = listenHost(config, env)
  if (isLoopback(host)) return []
  const problems: ConfigProblem[] = []
  for (const [name, value] of Object.entries(asRecord(config.sources) ?? {})) {
    const source = asRecord(value)
    const key = source?.type === DEFAULT_SOURCE_TYPE ? 'your reporting webhook\'s signing key (CIO_WEBHOOK_SECRET in the default routes.yaml)' : 'the signing key of this source'
    asList(source?.secrets).forEach((secret, index) => {
      if (secret !== DEVELOPMENT_KEY) return
      problems.push(locator.problem(['sources', name, 'secrets', index],
        `is the public development key, accepted only while the webhook listener is on a loopback address (server.host, or HOST, such as 127.0.0.1): set ${key}`))
    })
  }
  return problems
}

function checkPortVariable (env: NodeJS.ProcessEnv): ConfigProblem[] {
  const port = nonEmpty(env.PORT)
  if (port === undefined || /^[0-9]{1,5}$/.test(port)) return []
  return [{ line: 1, col: 1, path: 'server.port', message: `environment variable PORT is not a port number (it is a string of ${port.length} characters)` }]
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and the name localhost. */
export function isLoopback (host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true
  if (!ipaddr.isValid(host)) return false
  const address = ipaddr.process(host)
  return address.range() === 'loopback'
}

function isDuration (value: unknown): value is string {
  return typeof value === 'string' && new RegExp(DURATION_PATTERN).test(value)
}

function asRecord (value: unknown): Data | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Data : undefined
}

function asList (value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : []
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
