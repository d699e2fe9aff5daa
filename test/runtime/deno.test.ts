/**
 * The gateway on Deno 2 (docs/deno.md), started with the documented `deno task start`
 * and driven like the Node CLI test (test/cli/cli.test.ts): with Redis and on the embedded
 * default, signed events (one sent twice), a bad and a missing signature, the file sink's lines,
 * /metrics and /readyz, then SIGTERM; and a webhook sink, so that undici and the SSRF guard's DNS
 * lookup run under Deno too. The Deno binary is the npm package `deno` (a devDependency). CI runs
 * this file as its Deno stage (CONTRIBUTING.md).
 */
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { ROOT, cleanEnv, startGateway } from '../helpers/process.js'
import { eventually, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { startReceiver, webhookSinkYaml } from '../helpers/receiver.js'

// The default routes.yaml's development signing key, used when CIO_WEBHOOK_SECRET is unset.
const DEV_KEY = 'dev-signing-key'
const DENO = join(ROOT, 'node_modules', '.bin', 'deno')

function deno (): string {
  if (!existsSync(DENO)) throw new Error(`no Deno binary at ${DENO}: run npm ci (the npm package "deno", a devDependency, provides it)`)
  return DENO
}

interface Answer { status: number, body: unknown }

async function post (port: number, body: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${port}/webhooks/customerio`, { method: 'POST', headers, body })
  return { status: response.status, body: await response.json() }
}

/** The value of the sample `name{labels}` in Prometheus text, or undefined when there is none. */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1], label[2]]))
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3])
  }
  return undefined
}

/** Every NDJSON line the file sink wrote under `dir`, as text. */
function rawLines (dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).sort().flatMap((day) => readdirSync(join(dir, day)).sort()
    .flatMap((file) => readFileSync(join(dir, day, file), 'utf8').split('\n').filter((line) => line !== '')))
}

/** /metrics from the management listener at `management`. */
async function metrics (management: string): Promise<string> {
  return await (await fetch(`${management}/metrics`)).text()
}

/**
 * Starts `deno task start` with `env`, sends the events and checks answers, lines and metrics;
 * returns the event that was accepted, with the gateway still running for the caller's checks.
 */
async function exercise (t: Test, env: Record<string, string>): Promise<{ port: number, event: Record<string, unknown>, output: () => string, stop: () => Promise<number | null> }> {
  const dir = tempDir(t, 'cio-gw-deno')
  const port = await freePort()
  // Only the port, the data directory (and the queue) are set, so the test neither collides nor writes into the repo.
  const gateway = await startGateway(deno(), ['task', 'start'], cleanEnv({ ...env, PORT: String(port), CIO_GATEWAY_DATA_DIR: dir, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' }))
  t.teardown(() => { gateway.signal('SIGKILL') })
  t.match(gateway.output(), /Task start .*deno run --no-prompt --allow-net --allow-read --allow-write --allow-env --allow-sys bin\/cio-gateway\.js/, 'deno task start runs the gateway under Deno with the documented permissions')

  const event = sampleEvent()
  const body = JSON.stringify(event)
  const headers = signedHeaders(body, { secret: DEV_KEY })
  t.strictSame(await post(port, body, headers), { status: 200, body: { status: 'accepted' } })
  t.strictSame(await post(port, body, signedHeaders(body, { secret: DEV_KEY })), { status: 200, body: { status: 'duplicate' } }, 'the same event again is a duplicate')
  t.strictSame(await post(port, body, signedHeaders(body, { secret: 'not-the-signing-key' })), { status: 401, body: { error: 'invalid_signature', reason: 'bad_signature' } })
  t.strictSame(await post(port, body, { 'content-type': 'application/json', 'x-cio-timestamp': headers['x-cio-timestamp'] as string }), { status: 401, body: { error: 'invalid_signature', reason: 'missing_signature' } })

  const text = await eventually(async () => {
    const current = await metrics(gateway.management)
    return sample(current, 'cio_gateway_sink_events_delivered_total', { sink: 'local', type: 'file' }) === 1 ? current : undefined
  }, 15_000, 'the file sink to deliver the event')
  const lines = rawLines(dir)
  t.equal(lines.length, 1, 'one line: the duplicate and the refused requests are not delivered')
  const line = lines[0] as string
  t.ok(line.startsWith(`${body.slice(0, -1)},"_gateway":`), 'the line is the body as sent, byte for byte, plus _gateway')
  const { _gateway: stamp, ...delivered } = JSON.parse(line) as Record<string, unknown>
  t.strictSame(delivered, event)
  t.match(stamp, { source: 'customerio', received_at: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/ })

  t.equal(sample(text, 'cio_gateway_events_received_total', { source: 'customerio', object_type: 'email', metric: 'delivered' }), 2, 'received: the event and its duplicate')
  t.equal(sample(text, 'cio_gateway_events_duplicate_total', { source: 'customerio' }), 1)
  t.equal(sample(text, 'cio_gateway_events_rejected_total', { source: 'customerio', reason: 'bad_signature' }), 1)
  t.equal(sample(text, 'cio_gateway_events_rejected_total', { source: 'customerio', reason: 'missing_signature' }), 1)
  t.equal(sample(text, 'cio_gateway_ingest_duration_seconds_count', { source: 'customerio' }), 4, 'every webhook request timed')
  t.equal(sample(text, 'cio_gateway_event_lag_seconds_count', { sink: 'local' }), 1)
  t.ok((sample(text, 'cio_gateway_process_cpu_seconds_total') ?? 0) > 0, 'the default process metrics are there too')
  t.ok((sample(text, 'cio_gateway_nodejs_heap_size_used_bytes') ?? 0) > 0)

  const stop = async (): Promise<number | null> => {
    gateway.signal('SIGTERM')
    const code = await gateway.exited
    await eventually(() => gateway.output().includes('shutdown complete') ? true : undefined, 5000, 'a clean shutdown')
    return code
  }
  return { port, event, output: gateway.output, stop }
}

t.test('the deno binary comes from npm and is Deno 2', async (t) => {
  const version = execFileSync(deno(), ['--version'], { env: cleanEnv({ NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' }) }).toString()
  t.match(version, /^deno 2\.\d+\.\d+/)
})

t.test('deno task start with REDIS_URL: BullMQ on Redis, file sink, metrics, SIGTERM', async (t) => {
  const prefix = uniquePrefix('deno')
  t.teardown(async () => await deleteKeys(prefix))
  const gateway = await exercise(t, { REDIS_URL, CIO_GATEWAY_PREFIX: prefix })
  t.match(gateway.output(), `queue: redis ${new URL(REDIS_URL).host} (prefix ${prefix})`)
  const ready = await fetch(`http://127.0.0.1:${gateway.port}/readyz`)
  t.strictSame({ status: ready.status, body: await ready.json() }, { status: 200, body: { status: 'ready', role: 'all', queue: 'redis', checks: { config: 'ok', queue: 'ok' }, warnings: [] } })
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  t.equal(await redis.exists(`${prefix}:_dedupe:customerio:${String(gateway.event.event_id)}`), 1, 'the dedupe mark is in Redis')
  t.equal(await gateway.stop(), 0, 'exit 0 after a graceful shutdown')
})

t.test('deno task start with no configuration: the embedded default, file sink, metrics, SIGTERM', async (t) => {
  const gateway = await exercise(t, {})
  t.match(gateway.output(), /queue: EMBEDDED in memory/)
  const ready = await fetch(`http://127.0.0.1:${gateway.port}/readyz`)
  t.strictSame({ status: ready.status, body: await ready.json() }, {
    status: 200,
    body: { status: 'ready', role: 'all', queue: 'embedded', checks: { config: 'ok', queue: 'ok' }, warnings: ['embedded queue: events and dedupe marks are kept in memory only; undelivered events are lost if the process stops, and an event resent after a restart is accepted again'] }
  })
  t.equal(await gateway.stop(), 0, 'exit 0 after a graceful shutdown')
})

t.test('deno task start with a config of its own: a webhook sink delivers over undici', async (t) => {
  const receiver = await startReceiver(t)
  const dir = tempDir(t, 'cio-gw-deno')
  const config = join(dir, 'routes.yaml')
  writeFileSync(config, `
server: { host: 127.0.0.1 }
sources:
  customerio: { type: customerio, secrets: ["${DEV_KEY}"] }
sinks:${webhookSinkYaml('hook', receiver)}
routes:
  - { name: everything, match: {}, sinks: [hook] }
`)
  const port = await freePort()
  const gateway = await startGateway(deno(), ['task', 'start'], cleanEnv({ PORT: String(port), CIO_GATEWAY_CONFIG: config, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' }))
  t.teardown(() => { gateway.signal('SIGKILL') })
  t.match(gateway.output(), 'sink hook: webhook')
  const event = sampleEvent()
  const body = JSON.stringify(event)
  t.strictSame(await post(port, body, signedHeaders(body, { secret: DEV_KEY })), { status: 200, body: { status: 'accepted' } })
  await eventually(() => receiver.delivered.length > 0 ? true : undefined, 15_000, 'the webhook sink to deliver')
  t.equal(receiver.requests.length, 1, 'one request')
  t.match(receiver.delivered[0], event, 'carrying the event')
  t.equal(sample(await metrics(gateway.management), 'cio_gateway_sink_events_delivered_total', { sink: 'hook', type: 'webhook' }), 1)
  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0, 'exit 0 after a graceful shutdown')
})
