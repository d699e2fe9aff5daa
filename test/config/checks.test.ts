/**
 * The rules beyond the schema: an admin token of at least 32 characters (SPEC §3), and the public
 * development key only on a loopback webhook listener (SPEC §4), so a copied quick start cannot
 * accept forged events from the internet while `npm start` still works out of the box.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseConfig, ConfigError } from '../../src/config/load.js'

const DEFAULT_ROUTES = readFileSync(new URL('../../routes.yaml', import.meta.url), 'utf8')

const yamlWith = (settings: { host?: string, token?: string, secrets?: string }): string => `
server: { host: "${settings.host ?? '127.0.0.1'}" }
admin: { token: "${settings.token ?? ''}" }
sources:
  customerio: { type: customerio, secrets: ${settings.secrets ?? '[k]'} }
sinks:
  local: { type: file, path: ./data }
routes:
  - { name: everything, match: {}, sinks: [local] }
`

function problemsOf (yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'routes.yaml', env)
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n')
    throw error
  }
  return []
}

t.test('admin.token: empty turns the admin API off, 32 characters or more turn it on, anything between is an error', async (t) => {
  t.same(problemsOf(yamlWith({ token: '' })), [])
  t.same(problemsOf(yamlWith({ token: 'x'.repeat(32) })), [])
  t.same(problemsOf(yamlWith({ token: 'admin-token-for-tests' })), [
    'routes.yaml:3:17 admin.token: must be at least 32 characters long (it has 21), e.g. from `openssl rand -hex 32`; empty turns the admin API off'
  ])
  t.same(problemsOf(yamlWith({ token: '${ADMIN_TOKEN}' }), { ADMIN_TOKEN: 'changeme' }), [
    'routes.yaml:3:17 admin.token: must be at least 32 characters long (it has 8), e.g. from `openssl rand -hex 32`; empty turns the admin API off'
  ], 'from the environment too, by its length only')
})

const DEV_KEY_PROBLEM = 'is the public development key, accepted only while the webhook listener is on a loopback address (server.host, or HOST, such as 127.0.0.1): ' +
  'set your reporting webhook\'s signing key (CIO_WEBHOOK_SECRET in the default routes.yaml)'

t.test('the development key is accepted on a loopback listener only', async (t) => {
  const devKey = { secrets: '[new-key, dev-signing-key]' }
  for (const host of ['127.0.0.1', '127.0.0.53', '::1', 'localhost']) t.same(problemsOf(yamlWith({ ...devKey, host })), [], host)
  for (const host of ['0.0.0.0', '::', '10.0.0.5', 'gateway.internal']) {
    t.same(problemsOf(yamlWith({ ...devKey, host })), [`routes.yaml:5:54 sources.customerio.secrets[1]: ${DEV_KEY_PROBLEM}`], host)
  }
  t.same(problemsOf(yamlWith(devKey), { HOST: '0.0.0.0' }), [`routes.yaml:5:54 sources.customerio.secrets[1]: ${DEV_KEY_PROBLEM}`], 'HOST overrides server.host')
  t.same(problemsOf(yamlWith({ ...devKey, host: '0.0.0.0' }), { HOST: '127.0.0.1' }), [], 'and makes it loopback as well')
})

t.test('the default routes.yaml: npm start works with no environment, on loopback; with HOST=0.0.0.0 it needs CIO_WEBHOOK_SECRET', async (t) => {
  const config = parseConfig(DEFAULT_ROUTES, 'routes.yaml', {})
  t.equal(config.server.host, '127.0.0.1')
  t.same(config.sources.get('customerio')?.secrets, ['dev-signing-key'])
  const devKeyLine = DEFAULT_ROUTES.split('\n').findIndex((line) => line.includes('CIO_WEBHOOK_SECRET:-dev-signing-key')) + 1
  t.same(problemsOf(DEFAULT_ROUTES, { HOST: '0.0.0.0' }), [`routes.yaml:${devKeyLine}:15 sources.customerio.secrets[0]: ${DEV_KEY_PROBLEM}`])
  const exposed = parseConfig(DEFAULT_ROUTES, 'routes.yaml', { HOST: '0.0.0.0', CIO_WEBHOOK_SECRET: 'the-real-signing-key' })
  t.same({ host: exposed.server.host, secrets: exposed.sources.get('customerio')?.secrets }, { host: '0.0.0.0', secrets: ['the-real-signing-key'] })
})

t.test('a Data Pipelines source with the development key is refused off loopback too, told to set its own key', async (t) => {
  const yaml = yamlWith({ host: '0.0.0.0' }).replace('sources:\n', 'sources:\n  pipelines: { type: customerio_pipelines, secrets: [dev-signing-key] }\n')
  t.same(problemsOf(yaml), [
    'routes.yaml:5:54 sources.pipelines.secrets[0]: is the public development key, accepted only while the webhook listener is on a loopback address ' +
      '(server.host, or HOST, such as 127.0.0.1): set the signing key of this source'
  ])
})

t.test('each source is checked against its type, in the same run as the rest of the file', async (t) => {
  const yaml = `server: { port: 70000 }
dedupe: { window: 24h }
sources:
  customerio: { type: customerio, secrets: [k], tolerence: 5m }
  pipelines: { type: customerio_pipelines, secrets: [k], tolerance: 5m }
  late: { type: customerio, secrets: [k], tolerance: 48h }
sinks:
  local: { type: file, path: ./data }
routes:
  - { name: everything, match: {}, sinks: [local] }
`
  t.same(problemsOf(yaml), [
    'routes.yaml:1:17 server.port: must be at most 65535',
    "routes.yaml:4:49 sources.customerio.tolerence: unknown key (did you mean 'tolerance'?)",
    'routes.yaml:5:58 sources.pipelines.tolerance: unknown key',
    'routes.yaml:6:54 sources.late.tolerance: tolerance 48h is longer than dedupe.window 24h: replays outside the dedupe window would be accepted'
  ], 'a tolerance is the reporting-webhook type\'s option, and its rule is that type\'s')
  t.same(problemsOf(yaml.replace('window: 24h', 'window: soon').replace('port: 70000', 'port: 8080')), [
    'routes.yaml:2:19 dedupe.window: must be a duration such as 500ms, 30s, 5m, 24h or 7d (got a string of 4 characters)',
    "routes.yaml:4:49 sources.customerio.tolerence: unknown key (did you mean 'tolerance'?)",
    'routes.yaml:5:58 sources.pipelines.tolerance: unknown key'
  ], 'without a dedupe window to compare with, no tolerance is judged')
})
