/** The startup banner: both listeners' URLs, and the poller's state when `reporting` is configured. */
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { banner } from '../../src/banner.js'
import { parseConfig } from '../../src/config/load.js'

const YAML = `
admin: { token: "banner-test-admin-token-0123456789abcdef" }
sources:
  customerio: { type: customerio, secrets: ["k"] }
sinks:
  local: { type: file, path: ./data/events }
routes:
  - { name: everything, match: {}, sinks: [local] }
`
const address = (host: string, port: number): AddressInfo => ({ address: host, port, family: host.includes(':') ? 'IPv6' : 'IPv4' })

t.test('role all on every interface: paste-able loopback URLs, each listener with what it serves', async (t) => {
  const config = parseConfig(YAML, 'routes.yaml', {})
  const text = banner(config, 'all', { webhooks: address('0.0.0.0', 8080), management: address('127.0.0.1', 8081) })
  t.equal(text, [
    'cio-gateway listening on http://127.0.0.1:8080 (role: all)',
    '  webhooks:   http://127.0.0.1:8080  POST /webhooks/<source>, /healthz, /readyz (all interfaces)',
    '  management: http://127.0.0.1:8081  /metrics, /admin/*, /healthz, /readyz',
    '  queue: EMBEDDED in memory (not durable; configure Redis for production)',
    '  source customerio: POST http://127.0.0.1:8080/webhooks/customerio (1 secret)',
    '  sink local: file',
    '  route everything → local',
    '  metrics: http://127.0.0.1:8081/metrics',
    '  admin: http://127.0.0.1:8081/admin/queues (bearer token), console http://127.0.0.1:8081/admin/ui',
    '  config: routes.yaml (reloaded on SIGHUP and when the file changes)',
    ''
  ].join('\n'))
})

t.test('the reporting poller: on where workers run, off in role ingest; no line without reporting', async (t) => {
  const config = parseConfig(`${YAML}reporting: { api_key: app-key, interval: 10m }\n`, 'routes.yaml', {})
  const listeners = { webhooks: address('127.0.0.1', 8080), management: address('::1', 9100) }
  t.match(banner(config, 'all', listeners), /^ {2}reporting poller: on, every 10m$/m)
  t.match(banner(config, 'ingest', listeners), /^ {2}reporting poller: off in role ingest \(the workers poll\)$/m)
  t.notMatch(banner(parseConfig(YAML, 'routes.yaml', {}), 'all', listeners), 'reporting poller')
  t.match(banner(config, 'all', listeners), /^ {2}management: http:\/\/\[::1\]:9100 {2}/m, 'IPv6 in brackets')
})

t.test('role worker: the management listener only, no webhook URLs', async (t) => {
  const config = parseConfig(`${YAML}reporting: { api_key: app-key, interval: 90s }\n`, 'routes.yaml', {})
  const text = banner(config, 'worker', { webhooks: undefined, management: address('0.0.0.0', 8081) })
  t.match(text, /^cio-gateway listening on http:\/\/127\.0\.0\.1:8081 \(role: worker\)\n {2}webhooks: not served in role worker\n {2}management: http:\/\/127\.0\.0\.1:8081 {2}\/metrics, \/admin\/\*, \/healthz, \/readyz \(all interfaces\)\n/)
  t.notMatch(text, 'source customerio')
  t.match(text, /^ {2}reporting poller: on, every 90s$/m)
})
