/**
 * Regression (hardening, issue 14 item 10): Redis memory was bounded in events, not bytes; the worst
 * case was high_water_mark × body size × sinks. `queue.max_bytes` now answers 503 + Retry-After like
 * the high-water mark once the events queued (and the quarantine) hold that many bytes. Run on Redis
 * and on the embedded queue, in the ingest role so that nothing drains.
 */
import t from 'tap'
import { build, defaultYaml, eventually } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { startHeldReceiver } from '../helpers/receiver.js'

const EVENT_BYTES = 10_000
const BUDGET = 40 * 1024

for (const mode of ['redis', 'embedded'] as const) {
  t.test(`${mode}: ingest answers 503 max_bytes once the queued events hold queue.max_bytes`, async (t) => {
    const yaml = defaultYaml({ redis: mode === 'redis' }).replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}"\n  max_bytes: 40kb')
    const { app } = await build(t, { yaml, role: 'ingest' })
    let accepted = 0
    const refused = await eventually(async () => {
      const body = JSON.stringify(sampleEvent({ data: { padding: 'p'.repeat(EVENT_BYTES) } }))
      const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
      if (response.statusCode === 200) accepted++
      // The Redis backend reads its counts every second: give it the time to see what it holds.
      if (mode === 'redis') await new Promise((resolve) => setTimeout(resolve, 300))
      return response.statusCode === 503 ? response : undefined
    }, 15_000, 'a 503 at the byte budget')
    t.equal(refused.headers['retry-after'], '5')
    t.same(refused.json(), { error: 'store_unavailable', reason: 'max_bytes' })
    t.ok(accepted * EVENT_BYTES >= BUDGET, `not refused before the budget was used (${accepted} events of ${EVENT_BYTES} bytes accepted)`)
    t.ok((accepted - 1) * EVENT_BYTES < BUDGET + 4 * EVENT_BYTES, `refused soon after it (${accepted} accepted)`)
    const quarantined = 'not json ' + 'q'.repeat(100)
    const garbage = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(quarantined), payload: quarantined })
    t.same([garbage.statusCode, garbage.json()], [503, { error: 'store_unavailable', reason: 'max_bytes' }], 'the quarantine is held against it too')
  })
}

for (const mode of ['redis', 'embedded'] as const) {
  t.test(`${mode}: a burst of concurrent events is held against the budget at once, not at the next count`, async (t) => {
    const yaml = defaultYaml({ redis: mode === 'redis' }).replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}"\n  max_bytes: 40kb')
    const { app } = await build(t, { yaml, role: 'ingest' })
    // All within one turn of the Redis backend's counts (read once a second): only the writes themselves can tell.
    const answers = await Promise.all(Array.from({ length: 20 }, async () => {
      const body = JSON.stringify(sampleEvent({ data: { padding: 'p'.repeat(EVENT_BYTES) } }))
      return (await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })).statusCode
    }))
    const accepted = answers.filter((status) => status === 200).length
    t.same(answers.filter((status) => status !== 200 && status !== 503), [], 'each accepted or refused')
    t.ok(accepted * EVENT_BYTES >= BUDGET && (accepted - 1) * EVENT_BYTES < BUDGET, `${accepted} of 20 accepted: up to the budget and the event that crossed it`)
  })

  t.test(`${mode}: events a worker holds while its target hangs count against the budget`, async (t) => {
    const held = await startHeldReceiver(t)
    // A webhook sink holds up to batch.max_events × concurrency events at once (20 here), all still in the queue backend.
    const sink = `  hook:\n    type: webhook\n    url: "${held.url}"\n    allow_private_networks: true\n    timeout: 1m\n    concurrency: 1`
    const yaml = defaultYaml({ redis: mode === 'redis', extraSinks: sink, routes: '  - { name: all, match: {}, sinks: [hook] }' })
      .replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}"\n  max_bytes: 40kb')
    const { app } = await build(t, { yaml })
    // Runs before the app closes (teardowns run last-added first), so no delivery is left hanging.
    t.teardown(() => held.release())
    let accepted = 0
    await eventually(async () => {
      const body = JSON.stringify(sampleEvent({ data: { padding: 'p'.repeat(EVENT_BYTES) } }))
      const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
      if (response.statusCode === 200) accepted++
      // Time for the worker to take the event, and for the Redis backend's next count.
      await new Promise((resolve) => setTimeout(resolve, mode === 'redis' ? 1100 : 50))
      return response.statusCode === 503 ? response : undefined
    }, 30_000, 'a 503 at the byte budget')
    t.ok(held.received.length >= 1, `the worker holds events (${held.received.length} sent to the hanging target)`)
    t.ok((accepted - 1) * EVENT_BYTES < BUDGET, `refused once the events in hand fill the budget (${accepted} accepted)`)
  })
}

for (const mode of ['redis', 'embedded'] as const) {
  t.test(`${mode}: quarantined bodies count against the budget at once, not at the next measure of the quarantine`, async (t) => {
    const yaml = defaultYaml({ redis: mode === 'redis' }).replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}"\n  max_bytes: 40kb')
    // Role all: the quarantine's worker dead-letters each body at once; the Redis backend measures its dead letters every 10 s.
    const { app } = await build(t, { yaml })
    let accepted = 0
    const refused = await eventually(async () => {
      const body = `not json ${accepted} ` + 'q'.repeat(EVENT_BYTES)
      const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
      if (response.statusCode === 200) accepted++
      // Time for the body to become a dead letter, and for the Redis backend's next count.
      if (mode === 'redis') await new Promise((resolve) => setTimeout(resolve, 1100))
      return response.statusCode === 503 ? response : undefined
    }, 30_000, 'a 503 at the byte budget')
    t.same(refused.json(), { error: 'store_unavailable', reason: 'max_bytes' })
    t.ok((accepted - 1) * EVENT_BYTES < BUDGET, `refused once the quarantined bodies fill the budget (${accepted} accepted)`)
  })
}
