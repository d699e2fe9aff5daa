/**
 * Listeners of accepted events (src/ingest.ts): each asks for the source types it wants, and is told
 * of their accepted events only. The reconciliation counts reporting webhooks (a Data Pipelines
 * source carries the same deliveries and would count them twice); the live tail shows every type.
 */
import t from 'tap'
import { LogThrottle } from '../../src/log-throttle.js'
import pino from 'pino'
import { Registry } from 'prom-client'
import { parseConfig } from '../../src/config/load.js'
import type { SourceConfig } from '../../src/config/types.js'
import { Ingestor, type AcceptedListener } from '../../src/ingest.js'
import { RoutingTable } from '../../src/routing.js'
import { GatewayMetrics } from '../../plugins/metrics/metrics.js'
import { EmbeddedBackend } from '../../plugins/queue/embedded-backend.js'
import { defaultYaml } from '../helpers/app.js'
import { PIPELINES_SECRET, sampleEvent, samplePipelinesEvent } from '../helpers/sign.js'

t.test('a listener is told of the accepted events of the source types it asked for, until it is removed', async (t) => {
  const yaml = defaultYaml({ redis: false, extraSources: `  pipelines: { type: customerio_pipelines, secrets: ["${PIPELINES_SECRET}"] }` })
  const config = parseConfig(yaml.replaceAll('{{dir}}', '/tmp/unused').replaceAll('{{prefix}}', 'unused'), 'test.yaml', {})
  const backend = new EmbeddedBackend({ dedupeWindowMs: 60_000 })
  t.teardown(async () => await backend.close())
  const ingestor = new Ingestor(config, backend, new RoutingTable(config.routes), new GatewayMetrics(new Registry(), { defaultMetrics: false }), pino({ level: 'silent' }), new LogThrottle())
  const told = (into: string[]): AcceptedListener => (source, part, type) => { into.push(`${source} ${type.type} ${part.fields.object_type}/${part.fields.metric} ${part.dedupeKey}`) }
  const everything: string[] = []
  const reconciled: string[] = []
  const removeEverything = ingestor.onAccepted(told(everything))
  ingestor.onAccepted(told(reconciled), (type) => type.reconciled)

  const reporting = config.sources.get('customerio') as SourceConfig
  const pipelines = config.sources.get('pipelines') as SourceConfig
  const webhook = JSON.stringify(sampleEvent({ event_id: 'R-1', object_type: 'email', metric: 'delivered' }))
  await ingestor.ingest(reporting, Buffer.from(webhook), Date.now())
  await ingestor.ingest(reporting, Buffer.from(webhook), Date.now())
  const batch = [samplePipelinesEvent({ messageId: 'P-1' }), samplePipelinesEvent({ messageId: 'P-1' }), samplePipelinesEvent({ type: 'page', event: undefined, messageId: 'P-2' })]
  t.same(await ingestor.ingest(pipelines, Buffer.from(JSON.stringify(batch)), Date.now()), { accepted: 2, duplicate: 1, unrouted: 0, quarantined: 0 })

  t.same(everything, [
    'customerio customerio email/delivered R-1',
    'pipelines customerio_pipelines track/Email Delivered P-1',
    'pipelines customerio_pipelines page/page P-2'
  ], 'every type, accepted events only (no duplicate)')
  t.same(reconciled, ['customerio customerio email/delivered R-1'], 'reporting webhooks only')

  removeEverything()
  await ingestor.ingest(pipelines, Buffer.from(JSON.stringify([samplePipelinesEvent({ messageId: 'P-3' })])), Date.now())
  t.equal(everything.length, 3, 'a removed listener is told nothing more')
})
