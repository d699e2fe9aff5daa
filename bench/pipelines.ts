/**
 * Scenario 5 of `npm run bench` (`--only pipelines`): Customer.io Data Pipelines batches of 100 events
 * beside single reporting webhooks, against one gateway process (role ingest, dedupe, two sinks
 * routed, so each event stored twice) that serves both sources. The two loads alternate in rounds so
 * that whatever else the machine does hits both alike; the figures are events accepted per second
 * (from the gateway's own counters) and the CPU time the gateway and Redis spent per event.
 */
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EventSource, type SignedRequest } from './events.js'
import type { BenchProcess } from './processes.js'
import { deleteKeys, redisCpuSeconds, waitingEvents, type BenchRedis } from './redis.js'
import { runLoad, type LoadResult } from './load.js'

/** Events in one Data Pipelines request. */
export const BATCH_EVENTS = 100
const FIXTURES = ['journeys-email-delivered', 'journeys-email-opened', 'journeys-email-link-clicked', 'journeys-email-bounced', 'journeys-push-sent', 'identify', 'page']
const ROUNDS = 3

/**
 * Signed batches of realistic Data Pipelines events (test/fixtures/pipelines), each event with its
 * own messageId. An event is two precomputed halves around its id, so a batch costs string
 * concatenation and one HMAC-SHA1.
 */
export class BatchSource {
  private readonly templates: (readonly [string, string])[]
  private counter = 0

  constructor (fixtureDir: URL, private readonly secret: string, private readonly runId: string, private readonly size = BATCH_EVENTS) {
    this.templates = FIXTURES.map((name) => {
      const text = readFileSync(new URL(`pipelines/${name}.json`, fixtureDir), 'utf8')
      const id = (JSON.parse(text) as { messageId: string }).messageId
      const [before, after] = text.split(JSON.stringify(id)) as [string, string]
      return [before, after] as const
    })
  }

  next (): SignedRequest {
    const members: string[] = []
    for (let n = 0; n < this.size; n++) {
      const index = this.counter++
      const [before, after] = this.templates[index % this.templates.length] as readonly [string, string]
      members.push(`${before}"bench-${this.runId}-${index.toString(36)}"${after}`)
    }
    const body = `[${members.join(',')}]`
    return { body, headers: { 'content-type': 'application/json', 'x-signature': createHmac('sha1', this.secret).update(body).digest('hex') } }
  }
}

export interface PipelinesContext {
  readonly redis: BenchRedis
  readonly fixtures: URL
  readonly work: string
  readonly secret: string
  readonly runId: string
  readonly seconds: number
  /** Connections of the single-event load; the batch load uses a fifth of them (each request carries 100 events). */
  readonly connections: number
  readonly startGateway: (name: string, role: 'ingest', yaml: string, nodeArgs: string[]) => Promise<BenchProcess>
  readonly profiling: (name: string) => string[]
  readonly log: (line: string) => void
}

export interface PathFigures {
  readonly connections: number
  readonly eventsPerRequest: number
  readonly requestsPerSecond: number
  readonly eventsPerSecond: number
  /** Per request: the slowest round's percentiles. */
  readonly latencyMs: { readonly p50: number, readonly p99: number }
  readonly errors: number
  readonly cpuMsPerEvent: { readonly gateway: number, readonly redis: number }
}

export interface PipelinesFigures {
  readonly reporting: PathFigures
  readonly pipelines: PathFigures
  readonly accepted: number
  readonly stored: number
}

/** Events the gateway accepted from one source, from its own counters. */
async function acceptedFrom (target: BenchProcess, source: string): Promise<number> {
  const text = await (await fetch(`${target.managementUrl}/metrics`)).text()
  const sum = (name: string): number => text.split('\n').filter((line) => line.startsWith(`${name}{`) && line.includes(`source="${source}"`))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
  return sum('cio_gateway_events_received_total') - sum('cio_gateway_events_duplicate_total') - sum('cio_gateway_events_unrouted_total')
}

export async function pipelinesScenario (context: PipelinesContext): Promise<PipelinesFigures> {
  const { redis, log } = context
  log(`scenario 5: Data Pipelines batches of ${BATCH_EVENTS} events beside single reporting webhooks, one gateway (dedupe, two sinks)`)
  const prefix = `cio-bench-${context.runId}-pipe`
  const yaml = `
server: { body_limit: 4mb }
queue: { redis_url: "${redis.url}", prefix: "${prefix}", high_water_mark: 100000000, max_bytes: 64gb }
dedupe: { window: 24h }
sources:
  customerio: { type: customerio, secrets: ["${context.secret}"] }
  pipelines: { type: customerio_pipelines, secrets: ["${context.secret}"] }
sinks:
  warehouse: { type: bigquery, project_id: bench, dataset: bench, api_endpoint: "http://127.0.0.1:9" }
  archive: { type: file, path: "${join(context.work, 'pipelines-archive')}" }
routes:
  - { name: everything, match: {}, sinks: [warehouse, archive] }
`
  const gateway = await context.startGateway('gateway-pipelines', 'ingest', yaml, context.profiling('scenario5-ingest'))
  const paths = [
    { name: 'reporting' as const, source: 'customerio', path: '/webhooks/customerio', events: new EventSource(context.fixtures, context.secret, `${context.runId}R`), connections: context.connections, perRequest: 1 },
    { name: 'pipelines' as const, source: 'pipelines', path: '/webhooks/pipelines', events: new BatchSource(context.fixtures, context.secret, context.runId), connections: Math.max(2, Math.round(context.connections / 5)), perRequest: BATCH_EVENTS }
  ]
  try {
    gateway.startSampling()
    for (const path of paths) await runLoad({ url: gateway.url, path: path.path, events: path.events, connections: path.connections, seconds: 2 })
    await deleteKeys(redis.url, prefix)
    const totals = new Map(paths.map((path) => [path.name, { seconds: 0, requests: 0, errors: 0, events: 0, gatewayCpu: 0, redisCpu: 0, rounds: [] as LoadResult[] }]))
    const acceptedBefore = (await acceptedFrom(gateway, 'customerio')) + (await acceptedFrom(gateway, 'pipelines'))
    for (let round = 0; round < ROUNDS; round++) {
      for (const path of paths) {
        const total = totals.get(path.name) as NonNullable<ReturnType<typeof totals.get>>
        const before = { accepted: await acceptedFrom(gateway, path.source), gateway: gateway.cpuSeconds(), redis: await redisCpuSeconds(redis.url) }
        const result = await runLoad({ url: gateway.url, path: path.path, events: path.events, connections: path.connections, seconds: context.seconds / ROUNDS })
        // Answers still in flight when autocannon stops are counted by the gateway a moment later.
        await new Promise((resolve) => setTimeout(resolve, 100))
        total.events += (await acceptedFrom(gateway, path.source)) - before.accepted
        total.gatewayCpu += gateway.cpuSeconds() - before.gateway
        total.redisCpu += (await redisCpuSeconds(redis.url)) - before.redis
        total.seconds += result.seconds
        total.requests += result.ok
        total.errors += result.errors
        total.rounds.push(result)
      }
    }
    const figures = (name: 'reporting' | 'pipelines'): PathFigures => {
      const total = totals.get(name) as NonNullable<ReturnType<typeof totals.get>>
      const path = paths.find((candidate) => candidate.name === name) as (typeof paths)[number]
      return {
        connections: path.connections,
        eventsPerRequest: path.perRequest,
        requestsPerSecond: total.requests / total.seconds,
        eventsPerSecond: total.events / total.seconds,
        latencyMs: { p50: Math.max(...total.rounds.map((round) => round.latencyMs.p50)), p99: Math.max(...total.rounds.map((round) => round.latencyMs.p99)) },
        errors: total.errors,
        cpuMsPerEvent: { gateway: total.gatewayCpu * 1000 / total.events, redis: total.redisCpu * 1000 / total.events }
      }
    }
    const accepted = (await acceptedFrom(gateway, 'customerio')) + (await acceptedFrom(gateway, 'pipelines')) - acceptedBefore
    const stored = (await waitingEvents(redis.url, prefix, 'warehouse')) + (await waitingEvents(redis.url, prefix, 'archive'))
    const result = { reporting: figures('reporting'), pipelines: figures('pipelines'), accepted, stored }
    for (const name of ['reporting', 'pipelines'] as const) {
      const path = result[name]
      log(`${name.padEnd(10)} ${path.eventsPerSecond.toFixed(0).padStart(7)} events/s (${path.requestsPerSecond.toFixed(0)} req/s of ${path.eventsPerRequest}, ${path.connections} connections), ` +
        `p50 ${path.latencyMs.p50} ms, p99 ${path.latencyMs.p99} ms per request, errors ${path.errors}; CPU per event: gateway ${path.cpuMsPerEvent.gateway.toFixed(4)} ms, redis ${path.cpuMsPerEvent.redis.toFixed(4)} ms`)
    }
    if (stored !== 2 * accepted) log(`WARNING: the gateway stored ${stored} events (over both sinks) for ${accepted} accepted events, expected each event in both sinks`)
    return result
  } finally {
    await gateway.stop()
    await deleteKeys(redis.url, prefix)
  }
}
