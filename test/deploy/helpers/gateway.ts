/**
 * A real gateway process for the deployment tests: `node bin/cio-gateway.js serve` on free
 * loopback ports (webhooks and management) with the embedded queue and a file sink, stopped with
 * SIGTERM in teardown.
 */
import { createHmac } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ROOT } from './chart.js'
import { startService } from './service.js'
import { run } from './tools.js'

export const GATEWAY_SECRET = 's3cret'

export interface Teardownable { teardown (fn: () => unknown): void }

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port)
        else reject(new Error('no port'))
      })
    })
  })
}

function newestMtime (dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

function buildIsCurrent (): boolean {
  const entry = join(ROOT, 'dist', 'src', 'cli.js')
  if (!existsSync(entry)) return false
  const built = statSync(entry).mtimeMs
  return built >= newestMtime(join(ROOT, 'src')) && built >= newestMtime(join(ROOT, 'plugins'))
}

/**
 * `npm run build` unless dist/ is newer than every source. Test files run in parallel, so a lock
 * directory keeps two of them from compiling into dist/ at once.
 */
export async function ensureBuilt (): Promise<void> {
  mkdirSync(join(ROOT, 'dist'), { recursive: true })
  const lock = join(ROOT, 'dist', '.build-lock')
  const deadline = Date.now() + 180_000
  while (true) {
    if (buildIsCurrent()) return
    try {
      mkdirSync(lock)
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for another build (remove ${lock} if stale)`)
      await sleep(250)
    }
  }
  try {
    if (buildIsCurrent()) return
    const result = run('npm', ['run', 'build'], { cwd: ROOT, timeoutMs: 180_000 })
    if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}\n${result.stderr}`)
  } finally {
    rmdirSync(lock)
  }
}

export interface RunningGateway {
  /** The webhook listener. */
  url: string
  port: number
  /** The management listener: /metrics, /admin/*, /healthz, /readyz (what Prometheus scrapes). */
  managementUrl: string
  managementPort: number
  dir: string
  output: () => string
}

export async function startGateway (t: Teardownable): Promise<RunningGateway> {
  await ensureBuilt()
  const dir = mkdtempSync(join(tmpdir(), 'cio-gw-deploy-'))
  const config = join(dir, 'routes.yaml')
  writeFileSync(config, [
    'server: { port: 0 }',
    'sources:',
    `  customerio: { type: customerio, secrets: ["${GATEWAY_SECRET}"] }`,
    'sinks:',
    `  local: { type: file, path: ${JSON.stringify(join(dir, 'events'))} }`,
    'routes:',
    '  - { name: all, match: {}, sinks: [local] }',
    ''
  ].join('\n'))
  const [port, managementPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${port}`
  const managementUrl = `http://127.0.0.1:${managementPort}`
  // Generous: the CLI loads every sink's SDK, and a loaded 2-core CI machine is slow at that.
  const { output } = await startService(t, {
    name: 'the gateway',
    command: process.execPath,
    args: [join(ROOT, 'bin', 'cio-gateway.js'), 'serve', '--config', config, '--role', 'all'],
    dir,
    cwd: dir,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MANAGEMENT_PORT: String(managementPort), MANAGEMENT_HOST: '127.0.0.1' },
    // The management listener opens last: once it answers, both do.
    readyUrl: `${managementUrl}/healthz`,
    timeoutMs: 60_000,
    pollMs: 100
  })
  return { url, port, managementUrl, managementPort, dir, output }
}

/** POSTs one event signed the Customer.io way (SPEC §2). */
export async function postSignedEvent (url: string, event: Record<string, unknown>, secret = GATEWAY_SECRET): Promise<Response> {
  const body = JSON.stringify(event)
  const timestamp = String(Math.floor(Date.now() / 1000))
  const signature = createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')
  return await fetch(`${url}/webhooks/customerio`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cio-timestamp': timestamp, 'x-cio-signature': signature },
    body
  })
}

/** Metric names a scrape declares (`# TYPE` lines), with the series names histograms and summaries add. */
export function exposedMetricNames (metricsText: string): Set<string> {
  const names = new Set<string>()
  for (const line of metricsText.split('\n')) {
    const match = /^# TYPE (\S+) (\S+)/.exec(line)
    if (match === null) continue
    const [, name, type] = match as unknown as [string, string, string]
    names.add(name)
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix)
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix)
  }
  return names
}
