/** Runs the real CLI as a child process and waits for its banner. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { REDIS_URL } from './redis.js'
import { TEST_SECRET } from './sign.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/cio-gateway.js', import.meta.url))

/** What a test varies in the routes.yaml of a gateway it starts as a process. */
export interface ProcessYamlOptions {
  readonly prefix: string
  /** Directory of the file sink `local`. */
  readonly localPath: string
  /** Its `batch`, e.g. `{ max_events: 50, max_wait: 20ms }`. */
  readonly localBatch: string
  /** Its `retry`, when not the default. */
  readonly localRetry?: string
  readonly redisUrl?: string
  /** The Redis connection as a flow-mapping entry of `queue`, e.g. `redis_cluster: { nodes: [...] }`; redis_url otherwise. */
  readonly redis?: string
  /** More `server` settings after `host: 127.0.0.1`, e.g. `shutdown_grace: 10s`. */
  readonly server?: string
  /** More `queue` settings after the prefix, e.g. `lock_duration: 3s`. */
  readonly queue?: string
  readonly adminToken?: string
  /** Sinks after `local`, indented as entries of `sinks`. */
  readonly extraSinks?: string
  /** Entries of `routes`; by default everything goes to `local`. */
  readonly routes?: string
}

/** routes.yaml for a gateway run as its own process: on Redis, one Customer.io source, a file sink `local`. */
export function processYaml (options: ProcessYamlOptions): string {
  const more = (settings: string | undefined): string => settings === undefined ? '' : `, ${settings}`
  return `
server: { host: 127.0.0.1${more(options.server)} }
${options.adminToken === undefined ? '' : `admin: { token: "${options.adminToken}" }\n`}queue: { ${options.redis ?? `redis_url: "${options.redisUrl ?? REDIS_URL}"`}, prefix: "${options.prefix}"${more(options.queue)} }
sources:
  customerio: { type: customerio, secrets: ["${TEST_SECRET}"] }
sinks:
  local:
    type: file
    path: "${options.localPath}"
    batch: ${options.localBatch}
${options.localRetry === undefined ? '' : `    retry: ${options.localRetry}\n`}${options.extraSinks ?? ''}
routes:
${options.routes ?? '  - { name: everything, match: {}, sinks: [local] }'}
`
}

export interface Running {
  child: ChildProcess
  /** stdout and stderr as they came. */
  output: () => string
  stdout: () => string
  stderr: () => string
  /** The listeners' base URLs, from the banner (the ports the gateway got, also with port 0); no webhooks in role worker. */
  webhooks: string | undefined
  management: string
  exited: Promise<number | null>
  /** Signals the whole process group (npm and the gateway under it). */
  signal: (signal: NodeJS.Signals) => void
}

/**
 * Gateways started and not yet exited. Each runs in its own process group, which outlives this test
 * process: a test that times out before its teardown would leave them running against the shared
 * Redis. tap ends a timed-out test with SIGALRM (after which no 'exit' event comes), so both are
 * watched. A SIGALRM listener also keeps tap's own handler from re-raising the signal; tap then
 * ends the process with SIGKILL half a second later, as it does anyway when a test ignores it.
 */
const running = new Set<(signal: NodeJS.Signals) => void>()
const killRunning = (): void => { for (const signal of running) signal('SIGKILL') }
process.once('exit', killRunning)
process.once('SIGALRM', killRunning)

/**
 * Starts `command args` (in the project root, or `cwd`) and resolves once the listening banner (on
 * stderr) has been written. Tests run gateways side by side, so the management listener gets port
 * 0 (a free one, named by the banner) unless `env` sets MANAGEMENT_PORT.
 */
export async function startGateway (command: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000, cwd = ROOT): Promise<Running> {
  // Its own process group, so that signals reach the gateway under `npm start` too.
  const child = spawn(command, args, { cwd, env: { MANAGEMENT_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const signal = (name: NodeJS.Signals): void => {
    try { process.kill(-(child.pid as number), name) } catch { /* already gone */ }
  }
  let text = ''
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { text += chunk.toString(); stdout += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString(); stderr += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  running.add(signal)
  void exited.then(() => running.delete(signal))
  const deadline = Date.now() + timeoutMs
  // The banner is written at once, after both listeners are open; its config line ends it.
  while (!/cio-gateway listening on [\s\S]*\n {2}config: .*\n/.test(text)) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${text}`)
    if (Date.now() > deadline) {
      signal('SIGKILL')
      throw new Error(`gateway did not start within ${timeoutMs} ms:\n${text}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const management = /^ {2}management: (http:\/\/\S+)/m.exec(text)?.[1]
  if (management === undefined) throw new Error(`the banner names no management listener:\n${text}`)
  const webhooks = /^ {2}webhooks: +(http:\/\/\S+)/m.exec(text)?.[1]
  return { child, output: () => text, stdout: () => stdout, stderr: () => stderr, webhooks, management, exited, signal }
}

/** The environment a fresh shell would have, without anything the gateway reads. */
export function cleanEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG']
  const env: NodeJS.ProcessEnv = {}
  for (const name of keep) if (process.env[name] !== undefined) env[name] = process.env[name]
  return { ...env, ...extra }
}

export async function runCli (args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, stdout, stderr }
}
