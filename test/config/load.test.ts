/** routes.yaml: interpolation, one schema, every error at once with file:line:col and dotted path. */
import t from 'tap'
import { parseConfig, ConfigError } from '../../src/config/load.js'
import { knownSinkTypes } from '../../src/registry.js'
import { knownSourceTypes } from '../../src/sources/registry.js'

const VALID = `
sources:
  customerio:
    type: customerio
    secrets: ["\${CIO_WEBHOOK_SECRET}", "\${CIO_WEBHOOK_SECRET_PREVIOUS:-}"]
sinks:
  local:
    type: file
    path: ./data
routes:
  - name: everything
    match: {}
    sinks: [local]
`

function problemsOf (yaml: string, env: NodeJS.ProcessEnv = { CIO_WEBHOOK_SECRET: 'k' }): string[] {
  try {
    parseConfig(yaml, 'routes.yaml', env)
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n')
    throw error
  }
  return []
}

t.test('a valid file resolves with the documented defaults', async (t) => {
  const config = parseConfig(VALID, 'routes.yaml', { CIO_WEBHOOK_SECRET: 'k1' })
  t.same(config.server, { host: '0.0.0.0', port: 8080, managementHost: '127.0.0.1', managementPort: 8081, maxConnections: 512, bodyLimit: 1024 * 1024, shutdownGraceMs: 25_000 })
  t.same(config.queue, { redis: undefined, prefix: 'cio', shards: 1, replicasAck: 0, highWaterMark: 100_000, maxBytes: 512 * 1024 * 1024, lockDurationMs: 30_000 })
  t.same(config.quarantine, { maxEvents: 10_000, maxAgeMs: 7 * 24 * 3600_000 })
  t.equal(config.dedupe.windowMs, 24 * 3600_000)
  t.same(config.sources.get('customerio'), { name: 'customerio', type: 'customerio', secrets: ['k1'], toleranceMs: 24 * 3600_000 })
  t.match(config.sinks.get('local'), { type: 'file', retry: { attempts: 12, initialDelayMs: 1000, maxDelayMs: 600_000 }, concurrency: 2 })
  t.equal(config.reporting, undefined)
})

t.test('${VAR} and ${VAR:-default}; an empty list entry is dropped', async (t) => {
  const both = parseConfig(VALID, 'routes.yaml', { CIO_WEBHOOK_SECRET: 'new', CIO_WEBHOOK_SECRET_PREVIOUS: 'old' })
  t.same(both.sources.get('customerio')?.secrets, ['new', 'old'])
  const one = parseConfig(VALID, 'routes.yaml', { CIO_WEBHOOK_SECRET: 'new' })
  t.same(one.sources.get('customerio')?.secrets, ['new'], 'the unset previous key disappears')
  const withDefault = parseConfig(VALID.replace('path: ./data', 'path: "${DATA:-/var/lib/cio}/events"'), 'routes.yaml', { CIO_WEBHOOK_SECRET: 'k' })
  t.equal(withDefault.sinks.get('local')?.options.path, '/var/lib/cio/events')
})

t.test('HOST and PORT override server.host and server.port', async (t) => {
  const config = parseConfig(VALID, 'routes.yaml', { CIO_WEBHOOK_SECRET: 'k', HOST: '127.0.0.1', PORT: '9999' })
  t.equal(config.server.host, '127.0.0.1')
  t.equal(config.server.port, 9999)
})

t.test('MANAGEMENT_HOST and MANAGEMENT_PORT override the management listener; it may not take the webhook port', async (t) => {
  const config = parseConfig('server: { management_host: 127.0.0.1, management_port: 9100, max_connections: 64 }\n' + VALID, 'routes.yaml',
    { CIO_WEBHOOK_SECRET: 'k', MANAGEMENT_HOST: '0.0.0.0', MANAGEMENT_PORT: '9200' })
  t.match(config.server, { managementHost: '0.0.0.0', managementPort: 9200, maxConnections: 64 })
  t.same(problemsOf(VALID, { CIO_WEBHOOK_SECRET: 'k', MANAGEMENT_PORT: 'eighty-eighty' }), ['routes.yaml:1:1 server.management_port: environment variable MANAGEMENT_PORT is not a port number (0 to 65535)'])
  t.same(problemsOf(VALID, { CIO_WEBHOOK_SECRET: 'k', MANAGEMENT_PORT: '70000' }), ['routes.yaml:1:1 server.management_port: environment variable MANAGEMENT_PORT is not a port number (0 to 65535)'])
  const clash = "routes.yaml:1:83 server.management_port: the management listener needs a port of its own: it is the same as the webhook listener's (server.port, or PORT)"
  t.same(problemsOf('server: { host: 0.0.0.0, port: 8080, management_host: 127.0.0.1, management_port: 8080 }\n' + VALID), [clash], 'a wildcard webhook host overlaps loopback')
  t.same(problemsOf(VALID, { CIO_WEBHOOK_SECRET: 'k', PORT: '8081' }), [
    "routes.yaml:2:1 server.management_port: the management listener needs a port of its own: it is the same as the webhook listener's (server.port, or PORT)"
  ], 'PORT set to the default management port; reported at the nearest place in the file')
  t.same(problemsOf('server: { host: 10.0.0.5, port: 8080, management_host: 127.0.0.1, management_port: 8080 }\n' + VALID), [], 'two distinct addresses may share a port')
  t.same(problemsOf('server: { port: 0, management_port: 0 }\n' + VALID), [], 'port 0 twice: two free ports')
})

t.test('an unknown key, with its line and column', async (t) => {
  t.same(problemsOf(VALID.replace('    path: ./data', '    path: ./data\n    pathh: ./other')), [
    "routes.yaml:10:5 sinks.local.pathh: unknown key (did you mean 'path'?)"
  ])
  t.same(problemsOf('servr: {}\n' + VALID), ["routes.yaml:1:1 servr: unknown key (did you mean 'server'?)"])
})

t.test('a wrong type', async (t) => {
  t.same(problemsOf('server: { port: "eighty" }\n' + VALID), ['routes.yaml:1:17 server.port: must be an integer (got a string of 6 characters)'])
})

t.test('a route naming an undefined sink', async (t) => {
  t.same(problemsOf(VALID.replace('sinks: [local]', 'sinks: [local, warehous]')), [
    "routes.yaml:13:20 routes[0].sinks[1]: sink 'warehous' is not defined"
  ])
})

t.test('a bad duration', async (t) => {
  t.same(problemsOf('dedupe: { window: 24 hours }\n' + VALID), [
    'routes.yaml:1:19 dedupe.window: must be a duration such as 500ms, 30s, 5m, 24h or 7d (got a string of 8 characters)'
  ])
})

t.test('every error at once, in file order: the schema, the sinks\' own options and the cross-references in one run', async (t) => {
  const yaml = `server: { port: -1, body_limit: huge }
sources:
  customerio: { type: customerio, secrets: ["k"], tolerance: 48h }
sinks:
  local: { type: file }
  other: { type: filee, path: x }
routes:
  - { name: a, match: {}, sinks: [local] }
  - { name: a, match: { object_type: [] }, sinks: [nowhere] }
`
  t.same(problemsOf(yaml), [
    'routes.yaml:1:17 server.port: must be at least 0',
    'routes.yaml:1:33 server.body_limit: must be a size such as 512kb or 1mb (got a string of 4 characters)',
    'routes.yaml:3:62 sources.customerio.tolerance: tolerance 48h is longer than dedupe.window 24h: replays outside the dedupe window would be accepted',
    "routes.yaml:5:10 sinks.local: missing required key 'path'",
    `routes.yaml:6:18 sinks.other.type: sink type 'filee' is not known (known: ${knownSinkTypes().join(', ')})`,
    "routes.yaml:9:13 routes[1].name: route name 'a' is already used by routes[0]",
    'routes.yaml:9:38 routes[1].match.object_type: must be a string or a list of strings',
    "routes.yaml:9:52 routes[1].sinks[0]: sink 'nowhere' is not defined"
  ])
})

t.test('an unknown top-level key, a bad sink option and an undefined sink: all three in one run', async (t) => {
  const yaml = VALID
    .replace('sources:', 'sourcess: {}\nsources:')
    .replace('    path: ./data', '    path: ./data\n    batch: { max_wait: soon }')
    .replace('sinks: [local]', 'sinks: [local, archive]')
  t.same(problemsOf(yaml), [
    "routes.yaml:2:1 sourcess: unknown key (did you mean 'sources'?)",
    'routes.yaml:11:24 sinks.local.batch.max_wait: must be a duration such as 500ms, 30s, 5m, 24h or 7d (got a string of 4 characters)',
    "routes.yaml:15:20 routes[0].sinks[1]: sink 'archive' is not defined"
  ])
})

t.test('a section of the wrong shape is reported once, and the checks that need it skip it', async (t) => {
  t.same(problemsOf('sources:\n  customerio: { type: customerio, secrets: [k] }\nsinks: [local]\nroutes:\n  - { name: a, match: {}, sinks: [local] }\n'), [
    'routes.yaml:3:8 sinks: must be a mapping (got a list of 1 entry)'
  ])
  t.same(problemsOf('sources:\n  customerio: { type: customerio, secrets: [k] }\nsinks:\n  local: { path: x }\nroutes: all\n'), [
    "routes.yaml:4:10 sinks.local: missing required key 'type'",
    'routes.yaml:5:9 routes: must be a list (got a string of 3 characters)'
  ])
})

t.test('cross-reference checks: duplicate route names, tolerance longer than the dedupe window', async (t) => {
  const yaml = `dedupe: { window: 1h }
sources:
  customerio: { type: customerio, secrets: ["k"], tolerance: 2h }
sinks:
  local: { type: file, path: x }
routes:
  - { name: a, match: {}, sinks: [local] }
  - { name: a, match: {}, sinks: [local] }
`
  t.same(problemsOf(yaml), [
    'routes.yaml:3:62 sources.customerio.tolerance: tolerance 2h is longer than dedupe.window 1h: replays outside the dedupe window would be accepted',
    "routes.yaml:8:13 routes[1].name: route name 'a' is already used by routes[0]"
  ])
})

t.test('source types: each with its own options; an unknown type names the known ones', async (t) => {
  const yaml = `dedupe: { window: 12h }
sources:
  customerio: { type: customerio, secrets: [k] }
  pipelines: { type: customerio_pipelines, secrets: [p1, p2] }
sinks:
  local: { type: file, path: x }
routes: []
`
  const config = parseConfig(yaml, 'routes.yaml', {})
  t.same(config.sources.get('pipelines'), { name: 'pipelines', type: 'customerio_pipelines', secrets: ['p1', 'p2'], toleranceMs: 12 * 3600_000 },
    'no timestamp is signed: the dedupe window is its only replay protection')
  t.same(problemsOf(yaml.replace('type: customerio_pipelines', 'type: segment')), [
    `routes.yaml:4:22 sources.pipelines.type: source type 'segment' is not known (known: ${knownSourceTypes().join(', ')})`
  ])
  t.same(knownSourceTypes(), ['customerio', 'customerio_pipelines'])
  t.same(problemsOf(yaml.replace('secrets: [p1, p2] }', 'secrets: [p1], tolerance: 1h }')), [
    'routes.yaml:4:59 sources.pipelines.tolerance: unknown key'
  ], 'tolerance belongs to the reporting-webhook scheme only')
  t.same(problemsOf(yaml.replace('secrets: [p1, p2]', 'secrets: []')), [
    'routes.yaml:4:53 sources.pipelines.secrets: must list at least one entry'
  ])
  t.same(problemsOf(yaml.replace('{ type: customerio_pipelines, secrets: [p1, p2] }', '{ secrets: [p1] }')), [
    "routes.yaml:4:14 sources.pipelines: missing required key 'type'"
  ])
})
