/**
 * From a verified body to a stored event: parse, route, dedupe and enqueue, or quarantine. Shared by
 * the webhook route and by the replay of quarantined events.
 */
import type { Logger } from './logger.js'
import type { LogThrottle } from './log-throttle.js'
import type { GatewayConfig } from './config/types.js'
import { unroutableReason, type RoutableEvent } from './events.js'
import { RoutingTable } from './routing.js'
import type { GatewayMetrics } from '../plugins/metrics/metrics.js'
import { metricLabel, objectTypeLabel } from '../plugins/metrics/metrics.js'
import { QUARANTINE_SETTINGS, type QueueBackend, type Refusal, type SinkQueueSettings } from '../plugins/queue/backend.js'
import { dedupeKeyOf } from '../plugins/dedupe/key.js'
import type { JobPayload } from './sinks/job.js'

export type IngestStatus = 'accepted' | 'duplicate' | 'unrouted' | 'quarantined'

/** Why an event could not be stored; the caller answers 503 with Retry-After. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable'
  constructor (readonly reason: 'redis_unavailable' | Refusal, options?: ErrorOptions) {
    super(reason, options)
  }
}

/** Told of every event stored as `accepted` (for example to count webhooks per campaign for reconciliation). */
export type AcceptedListener = (source: string, event: RoutableEvent) => void

/**
 * One configuration's sources, routes and sink settings, swapped as a whole by a config reload. A
 * write reads the generation once, so it is routed and stored under one configuration only.
 */
interface Generation {
  readonly config: GatewayConfig
  readonly routing: RoutingTable
  readonly sinkSettings: ReadonlyMap<string, SinkQueueSettings>
  /** The sinks configured: their backlog is held against the high-water mark. */
  readonly sinkNames: readonly string[]
  /** Writes routed by this generation and not yet answered by the backend. */
  writes: number
  readonly drained: (() => void)[]
}

function generationOf (config: GatewayConfig, routing: RoutingTable): Generation {
  const sinkSettings = new Map([...config.sinks.values()].map((sink) => [sink.name, { name: sink.name, retry: sink.retry }]))
  return { config, routing, sinkSettings, sinkNames: [...sinkSettings.keys()], writes: 0, drained: [] }
}

export class Ingestor {
  private generation: Generation
  private readonly acceptedListeners: AcceptedListener[] = []

  constructor (
    config: GatewayConfig,
    private readonly backend: QueueBackend,
    routing: RoutingTable,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    /** Quarantined bodies come in floods too (anyone holding the signing key can send them): one line per source and reason every few seconds. */
    private readonly throttle: LogThrottle
  ) {
    this.generation = generationOf(config, routing)
  }

  /** The configuration in force: the next request is routed by it. */
  get config (): GatewayConfig {
    return this.generation.config
  }

  /**
   * Switches to `config` between two requests (one assignment: a request sees the old or the new
   * generation, never a mix). Resolves once every write routed by the previous configuration has
   * been answered, so no job for a removed sink is still on its way when that sink is stopped.
   */
  async reconfigure (config: GatewayConfig): Promise<void> {
    const previous = this.generation
    this.generation = generationOf(config, new RoutingTable(config.routes))
    if (previous.writes > 0) await new Promise<void>((resolve) => previous.drained.push(resolve))
  }

  /** Adds a listener; the function returned removes it (a listener costs the webhook path a call per event). */
  onAccepted (listener: AcceptedListener): () => void {
    this.acceptedListeners.push(listener)
    return () => {
      const index = this.acceptedListeners.indexOf(listener)
      if (index >= 0) this.acceptedListeners.splice(index, 1)
    }
  }

  async ingest (source: string, body: Buffer, receivedAt: number): Promise<IngestStatus> {
    const raw = body.toString('utf8')
    const payloadFor = (dedupeKey: string): JobPayload => ({ s: source, r: receivedAt, b: raw, e: dedupeKey })
    const event = parseJson(raw)
    const problem = unroutableReason(event)
    if (problem !== undefined) {
      // Deduped on the body's SHA-256 and held against the limits like any event (SPEC §5).
      const outcome = await this.write(this.generation, source, payloadFor(dedupeKeyOf({}, body)), [QUARANTINE_SETTINGS])
      if (outcome === 'duplicate') {
        this.metrics.eventsDuplicate.inc({ source })
        return 'duplicate'
      }
      this.metrics.eventsQuarantined.inc({ source })
      const bytes = body.length
      this.throttle.write(`quarantined:${source}:${problem}`, (count) => this.logger.warn({ source, reason: problem, bytes, count }, 'signed body quarantined'))
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
    const generation = this.generation
    const sinks = generation.routing.sinksFor(source, event)
    if (sinks.length === 0) return 'unrouted'
    return await this.write(generation, source, payload, sinks.map((name) => generation.sinkSettings.get(name) as SinkQueueSettings))
  }

  /** Holds the write against the queue limits, then dedupes and enqueues it for `sinks`. */
  private async write (generation: Generation, source: string, payload: JobPayload, sinks: readonly SinkQueueSettings[]): Promise<'accepted' | 'duplicate'> {
    const { queue } = generation.config
    const refused = this.backend.admit({ sinks: generation.sinkNames, source, dedupeKey: payload.e, highWaterMark: queue.highWaterMark, maxBytes: queue.maxBytes })
    if (refused !== undefined) throw new StoreUnavailable(refused)
    generation.writes++
    try {
      return await this.backend.enqueue({ source, dedupeKey: payload.e, payload, sinks })
    } catch (error) {
      throw new StoreUnavailable('redis_unavailable', { cause: error })
    } finally {
      if (--generation.writes === 0) generation.drained.splice(0).forEach((resolve) => resolve())
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
