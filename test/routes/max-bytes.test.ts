/**
 * Regression (hardening, issue 14 item 10): Redis memory was bounded in events, not bytes; the worst
 * case was high_water_mark × body size × sinks. `queue.max_bytes` now answers 503 + Retry-After like
 * the high-water mark once the events queued (and the quarantine) hold that many bytes. Run on Redis
 * and on the embedded queue, in the ingest role so that nothing drains.
 */
import t from 'tap'
import { build, defaultYaml, eventually } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

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
