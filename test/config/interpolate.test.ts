/**
 * `${VAR}` in routes.yaml (SPEC §4): an unset variable without a default is a config error naming
 * it at its own line, so a misnamed Secret key cannot silently turn signing or redaction off;
 * `${VAR:-}` is the explicit empty default, and a list entry that comes out empty is dropped.
 */
import t from 'tap'
import { parseConfig, ConfigError } from '../../src/config/load.js'

const YAML = `sources:
  customerio:
    type: customerio
    secrets: ["\${CIO_WEBHOOK_SECRET}", "\${CIO_WEBHOOK_SECRET_PREVIOUS:-}"]
sinks:
  private:
    type: file
    path: "\${DATA_DIR:-./data}/private"
    redact: [data.recipient]
    redact_key: "\${REDACT_KEY}"
routes:
  - { name: everything, match: {}, sinks: [private] }
`

function problemsOf (yaml: string, env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(yaml, 'routes.yaml', env)
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n')
    throw error
  }
  return []
}

t.test('set variables are replaced; ${VAR:-default} gives its default; an empty list entry is dropped', async (t) => {
  const config = parseConfig(YAML, 'routes.yaml', { CIO_WEBHOOK_SECRET: 'key', REDACT_KEY: 'pepper' })
  t.same(config.sources.get('customerio')?.secrets, ['key'], 'the unset ${CIO_WEBHOOK_SECRET_PREVIOUS:-} disappears')
  t.equal(config.sinks.get('private')?.options.path, './data/private')
  t.equal(config.sinks.get('private')?.redactKey, 'pepper')
})

t.test('an unset ${VAR} is an error naming the variable at its line, the one message about that value', async (t) => {
  t.same(problemsOf(YAML, { CIO_WEBHOOK_SECRET: 'key' }), [
    'routes.yaml:10:17 sinks.private.redact_key: environment variable REDACT_KEY is not set'
  ], 'a misnamed redaction key does not turn keyed redaction off')
  t.same(problemsOf(YAML, { REDACT_KEY: 'pepper' }), [
    'routes.yaml:4:15 sources.customerio.secrets[0]: environment variable CIO_WEBHOOK_SECRET is not set'
  ], 'no "must list at least one entry" besides it')
  t.same(problemsOf(YAML, { CIO_WEBHOOK_SECRET: '', REDACT_KEY: 'pepper' }), [
    'routes.yaml:4:15 sources.customerio.secrets[0]: environment variable CIO_WEBHOOK_SECRET is empty'
  ], 'set but empty is refused too: ${VAR:-} says so on purpose')
})

t.test('each unset variable is named at its own line; other problems carry no hint about variables', async (t) => {
  const yaml = YAML.replace('path: "${DATA_DIR:-./data}/private"', 'path: "${DATA_DIR}/private"').replace('type: file', 'type: file\n    concurrency: 0')
  t.same(problemsOf(yaml, {}), [
    'routes.yaml:4:15 sources.customerio.secrets[0]: environment variable CIO_WEBHOOK_SECRET is not set',
    'routes.yaml:8:18 sinks.private.concurrency: must be at least 1',
    'routes.yaml:9:11 sinks.private.path: environment variable DATA_DIR is not set',
    'routes.yaml:11:17 sinks.private.redact_key: environment variable REDACT_KEY is not set'
  ])
})

t.test('a list entry after a dropped one is named by its place in the list that is left', async (t) => {
  const yaml = YAML.replace('["${CIO_WEBHOOK_SECRET}", "${CIO_WEBHOOK_SECRET_PREVIOUS:-}"]', '["${CIO_WEBHOOK_SECRET_PREVIOUS:-}", "${CIO_WEBHOOK_SECRET}"]')
  t.same(problemsOf(yaml, { REDACT_KEY: 'pepper' }), [
    'routes.yaml:4:51 sources.customerio.secrets[0]: environment variable CIO_WEBHOOK_SECRET is not set'
  ])
})
