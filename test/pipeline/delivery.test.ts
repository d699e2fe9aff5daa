/** Signed events end up in the file sink exactly as sent (apart from `_gateway`), in both queue modes. */
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { build, defaultYaml, eventually, readLines } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

const fixtureDir = new URL('../fixtures/', import.meta.url)
const fixtures = readdirSync(fixtureDir).filter((name) => name.endsWith('.json') && name !== 'catalog.json')

const withoutGateway = (line: Record<string, unknown>): Record<string, unknown> => {
  const { _gateway: _ignored, ...rest } = line
  return rest
}

for (const redis of [true, false]) {
  const mode = redis ? 'redis' : 'embedded'

  t.test(`${mode}: every fixture and an unknown event are delivered as sent`, async (t) => {
    const { app, dir } = await build(t, { yaml: defaultYaml({ redis }) })
    const sent = new Map<string, unknown>()
    // Fixtures may share event ids (two samples copy the vendor's example); give each its own.
    let n = 0
    const bodies = fixtures.map((name) => {
      const event = JSON.parse(readFileSync(new URL(name, fixtureDir), 'utf8')) as Record<string, unknown>
      event.event_id = `${String(event.event_id)}-${mode}-${n++}`
      return event
    })
    bodies.push(sampleEvent({ object_type: 'carrier_pigeon', metric: 'landed', brand_new_field: { nested: [1, 'two', null] }, data: { unheard_of: true } }))
    for (const event of bodies) {
      const body = JSON.stringify(event)
      const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
      t.same(response.json(), { status: 'accepted' }, String(event.event_id))
      sent.set(String(event.event_id), event)
    }
    const lines = await eventually(() => {
      const found = readLines(join(dir, 'events'))
      return found.length >= sent.size ? found : undefined
    }, 10_000, 'all lines in the file sink')
    t.equal(lines.length, sent.size, 'one line per event')
    for (const line of lines) {
      t.same(withoutGateway(line), sent.get(String(line.event_id)), `${String(line.event_id)} equals what was sent`)
      t.same(Object.keys(line._gateway as object).sort(), ['received_at', 'source'])
      t.equal((line._gateway as { source: string }).source, 'customerio')
    }
  })

  t.test(`${mode}: 50 concurrent copies of one event give one accepted, 49 duplicates, one delivery`, async (t) => {
    const { app, dir } = await build(t, { yaml: defaultYaml({ redis }) })
    const body = JSON.stringify(sampleEvent())
    const headers = signedHeaders(body)
    const answers = await Promise.all(Array.from({ length: 50 }, async () =>
      (await app.inject({ method: 'POST', url: '/webhooks/customerio', headers, payload: body })).json() as { status: string }))
    const counts = answers.reduce<Record<string, number>>((acc, answer) => ({ ...acc, [answer.status]: (acc[answer.status] ?? 0) + 1 }), {})
    t.same(counts, { accepted: 1, duplicate: 49 })
    await eventually(() => readLines(join(dir, 'events')).length >= 1 ? true : undefined)
    // Give a second (wrong) delivery time to appear before counting.
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal(readLines(join(dir, 'events')).length, 1, 'delivered once')
  })

  t.test(`${mode}: a body pretty-printed over several lines is still one NDJSON line`, async (t) => {
    const { app, dir } = await build(t, { yaml: defaultYaml({ redis }) })
    const event = sampleEvent()
    const body = JSON.stringify(event, null, 2)
    const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
    t.same(response.json(), { status: 'accepted' })
    const lines = await eventually(() => { const found = readLines(join(dir, 'events')); return found.length > 0 ? found : undefined })
    t.same(withoutGateway(lines[0] as Record<string, unknown>), event)
  })
}

t.test('an event without event_id is deduplicated by the SHA-256 of its body', async (t) => {
  const { app } = await build(t)
  const { event_id: _none, ...event } = sampleEvent()
  const body = JSON.stringify(event)
  const first = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  const second = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  const other = JSON.stringify({ ...event, metric: 'opened' })
  const third = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(other), payload: other })
  t.same([first.json(), second.json(), third.json()], [{ status: 'accepted' }, { status: 'duplicate' }, { status: 'accepted' }])
})

t.test('two sinks routed: each gets its own job, and dedupe covers both', async (t) => {
  const { app, dir } = await build(t, {
    yaml: defaultYaml({
      redis: true,
      extraSinks: '  bounces:\n    type: file\n    path: "{{dir}}/bounces"\n    batch: { max_wait: 20ms }',
      routes: '  - { name: bounces, match: { object_type: email, metric: [bounced, dropped] }, sinks: [bounces] }\n  - { name: everything, match: {}, sinks: [local] }'
    })
  })
  const bounce = JSON.stringify(sampleEvent({ metric: 'bounced' }))
  const open = JSON.stringify(sampleEvent({ metric: 'opened' }))
  for (const body of [bounce, open, bounce]) await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  await eventually(() => readLines(join(dir, 'events')).length === 2 && readLines(join(dir, 'bounces')).length === 1 ? true : undefined)
  t.same(readLines(join(dir, 'bounces')).map((line) => line.metric), ['bounced'])
  t.same(readLines(join(dir, 'events')).map((line) => line.metric).sort(), ['bounced', 'opened'])
})
