/** The overview's rates (history.ts): growth of this process's counters over a window, per minute, from samples on a clock. */
import t from 'tap'
import { Registry } from 'prom-client'
import { GatewayMetrics } from '../../../plugins/metrics/metrics.js'
import { MetricHistory, series } from '../../../plugins/console/history.js'

t.test('deliveries, errors by type and ingest refusals over the last minutes, from samples every 10 s', async (t) => {
  const metrics = new GatewayMetrics(new Registry(), { defaultMetrics: false })
  let now = 1_000_000
  const history = new MetricHistory(metrics, () => now)
  const view = await history.view()
  t.equal(view.covered(300_000), 0, 'no sample yet: nothing covered')
  t.equal(view.delta(series.delivered('crm'), 300_000), 0)

  // Twenty minutes: 6 deliveries and one http_503 every 10 s, sampled after each; six 503s to ingest in the last minute.
  const tick = (step: number): void => {
    now += 10_000
    metrics.sinkDelivered.inc({ sink: 'crm', type: 'webhook' }, 6)
    metrics.sinkErrors.inc({ sink: 'crm', type: 'webhook', error_type: 'http_503' })
    if (step > 114) metrics.ingestUnavailable.inc({ source: 'customerio', reason: 'high_water_mark' })
  }
  for (let step = 0; step < 120; step++) {
    tick(step)
    await history.sample()
  }
  tick(120)
  const later = await history.view()
  t.equal(later.covered(300_000), 300_000, 'five minutes covered')
  t.equal(later.delta(series.delivered('crm'), 300_000), 6 * 30, 'deliveries over the window')
  t.same([...later.deltas(series.errors('crm'), 300_000)], [['http_503', 30]], 'errors by type')
  t.same([...later.deltas(series.unavailable, 300_000)], [['high_water_mark', 6]])
  t.same(later.perMinute(series.delivered('crm'), 15), Array.from({ length: 15 }, () => 36), 'per minute, oldest first')
  const kept = later.covered(20 * 60_000)
  t.ok(kept >= 16 * 60_000 && kept <= 16 * 60_000 + 10_000, `the ring keeps 16 minutes of samples (${kept} ms before this view)`)
  t.same(later.perMinute(series.delivered('crm'), 18).slice(0, 2), [undefined, undefined], 'minutes before the ring are unknown, not zero')
  t.same([...later.deltas(series.errors('other'), 300_000)], [], 'a sink without errors')
})
