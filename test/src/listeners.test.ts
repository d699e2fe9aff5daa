/**
 * The two listeners (SPEC §3): what each serves and refuses, and the connection cap each holds
 * (`server.max_connections`).
 */
import t from 'tap'
import { build, defaultYaml, eventually } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { openConnection, rawExchange, received } from '../helpers/raw-http.js'
import { openListener } from '../../src/listeners.js'

const TOKEN = 'management-listener-test-token-0123456789'
const auth = { authorization: `Bearer ${TOKEN}` }
const NOT_FOUND = [404, { error: 'not_found' }]

t.test('the webhook listener serves /webhooks/*, /healthz and /readyz; /metrics and /admin are not found there', async (t) => {
  const { app } = await build(t, { yaml: `\nadmin: { token: "${TOKEN}" }\n${defaultYaml({ redis: false })}` })
  for (const [method, url] of [['GET', '/metrics'], ['GET', '/admin/queues'], ['GET', '/admin/queues/local/failed'], ['POST', '/admin/queues/local/retry'], ['GET', '/admin/ui'], ['GET', '/admin']] as const) {
    const response = await app.inject({ method, url, headers: auth })
    t.same([response.statusCode, response.json()], NOT_FOUND, `${method} ${url} with the right token`)
  }
  const body = JSON.stringify(sampleEvent())
  const accepted = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  t.same([accepted.statusCode, accepted.json()], [200, { status: 'accepted' }])
  for (const url of ['/healthz', '/readyz']) t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, url)
})

t.test('the management listener serves /metrics, /admin/*, /healthz and /readyz; /webhooks is not found there', async (t) => {
  const { management } = await build(t, { yaml: `\nadmin: { token: "${TOKEN}" }\n${defaultYaml({ redis: false })}` })
  const body = JSON.stringify(sampleEvent())
  const webhook = await management.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  t.same([webhook.statusCode, webhook.json()], NOT_FOUND, 'a signed event')
  for (const url of ['/metrics', '/healthz', '/readyz']) t.equal((await management.inject({ method: 'GET', url })).statusCode, 200, url)
  const queues = await management.inject({ method: 'GET', url: '/admin/queues', headers: auth })
  t.equal(queues.statusCode, 200)
})

t.test('each listener holds at most server.max_connections connections: one more is closed at once, the others are served', async (t) => {
  const logs: Record<string, unknown>[] = []
  const { app, management } = await build(t, {
    yaml: defaultYaml({ redis: false }).replace('body_limit: 64kb', 'body_limit: 64kb, max_connections: 2'),
    logs: { write: (line) => { logs.push(JSON.parse(line) as Record<string, unknown>) } }
  })
  const webhooks = await openListener(app, 'webhooks', '127.0.0.1', 0)
  const managementAddress = await openListener(management, 'management', '127.0.0.1', 0)

  // Two clients in the middle of a request: headers sent, body not yet.
  const events = [JSON.stringify(sampleEvent()), JSON.stringify(sampleEvent())]
  const holders = await Promise.all(events.map(async () => await openConnection(webhooks.port)))
  events.forEach((event, index) => holders[index]?.write(requestHead(event)))
  await eventually(async () => await connections(app.server) === 2 ? true : undefined, 5000, 'two connections held')

  const third = await rawExchange(webhooks.port, 'GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n')
  t.equal(third, '', 'the third connection is closed without an answer')
  const drop = logs.filter((line) => line.msg === 'connection refused: the listener holds server.max_connections connections')
  t.match(drop, [{ level: 40, listener: 'webhooks', max_connections: 2, ip: '127.0.0.1', count: 1 }], 'logged once, as a warning')

  const other = await rawExchange(managementAddress.port, 'GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n')
  t.match(other, /^HTTP\/1\.1 200 OK\r\n/, 'the cap is per listener: management still answers')

  // The held requests complete, and once they are gone a new connection is served.
  const answers = holders.map(received)
  events.forEach((event, index) => holders[index]?.write(event))
  for (const answer of await Promise.all(answers)) {
    t.match(answer, /^HTTP\/1\.1 200 OK\r\n/)
    t.ok(answer.endsWith('{"status":"accepted"}'), 'the held requests are answered')
  }
  await eventually(async () => await connections(app.server) === 0 ? true : undefined, 5000, 'the held connections closed')
  const after = await rawExchange(webhooks.port, 'GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n')
  t.match(after, /^HTTP\/1\.1 200 OK\r\n/, 'the gateway keeps serving')
})

/** The head of a signed POST of `event` that closes its connection after the answer. */
function requestHead (event: string): string {
  const headers = Object.entries(signedHeaders(event)).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  return `POST /webhooks/customerio HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(event)}\r\n${headers}\r\n`
}

/** Open connections of a server (net.Server#getConnections is callback-only). */
async function connections (server: { getConnections: (callback: (error: Error | null, count: number) => void) => void }): Promise<number> {
  return await new Promise((resolve, reject) => server.getConnections((error, count) => error === null ? resolve(count) : reject(error)))
}
