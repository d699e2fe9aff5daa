/**
 * From a verified body to a stored event: parse, route, dedupe and enqueue, or quarantine. Shared by
 * the webhook route and by the replay of quarantined events.
 */
import type { Logger } from './logger.js'
import type { GatewayConfig } from './config/types.js'
import { unroutableReason, type RoutableEvent } from './events.js'
import type { RoutingTable } from './routing.js'
import type { GatewayMetrics } from '../plugins/metrics/metrics.js'
import { metricLabel, objectTypeLabel } from '../plugins/metrics/metrics.js'
import type { QueueBackend, SinkQueueSettings } from '../plugins/queue/backend.js'
import { dedupeKeyOf } from '../plugins/dedupe/key.js'
import type { JobPayload } from './sinks/job.js'

export type IngestStatus = 'accepted' | 'duplicate' | 'unrouted' | 'quarantined'

/** Why an event could not be stored; the caller answers 503 with Retry-After. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable'
  constructor (readonly reason: 'redis_unavailable' | 'high_water_mark', options?: ErrorOptions) {
    super(reason, options)
  }
}

/** Told of every event stored as `accepted` (for example to count webhooks per campaign for reconciliation). */
export type AcceptedListener = (source: string, event: RoutableEvent) => void

export class Ingestor {
  private readonly sinkSettings: ReadonlyMap<string, SinkQueueSettings>
  private readonly acceptedListeners: AcceptedListener[] = []

  constructor (
    private readonly config: GatewayConfig,
    private readonly backend: QueueBackend,
    private readonly routing: RoutingTable,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger
  ) {
    this.sinkSettings = new Map([...config.sinks.values()].map((sink) => [sink.name, { name: sink.name, retry: sink.retry }]))
  }

  onAccepted (listener: AcceptedListener): void {
    this.acceptedListeners.push(listener)
  }

  async ingest (source: string, body: Buffer, receivedAt: number): Promise<IngestStatus> {
    const raw = body.toString('utf8')
    const payloadFor = (dedupeKey: string): JobPayload => ({ s: source, r: receivedAt, b: raw, e: dedupeKey })
    const event = parseJson(raw)
    const problem = unroutableReason(event)
    if (problem !== undefined) {
      await this.store(() => this.backend.quarantine(payloadFor(dedupeKeyOf({}, body)), problem))
      this.metrics.eventsQuarantined.inc({ source })
      this.logger.warn({ source, reason: problem, bytes: body.length }, 'signed body quarantined')
      return 'quarantined'
    }
    const routable = event as RoutableEvent
    this.metrics.eventsReceived.inc({ source, object_type: objectTypeLabel(routable.object_type), metric: metricLabel(routable.metric) })
    const outcome = await this.route(source, routable, payloadFor(dedupeKeyOf(routable, body)))
    if (outcome === 'duplicate') this.metrics.eventsDuplicate.inc({ source })
    else if (outcome === 'unrouted') this.metrics.eventsUnrouted.inc({ source })
    else for (const listener of this.acceptedListeners) listener(source, routable)
    return outcome
  }

  /** Routes and stores an event that parsed; used again when quarantined events are replayed. */
  async route (source: string, event: RoutableEvent, payload: JobPayload): Promise<'accepted' | 'duplicate' | 'unrouted'> {
    const sinks = this.routing.sinksFor(source, event)
    if (sinks.length === 0) return 'unrouted'
    if (this.backend.backlog() >= this.config.queue.highWaterMark) throw new StoreUnavailable('high_water_mark')
    const settings = sinks.map((name) => this.sinkSettings.get(name) as SinkQueueSettings)
    return await this.store(() => this.backend.enqueue({ source, dedupeKey: payload.e, payload, sinks: settings }))
  }

  private async store<T> (write: () => Promise<T>): Promise<T> {
    try {
      return await write()
    } catch (error) {
      throw new StoreUnavailable('redis_unavailable', { cause: error })
    }
  }
}

function parseJson (raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}
