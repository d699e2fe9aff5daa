/**
 * build(t): a gateway app from a YAML config, closed (and its Redis keys deleted) in t.teardown.
 * `{{dir}}`, `{{redis}}` and `{{prefix}}` in the YAML are replaced by the test's own directory, Redis
 * URL and key prefix. `app` is the webhook listener, `management` the management listener (SPEC §3):
 * inject into the one a client would reach.
 */
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { buildApp, type Role } from '../../src/app.js'
import { parseConfig } from '../../src/config/load.js'
import type { GatewayConfig } from '../../src/config/types.js'
import type { QueueBackend } from '../../plugins/queue/backend.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from './redis.js'
import { TEST_SECRET } from './sign.js'

export interface Teardownable { teardown (fn: () => unknown): void }

export interface BuildOptions {
  yaml?: string
  role?: Role
  now?: () => number
  backend?: (config: GatewayConfig) => QueueBackend
  /** Receives the app's JSON log lines (level info and up) instead of silence. */
  logs?: { write (line: string): void }
}

export interface Built {
  /** The webhook listener: POST /webhooks/*, /healthz, /readyz. */
  app: FastifyInstance
  /** The management listener: /metrics, /admin/*, /healthz, /readyz. */
  management: FastifyInstance
  config: GatewayConfig
  registry: Registry
  dir: string
  prefix: string
}

export function defaultYaml (options: { redis: boolean, extraSources?: string, extraSinks?: string, routes?: string }): string {
  return `
server: { body_limit: 64kb }
queue:
  redis_url: "${options.redis ? '{{redis}}' : ''}"
  prefix: "{{prefix}}"
dedupe: { window: 24h }
sources:
  customerio: { type: customerio, secrets: ["${TEST_SECRET}"] }
${options.extraSources ?? ''}
sinks:
  local:
    type: file
    path: "{{dir}}/events"
    batch: { max_events: 50, max_wait: 20ms }
    retry: { attempts: 3, initial_delay: 50ms, max_delay: 200ms }
${options.extraSinks ?? ''}
routes:
${options.routes ?? '  - { name: everything, match: {}, sinks: [local] }'}
`
}

export function tempDir (t: Teardownable, label = 'cio-gw'): string {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function build (t: Teardownable, options: BuildOptions = {}): Promise<Built> {
  const dir = tempDir(t)
  const prefix = uniquePrefix()
  const yaml = (options.yaml ?? defaultYaml({ redis: true }))
    .replaceAll('{{dir}}', dir).replaceAll('{{redis}}', REDIS_URL).replaceAll('{{prefix}}', prefix)
  const config = parseConfig(yaml, 'test.yaml', {})
  const registry = new Registry()
  const app = await buildApp({
    config,
    role: options.role,
    registry,
    logger: options.logs !== undefined ? { level: 'info', stream: options.logs } : { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    now: options.now,
    backend: options.backend?.(config)
  })
  t.teardown(async () => {
    await app.close()
    if (config.queue.redis !== undefined) await deleteKeys(prefix)
  })
  return { app, management: app.management, config, registry, dir, prefix }
}

/** Every NDJSON line the file sink wrote under `dir`, parsed. */
export function readLines (dir: string): Record<string, unknown>[] {
  if (!existsSync(dir)) return []
  const lines: Record<string, unknown>[] = []
  for (const day of readdirSync(dir).sort()) {
    for (const file of readdirSync(join(dir, day)).sort()) {
      for (const line of readFileSync(join(dir, day, file), 'utf8').split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      }
    }
  }
  return lines
}

/** Polls until `check` returns a value other than undefined, or fails after `ms`. */
export async function eventually<T> (check: () => T | undefined | Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/**
 * The sum of the samples of a metric whose labels include `labels` (0 when none). For a histogram,
 * pass `series: 'count'` or `'sum'`.
 */
export async function sampleValue (registry: Registry, name: string, labels: Record<string, string> = {}, series?: 'count' | 'sum'): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`metric ${name} is not registered`)
  const wantedName = series === undefined ? name : `${name}_${series}`
  const { values } = await metric.get()
  let total = 0
  for (const value of values) {
    const metricName = (value as { metricName?: string }).metricName ?? name
    if (metricName !== wantedName) continue
    if (Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted)) total += value.value
  }
  return total
}
