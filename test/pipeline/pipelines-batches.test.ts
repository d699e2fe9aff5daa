/**
 * Data Pipelines batches of 1,000 events, 3 % of each repeated from the batch before (a destination
 * that resends part of what it sent): every event reaches every sink exactly once, and each answer
 * counts what it stored and what it found already stored.
 */
import t from 'tap'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { build, defaultYaml, eventually, readLines } from '../helpers/app.js'
import { PIPELINES_SECRET, pipelinesHeaders, samplePipelinesEvent } from '../helpers/sign.js'

const BATCHES = 6
const BATCH_SIZE = 1000
const REPEATED = 30

const YAML = defaultYaml({
  redis: true,
  extraSources: `  pipelines: { type: customerio_pipelines, secrets: ["${PIPELINES_SECRET}"] }`,
  extraSinks: '  archive:\n    type: file\n    path: "{{dir}}/archive"\n    batch: { max_events: 500, max_wait: 20ms }',
  routes: '  - { name: everything, match: {}, sinks: [local, archive] }'
}).replace('body_limit: 64kb', 'body_limit: 2mb').replace('max_events: 50,', 'max_events: 500,')

async function post (app: FastifyInstance, body: string): Promise<{ status: number, json: unknown }> {
  const response = await app.inject({ method: 'POST', url: '/webhooks/pipelines', headers: pipelinesHeaders(body), payload: body })
  return { status: response.statusCode, json: response.json() }
}

/** How many times each messageId is in a file sink. */
function occurrences (dir: string, sink: string): Map<string, number> {
  const seen = new Map<string, number>()
  for (const line of readLines(join(dir, sink))) seen.set(String(line.messageId), (seen.get(String(line.messageId)) ?? 0) + 1)
  return seen
}

t.test('1,000-event batches with 3 % duplicates across batches: every event stored once per sink', async (t) => {
  const { app, dir } = await build(t, { yaml: YAML })
  const batches: Record<string, unknown>[][] = []
  for (let b = 0; b < BATCHES; b++) {
    const repeated = b === 0 ? [] : (batches[b - 1] as Record<string, unknown>[]).slice(-REPEATED)
    const fresh = Array.from({ length: BATCH_SIZE - repeated.length }, (_, n) => samplePipelinesEvent(n % 10 === 0 ? { type: 'identify', event: undefined, traits: { n } } : {}))
    // The repeated events spread through the batch, as a partial resend would mix them in.
    const batch = [...fresh]
    repeated.forEach((event, n) => batch.splice(n * 33, 0, event))
    batches.push(batch)
  }
  const bodies = batches.map((batch) => JSON.stringify(batch))
  t.ok(bodies.every((body) => body.length > 200_000), 'each request is a realistic batch of a few hundred KB')

  const answers = []
  for (const body of bodies) answers.push(await post(app, body))
  t.same(answers, bodies.map((_, b) => ({ status: 200, json: { accepted: b === 0 ? BATCH_SIZE : BATCH_SIZE - REPEATED, duplicate: b === 0 ? 0 : REPEATED, unrouted: 0, quarantined: 0 } })))

  const again = await Promise.all(bodies.map(async (body) => await post(app, body)))
  t.same(again, bodies.map(() => ({ status: 200, json: { accepted: 0, duplicate: BATCH_SIZE, unrouted: 0, quarantined: 0 } })), 'every batch resent at once: all duplicate')

  const distinct = new Set(batches.flat().map((event) => String(event.messageId)))
  t.equal(distinct.size, BATCH_SIZE + (BATCHES - 1) * (BATCH_SIZE - REPEATED))
  for (const sink of ['events', 'archive']) {
    const seen = await eventually(() => {
      const found = occurrences(dir, sink)
      return found.size >= distinct.size ? found : undefined
    }, 60_000, `${distinct.size} events in ${sink}`)
    // Give a straggler the chance to show up twice.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const final = occurrences(dir, sink)
    t.same([...final.keys()].sort(), [...distinct].sort(), `${sink}: every event, no other`)
    t.same([...final.values()].filter((count) => count !== 1), [], `${sink}: each exactly once`)
    t.equal(seen.size, final.size)
  }
})
