/**
 * Regression (hardening, issue 14 item 1): the quarantine was an unbounded, un-deduplicated store. A
 * captured signed body that is not a routable event, resent, got a new job each time, kept forever,
 * even while routable events were refused at the high-water mark. Now (SPEC §5) it is deduped on the
 * body's SHA-256, held against the mark and the byte budget, and bounded by quarantine.max_events and
 * max_age, the oldest dropped and counted. Run on Redis and on the embedded queue.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { Registry } from 'prom-client'
import { build, defaultYaml, eventually, sampleValue } from '../helpers/app.js'
import { REDIS_URL, redisBackend } from '../helpers/redis.js'
import { PIPELINES_SECRET, pipelinesHeaders, sampleEvent, samplePipelinesEvent, signedHeaders } from '../helpers/sign.js'
import { EmbeddedBackend } from '../../plugins/queue/embedded-backend.js'
import type { QueueBackend } from '../../plugins/queue/backend.js'
import type { GatewayConfig } from '../../src/config/types.js'
import type { QuarantineDrop } from '../../plugins/queue/quarantine-trim.js'

type Mode = 'redis' | 'embedded'

async function post (app: FastifyInstance, body: string): Promise<{ statusCode: number, json: unknown }> {
  const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  return { statusCode: response.statusCode, json: response.json() }
}

/** The gateway of one mode with `queue`/`quarantine` settings, and what its quarantine dropped. */
async function gateway (t: Test, mode: Mode, settings: { queue?: string, quarantine?: string, role?: 'ingest' }): Promise<{ app: FastifyInstance, prefix: string, registry: Registry, dropped: Map<QuarantineDrop, number> }> {
  const dropped = new Map<QuarantineDrop, number>()
  const onQuarantineDropped = (reason: QuarantineDrop, events: number): void => { dropped.set(reason, (dropped.get(reason) ?? 0) + events) }
  let yaml = defaultYaml({ redis: mode === 'redis', extraSources: `  pipelines: { type: customerio_pipelines, secrets: ["${PIPELINES_SECRET}"] }` })
  if (settings.queue !== undefined) yaml = yaml.replace('prefix: "{{prefix}}"', `prefix: "{{prefix}}"\n  ${settings.queue}`)
  if (settings.quarantine !== undefined) yaml = `quarantine: ${settings.quarantine}\n${yaml}`
  const backend = (config: GatewayConfig): QueueBackend => mode === 'redis'
    ? redisBackend({ prefix: config.queue.prefix, dedupeWindowMs: config.dedupe.windowMs, queues: [...config.sinks.keys()], logger: silent, quarantine: config.quarantine, quarantineTrimMs: 100, onQuarantineDropped })
    : new EmbeddedBackend({ dedupeWindowMs: config.dedupe.windowMs, quarantine: config.quarantine, quarantineTrimMs: 100, onQuarantineDropped })
  const { app, prefix, registry } = await build(t, { yaml, role: settings.role, backend })
  return { app, prefix, registry, dropped }
}

const silent = { info () {}, warn () {}, error () {}, debug () {}, fatal () {}, trace () {}, child () { return silent }, level: 'silent' } as never

/** A signed body that is not an event: quarantined. */
function garbage (label: string, size = 1000): string {
  return `not json: ${label} ` + 'x'.repeat(size)
}

/** A signed Data Pipelines batch of `members`. */
async function postBatch (app: FastifyInstance, members: readonly unknown[]): Promise<{ statusCode: number, json: unknown }> {
  const body = JSON.stringify(members)
  const response = await app.inject({ method: 'POST', url: '/webhooks/pipelines', headers: pipelinesHeaders(body), payload: body })
  return { statusCode: response.statusCode, json: response.json() }
}

/** A Data Pipelines member that is not an event (a track call without its event name): quarantined on its own. */
function malformedMember (label: string): Record<string, unknown> {
  return { type: 'track', messageId: label, userId: '42' }
}

async function failedQuarantine (app: FastifyInstance): Promise<number> {
  return (await app.queueBackend.counts('_quarantine')).failed
}

for (const mode of ['redis', 'embedded'] as const) {
  t.test(`${mode}: a resent unroutable body is stored once; its copies answer duplicate`, async (t) => {
    const { app, prefix, registry } = await gateway(t, mode, {})
    const body = garbage('resent', 60_000)
    const answers = await Promise.all(Array.from({ length: 20 }, async () => await post(app, body)))
    const statuses = answers.map((answer) => (answer.json as { status: string }).status).sort()
    t.same(answers.map((answer) => answer.statusCode), Array(20).fill(200), 'always 200: Customer.io must not stall')
    t.same(statuses, [...Array(19).fill('duplicate'), 'quarantined'], '1 quarantined, 19 duplicate')
    t.same(await post(app, body), { statusCode: 200, json: { status: 'duplicate' } }, 'a later copy too')
    await eventually(async () => await failedQuarantine(app) === 1 ? true : undefined, 5000, 'the quarantined body among the dead letters')
    t.equal((await app.queueBackend.deadLetters('_quarantine', 10)).length, 1, 'one dead letter, not one per copy')
    t.equal(await sampleValue(registry, 'cio_gateway_events_quarantined_total', { source: 'customerio' }), 1)
    t.equal(await sampleValue(registry, 'cio_gateway_events_duplicate_total', { source: 'customerio' }), 20)
    if (mode === 'redis') {
      const redis = new Redis(REDIS_URL)
      t.teardown(() => redis.disconnect())
      const jobs = (await redis.keys(`${prefix}:_quarantine:*`)).filter((key) => /:_quarantine:g[0-9a-f]+-/.test(key))
      t.equal(jobs.length, 1, 'one job hash in Redis')
    }
  })

  t.test(`${mode}: the quarantine is held against the high-water mark`, async (t) => {
    const { app } = await gateway(t, mode, { queue: 'high_water_mark: 2', role: 'ingest' })
    for (let i = 0; i < 2; i++) {
      const event = JSON.stringify(sampleEvent())
      t.same(await post(app, event), { statusCode: 200, json: { status: 'accepted' } })
    }
    // The Redis backend reads its counts every second.
    const refused = await eventually(async () => {
      const answer = await post(app, garbage(`over the mark ${Date.now()}`))
      return answer.statusCode === 503 ? answer : undefined
    }, 5000, 'a 503 at the mark')
    t.same(refused.json, { error: 'store_unavailable', reason: 'high_water_mark' })
  })

  t.test(`${mode}: the quarantine keeps at most max_events bodies, dropping and counting the oldest`, async (t) => {
    const { app, dropped } = await gateway(t, mode, { quarantine: '{ max_events: 3 }' })
    for (let i = 0; i < 5; i++) {
      t.same(await post(app, garbage(`body ${i}`)), { statusCode: 200, json: { status: 'quarantined' } })
      // One at a time, so the dead letters' order is the sending order.
      await eventually(async () => await failedQuarantine(app) >= Math.min(i + 1, 3) ? true : undefined, 5000, `body ${i} dead-lettered`)
    }
    await eventually(async () => dropped.get('max_events') === 2 && await failedQuarantine(app) === 3 ? true : undefined, 5000, 'two dropped')
    const kept = (await app.queueBackend.deadLetters('_quarantine', 10)).map((letter) => String(letter.event).slice(0, 16))
    t.same(kept, ['not json: body 4', 'not json: body 3', 'not json: body 2'], 'the newest three are kept')
    t.equal(dropped.get('max_age'), undefined)
  })

  t.test(`${mode}: malformed Data Pipelines members take the same quarantine: each deduped and bounded by max_events`, async (t) => {
    const { app, dropped } = await gateway(t, mode, { quarantine: '{ max_events: 3 }' })
    const members = [0, 1, 2, 3].map((i) => malformedMember(`member ${i}`))
    t.same(await postBatch(app, [...members, samplePipelinesEvent()]), { statusCode: 200, json: { accepted: 1, duplicate: 0, unrouted: 0, quarantined: 4 } })
    t.same(await postBatch(app, [members[0], members[3]]), { statusCode: 200, json: { accepted: 0, duplicate: 2, unrouted: 0, quarantined: 0 } },
      'resent members are duplicates')
    await eventually(async () => dropped.get('max_events') === 1 && await failedQuarantine(app) === 3 ? true : undefined, 5000, 'one dropped, three kept')
  })

  t.test(`${mode}: malformed Data Pipelines members are held against the high-water mark`, async (t) => {
    const { app } = await gateway(t, mode, { queue: 'high_water_mark: 2', role: 'ingest' })
    t.same(await postBatch(app, [samplePipelinesEvent(), samplePipelinesEvent()]), { statusCode: 200, json: { accepted: 2, duplicate: 0, unrouted: 0, quarantined: 0 } })
    const refused = await eventually(async () => {
      const answer = await postBatch(app, [malformedMember(`over the mark ${Date.now()}`)])
      return answer.statusCode === 503 ? answer : undefined
    }, 5000, 'a 503 at the mark')
    t.same(refused.json, { error: 'store_unavailable', reason: 'high_water_mark' })
  })

  t.test(`${mode}: quarantined bodies older than max_age are dropped and counted`, async (t) => {
    const { app, dropped } = await gateway(t, mode, { quarantine: '{ max_age: 300ms }' })
    t.same(await post(app, garbage('short-lived')), { statusCode: 200, json: { status: 'quarantined' } })
    await eventually(async () => await failedQuarantine(app) === 1 ? true : undefined, 5000, 'dead-lettered')
    await eventually(async () => dropped.get('max_age') === 1 && await failedQuarantine(app) === 0 ? true : undefined, 5000, 'dropped by age')
  })
}

t.test('quarantined bodies are warnings, one line per source and reason per interval, with how many it stands for', async (t) => {
  const logs: Record<string, unknown>[] = []
  const { app } = await build(t, { yaml: defaultYaml({ redis: false }), logs: { write: (line) => { logs.push(JSON.parse(line) as Record<string, unknown>) } } })
  // Anyone holding the signing key can send these as fast as the gateway answers.
  for (let i = 0; i < 30; i++) t.same(await post(app, garbage(`flood ${i}`)), { statusCode: 200, json: { status: 'quarantined' } })
  for (let i = 0; i < 5; i++) t.same(await post(app, JSON.stringify({ event_id: `no-metric-${i}`, object_type: 'email' })), { statusCode: 200, json: { status: 'quarantined' } })

  const quarantined = (): Record<string, unknown>[] => logs.filter((line) => line.msg === 'signed body quarantined')
    .map(({ level, source, reason, count }) => ({ level, source, reason, count }))
  const line = (reason: string, count: number): Record<string, unknown> => ({ level: 40, source: 'customerio', reason, count })
  t.same(quarantined(), [line('not_a_json_object', 1), line('missing_metric', 1)], 'the first of each, at once')
  await app.close()
  t.same(quarantined().slice(2), [line('not_a_json_object', 29), line('missing_metric', 4)], 'the rest counted, written when the interval ends (here: at shutdown)')
  t.notOk(logs.some((entry) => JSON.stringify(entry).includes('flood')), 'no body in the log')
})
