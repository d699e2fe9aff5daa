/**
 * Every metric of SPEC §8, on an injected prom-client Registry (tests never touch the global one).
 * Label values are bounded: sources and sinks come from the config, object types and metrics are
 * folded to `other` outside the source types' catalogues, error types are short codes.
 */
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client'
import { allSourceDefinitions } from '../../src/sources/registry.js'

const PREFIX = 'cio_gateway_'

// Each source type's catalogue, and the reporting poller's report events.
const KNOWN_OBJECT_TYPES = new Set<string>([...allSourceDefinitions().flatMap((source) => source.knownValues.objectTypes), 'report'])
const KNOWN_METRICS = new Set<string>([
  ...allSourceDefinitions().flatMap((source) => source.knownValues.metrics),
  'campaign_metrics', 'newsletter_metrics', 'broadcast_metrics'
])

export function objectTypeLabel (value: string): string {
  return KNOWN_OBJECT_TYPES.has(value) ? value : 'other'
}
export function metricLabel (value: string): string {
  return KNOWN_METRICS.has(value) ? value : 'other'
}

const SECONDS_UP_TO_4 = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4]
const DELIVERY_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const LAG_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400]
const BATCH_SIZES = [1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

export class GatewayMetrics {
  readonly eventsReceived: Counter<'source' | 'object_type' | 'metric'>
  readonly eventsRejected: Counter<'source' | 'reason'>
  readonly eventsDuplicate: Counter<'source'>
  readonly eventsUnrouted: Counter<'source'>
  readonly eventsQuarantined: Counter<'source'>
  readonly ingestUnavailable: Counter<'source' | 'reason'>
  readonly ingestDuration: Histogram<'source'>
  readonly sinkDelivered: Counter<'sink' | 'type'>
  readonly sinkErrors: Counter<'sink' | 'type' | 'error_type'>
  readonly sinkDeadLettered: Counter<'sink'>
  readonly sinkBatchSize: Histogram<'sink'>
  readonly sinkDeliveryDuration: Histogram<'sink'>
  readonly eventLag: Histogram<'sink'>
  readonly queueJobs: Gauge<'sink' | 'state'>
  readonly reportingRequests: Counter<'endpoint' | 'status'>
  readonly reportingLastSuccess: Gauge
  readonly campaignMetric: Gauge<'campaign_id' | 'metric'>
  readonly reconciliationGap: Gauge<'campaign_id' | 'metric'>
  readonly newsletterReconciliationGap: Gauge<'newsletter_id' | 'metric'>
  readonly broadcastReconciliationGap: Gauge<'broadcast_id' | 'metric'>
  readonly configReloads: Counter<'result'>
  readonly quarantineDropped: Counter<'reason'>
  readonly replicationDegraded: Counter

  constructor (readonly registry: Registry, options: { defaultMetrics?: boolean } = {}) {
    const registers = [registry]
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: PREFIX })
    this.eventsReceived = new Counter({ name: `${PREFIX}events_received_total`, help: 'Signed events received, by source, object type and metric (unknown values folded to "other").', labelNames: ['source', 'object_type', 'metric'], registers })
    this.eventsRejected = new Counter({ name: `${PREFIX}events_rejected_total`, help: 'Webhook requests refused, by reason (missing_signature, bad_signature, stale_timestamp, body_too_large).', labelNames: ['source', 'reason'], registers })
    this.eventsDuplicate = new Counter({ name: `${PREFIX}events_duplicate_total`, help: 'Signed events answered "duplicate" (seen inside the dedupe window).', labelNames: ['source'], registers })
    this.eventsUnrouted = new Counter({ name: `${PREFIX}events_unrouted_total`, help: 'Signed events that matched no route: acked and stored nowhere.', labelNames: ['source'], registers })
    this.eventsQuarantined = new Counter({ name: `${PREFIX}events_quarantined_total`, help: 'Signed bodies that are not a routable event, kept in the _quarantine dead-letter store.', labelNames: ['source'], registers })
    this.ingestUnavailable = new Counter({ name: `${PREFIX}ingest_unavailable_total`, help: 'Signed events answered 503 because they could not be stored (redis_unavailable, high_water_mark, max_bytes, shutting_down).', labelNames: ['source', 'reason'], registers })
    this.ingestDuration = new Histogram({ name: `${PREFIX}ingest_duration_seconds`, help: 'Time from request to answer on the webhook path.', labelNames: ['source'], buckets: SECONDS_UP_TO_4, registers })
    this.sinkDelivered = new Counter({ name: `${PREFIX}sink_events_delivered_total`, help: 'Events a sink delivered.', labelNames: ['sink', 'type'], registers })
    this.sinkErrors = new Counter({ name: `${PREFIX}sink_errors_total`, help: 'Failed delivery attempts, per event, by error type.', labelNames: ['sink', 'type', 'error_type'], registers })
    this.sinkDeadLettered = new Counter({ name: `${PREFIX}sink_events_dead_lettered_total`, help: 'Events moved to the dead-letter store after their last attempt or a permanent error.', labelNames: ['sink'], registers })
    this.sinkBatchSize = new Histogram({ name: `${PREFIX}sink_batch_size`, help: 'Events per batch handed to a sink.', labelNames: ['sink'], buckets: BATCH_SIZES, registers })
    this.sinkDeliveryDuration = new Histogram({ name: `${PREFIX}sink_delivery_duration_seconds`, help: 'Time a sink took to deliver one batch.', labelNames: ['sink'], buckets: DELIVERY_SECONDS, registers })
    this.eventLag = new Histogram({ name: `${PREFIX}event_lag_seconds`, help: 'Time from receipt (ack) to delivery, per event.', labelNames: ['sink'], buckets: LAG_SECONDS, registers })
    this.queueJobs = new Gauge({ name: `${PREFIX}queue_jobs`, help: 'Jobs per sink queue and state (waiting, active, delayed, failed); with Redis a job holds one event or a group of up to 64.', labelNames: ['sink', 'state'], registers })
    this.reportingRequests = new Counter({ name: `${PREFIX}reporting_requests_total`, help: 'Reporting API requests, by endpoint template and HTTP status.', labelNames: ['endpoint', 'status'], registers })
    this.reportingLastSuccess = new Gauge({ name: `${PREFIX}reporting_last_success_timestamp_seconds`, help: 'Unix time of the last complete poll of the Reporting API.', registers })
    this.campaignMetric = new Gauge({ name: `${PREFIX}campaign_metric`, help: "Today's totals per campaign and metric from the Reporting API.", labelNames: ['campaign_id', 'metric'], registers })
    this.reconciliationGap = new Gauge({ name: `${PREFIX}reconciliation_gap`, help: "Customer.io's count minus the webhook events received, per campaign and metric, for the last complete UTC day (positive: webhooks missing).", labelNames: ['campaign_id', 'metric'], registers })
    this.newsletterReconciliationGap = new Gauge({ name: `${PREFIX}newsletter_reconciliation_gap`, help: "Customer.io's count minus the webhook events received, per newsletter and metric, for the last complete EST (UTC-05:00) day (positive: webhooks missing).", labelNames: ['newsletter_id', 'metric'], registers })
    this.broadcastReconciliationGap = new Gauge({ name: `${PREFIX}broadcast_reconciliation_gap`, help: "Customer.io's count minus the webhook events received, per API-triggered broadcast and metric, for the last complete EST (UTC-05:00) day (positive: webhooks missing).", labelNames: ['broadcast_id', 'metric'], registers })
    this.configReloads = new Counter({ name: `${PREFIX}config_reloads_total`, help: 'Configuration reloads, by result (success, failure).', labelNames: ['result'], registers })
    this.quarantineDropped = new Counter({ name: `${PREFIX}quarantine_dropped_total`, help: 'Quarantined bodies dropped to keep the quarantine bounded, by reason (max_events, max_age).', labelNames: ['reason'], registers })
    this.replicationDegraded = new Counter({ name: `${PREFIX}ingest_replication_degraded_total`, help: 'Events acknowledged with fewer replicas than queue.replicas_ack confirming them, because their Redis Cluster primary had fewer healthy replicas (just after a failover).', registers })
  }

  /**
   * Starts the counters alerts watch at 0 for every configured source and sink. A labelled counter
   * otherwise appears only at its first increment, and rate()/increase() cannot see that first step:
   * the first bad signature or dead letter would go unnoticed.
   */
  seed (sources: Iterable<string>, sinks: Iterable<{ name: string, type: string }>): void {
    for (const source of sources) {
      for (const reason of ['missing_signature', 'bad_signature', 'stale_timestamp', 'body_too_large']) this.eventsRejected.inc({ source, reason }, 0)
      for (const reason of ['redis_unavailable', 'high_water_mark', 'max_bytes']) this.ingestUnavailable.inc({ source, reason }, 0)
      this.eventsDuplicate.inc({ source }, 0)
      this.eventsUnrouted.inc({ source }, 0)
      this.eventsQuarantined.inc({ source }, 0)
    }
    for (const reason of ['max_events', 'max_age']) this.quarantineDropped.inc({ reason }, 0)
    for (const sink of sinks) {
      this.sinkDelivered.inc({ sink: sink.name, type: sink.type }, 0)
      this.sinkDeadLettered.inc({ sink: sink.name }, 0)
    }
  }
}
