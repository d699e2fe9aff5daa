/**
 * What the Sentinel and Cluster tests share: a gateway process on a topology, and a steady stream of
 * signed events whose every answer is recorded (when it was sent, how long it took, what it said).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { BIN, cleanEnv, startGateway, type Running } from '../helpers/process.js'
import { freePort } from '../helpers/private-redis.js'
import { uniquePrefix } from '../helpers/redis.js'
import { TEST_SECRET, sampleEvent, signedHeaders } from '../helpers/sign.js'
import type { Teardownable } from '../helpers/app.js'

export interface Answer {
  readonly id: string
  /** When the request was sent, ms since the epoch. */
  readonly sentAt: number
  readonly ms: number
  /** HTTP status, or 0 when the request got no answer. */
  readonly status: number
  readonly retryAfter: string | undefined
  readonly body: string
}

export interface GatewayOnRedis {
  readonly url: string
  readonly prefix: string
  readonly eventsDir: string
  readonly process: Running
}

/** A gateway (role all, a file sink `local`) on the Redis that `queue` describes (YAML lines under `queue:`). */
/**
 * `extra.sinks` are more entries of `sinks` (indented as such), `extra.routes` replace the one route,
 * `extra.yaml` is appended at the top level.
 */
export async function gatewayOn (t: Teardownable, dir: string, queue: string, extra: { env?: Record<string, string>, yaml?: string, sinks?: string, routes?: string } = {}): Promise<GatewayOnRedis> {
  const prefix = uniquePrefix('topology')
  const eventsDir = join(dir, 'events')
  const configFile = join(dir, 'routes.yaml')
  writeFileSync(configFile, `server: { host: 127.0.0.1 }
queue:
${queue}
  prefix: "${prefix}"
  lock_duration: 3s
sources:
  customerio: { type: customerio, secrets: ["${TEST_SECRET}"] }
sinks:
  local:
    type: file
    path: "${eventsDir}"
    batch: { max_events: 50, max_wait: 20ms }
    retry: { attempts: 20, initial_delay: 100ms, max_delay: 1s }
${extra.sinks ?? ''}
routes:
${extra.routes ?? '  - { name: everything, match: {}, sinks: [local] }'}
${extra.yaml ?? ''}`)
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile],
    cleanEnv({ PORT: String(port), MANAGEMENT_PORT: '0', LOG_LEVEL: 'warn', ...extra.env }))
  t.teardown(() => gateway.signal('SIGKILL'))
  return { url: `http://127.0.0.1:${port}/webhooks/customerio`, prefix, eventsDir, process: gateway }
}

/** One signed event, sent; its answer recorded whatever happens. */
export async function sendEvent (url: string, dispatcher: Agent, event: Record<string, unknown> = sampleEvent()): Promise<Answer> {
  const body = JSON.stringify(event)
  const sentAt = Date.now()
  try {
    const response = await request(url, { method: 'POST', headers: signedHeaders(body), body, dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 })
    const text = await response.body.text()
    const retryAfter = response.headers['retry-after']
    return { id: String(event.event_id), sentAt, ms: Date.now() - sentAt, status: response.statusCode, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body: text }
  } catch (error) {
    return { id: String(event.event_id), sentAt, ms: Date.now() - sentAt, status: 0, retryAfter: undefined, body: (error as Error).message }
  }
}

/** `concurrency` clients each sending one event after another, `pauseMs` apart, until stopped. */
export class SignedLoad {
  readonly answers: Answer[] = []
  private running = true
  private readonly loops: Promise<void>[]
  private readonly dispatcher = new Agent({ connections: 32, keepAliveTimeout: 60_000 })

  constructor (url: string, concurrency = 4, pauseMs = 20) {
    this.loops = Array.from({ length: concurrency }, async () => {
      while (this.running) {
        this.answers.push(await sendEvent(url, this.dispatcher))
        await new Promise((resolve) => setTimeout(resolve, pauseMs))
      }
    })
  }

  async stop (): Promise<Answer[]> {
    this.running = false
    await Promise.all(this.loops)
    await this.dispatcher.close()
    return this.answers
  }
}

/** The ids answered 200 `accepted`. */
export function acceptedIds (answers: readonly Answer[]): string[] {
  return answers.filter((answer) => answer.status === 200 && answer.body.includes('"accepted"')).map((answer) => answer.id)
}

/** Counts of answers by kind: `200 accepted`, `503 redis_unavailable`, `0 no answer` … */
export function answerKinds (answers: readonly Answer[]): Record<string, number> {
  const kinds: Record<string, number> = {}
  for (const answer of answers) {
    let reason = ''
    try { reason = String((JSON.parse(answer.body) as { status?: string, reason?: string }).status ?? (JSON.parse(answer.body) as { reason?: string }).reason ?? '') } catch { reason = 'no answer' }
    const kind = `${answer.status} ${reason}`
    kinds[kind] = (kinds[kind] ?? 0) + 1
  }
  return kinds
}
