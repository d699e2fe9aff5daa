/**
 * From a verified body to stored events: parse (by source type), route, dedupe and enqueue, or
 * quarantine. Shared by the webhook route, the replay of quarantined events and report events.
 */
import type { TObject } from '@sinclair/typebox'
import type { Logger } from './logger.js'
import type { LogThrottle } from './log-throttle.js'
import type { GatewayConfig, SourceConfig } from './config/types.js'
import type { RoutableEvent } from './events.js'
import { RoutingTable } from './routing.js'
import { isUnroutable, type RequestPart, type RoutingFields, type SourceDefinition, type SourceEvent, type UnroutablePart } from './sources/definition.js'
import { DEFAULT_SOURCE_TYPE, allSourceDefinitions, sourceType, type SourceType } from './sources/registry.js'
import type { GatewayMetrics } from '../plugins/metrics/metrics.js'
import { metricLabel, objectTypeLabel } from '../plugins/metrics/metrics.js'
import { QUARANTINE_SETTINGS, type QueueBackend, type Refusal, type SinkQueueSettings } from '../plugins/queue/backend.js'
import type { JobPayload } from './sinks/job.js'

export type IngestStatus = 'accepted' | 'duplicate' | 'unrouted' | 'quarantined'

/** How many events of a request ended each way. */
export type IngestCounts = Record<IngestStatus, number>

/**
 * The answer to a webhook request, as its source type answers (SourceDefinition.answer): one event's
 * status, or the counts of a request that may carry many events.
 */
export type IngestAnswer = { readonly status: IngestStatus } | IngestCounts

/** Why an event could not be stored; the caller answers 503 with Retry-After. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable'
  /** Of a request of several events: what was stored before the answer (the retry finds those duplicate). */
  readonly stored: IngestCounts | undefined
  constructor (readonly reason: 'redis_unavailable' | Refusal, options?: ErrorOptions & { stored?: IngestCounts }) {
    super(reason, options)
    this.stored = options?.stored
  }
}

/**
 * Told of every event stored as `accepted` (to count webhooks per campaign for reconciliation, to
 * show the live tail): the source's name, the event as its type read it (`part.fields` are its
 * routing fields) and the type.
 */
export type AcceptedListener = (source: string, part: SourceEvent, type: SourceDefinition<SourceType, TObject>) => void

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
  /** Per source type, the listeners that asked for its events: no entry, nothing kept or told. */
  private readonly acceptedListeners = new Map<string, AcceptedListener[]>()

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

  /**
   * Adds a listener for the events of the source types `wants` (every type when absent); the
   * function returned removes it. A listener costs the webhook path a call per event, and keeps
   * each event of its types until its write is answered.
   */
  onAccepted (listener: AcceptedListener, wants: (type: SourceDefinition<SourceType, TObject>) => boolean = () => true): () => void {
    const types = allSourceDefinitions().filter(wants).map((definition) => definition.type)
    for (const type of types) this.acceptedListeners.set(type, [...(this.acceptedListeners.get(type) ?? []), listener])
    return () => {
      for (const type of types) {
        const others = (this.acceptedListeners.get(type) ?? []).filter((other) => other !== listener)
        if (others.length > 0) this.acceptedListeners.set(type, others)
        else this.acceptedListeners.delete(type)
      }
    }
  }

  /**
   * Verified body → stored events: the source type splits it into events (one, or a batch), each
   * routed, deduped and enqueued on its own, the parts that are not routable events quarantined one
   * by one. The events of one request are enqueued in the same turn, so the backend writes them
   * together. Throws StoreUnavailable when any event could not be stored, after every write of the
   * request has settled; a retry of the request finds the stored ones duplicate.
   */
  async ingest (source: SourceConfig, body: Buffer, receivedAt: number): Promise<IngestAnswer> {
    const type = sourceType(source.type)
    const parts = type.parse(body)
    // One generation for the whole request: a reload in between never splits a batch over two configurations.
    const generation = this.generation
    const payloadType = type.type === DEFAULT_SOURCE_TYPE ? undefined : type.type
    const store = (part: RequestPart): Promise<IngestStatus> => this.store(generation, source.name, type, part, receivedAt, payloadType)
    if (type.answer === 'status' && parts.length === 1) {
      const part = parts[0] as RequestPart
      const status = await store(part)
      if (status === 'quarantined') {
        // Throttled: a holder of the signing key must not be able to fill the logs.
        const reason = (part as UnroutablePart).reason
        const bytes = body.length
        this.throttle.write(`quarantined:${source.name}:${reason}`, (count) => this.logger.warn({ source: source.name, reason, bytes, count }, 'signed body quarantined'))
      }
      return { status }
    }
    // Only the reasons are kept while the writes run: the parsed events are routed by then, and a
    // batch's object trees are garbage before Redis answers instead of surviving into the old generation.
    const reasons = parts.map((part) => isUnroutable(part) ? part.reason : undefined)
    const outcomes = await Promise.allSettled(parts.map(store))
    const counts: IngestCounts = { accepted: 0, duplicate: 0, unrouted: 0, quarantined: 0 }
    const quarantined: Record<string, number> = {}
    let failure: unknown
    outcomes.forEach((outcome, index) => {
      if (outcome.status === 'rejected') {
        failure ??= outcome.reason
        return
      }
      counts[outcome.value]++
      const reason = reasons[index]
      if (outcome.value === 'quarantined' && reason !== undefined) quarantined[reason] = (quarantined[reason] ?? 0) + 1
    })
    // One line per request, not per event: a batch of 1,000 malformed events is one problem.
    if (counts.quarantined > 0) {
      const bytes = body.length
      this.throttle.write(`quarantined:${source.name}:batch`, (count) => this.logger.warn({ source: source.name, events: reasons.length, quarantined, bytes, count }, 'signed request: events quarantined'))
    }
    if (failure instanceof StoreUnavailable) throw new StoreUnavailable(failure.reason, { cause: failure.cause, stored: counts })
    if (failure !== undefined) throw failure
    return counts
  }

  /** One part of a request: quarantined, or routed and stored; counted either way. */
  private async store (generation: Generation, source: string, type: SourceDefinition<SourceType, TObject>, part: RequestPart,
    receivedAt: number, payloadType: string | undefined): Promise<IngestStatus> {
    const payload: JobPayload = payloadType === undefined
      ? { s: source, r: receivedAt, b: part.raw, e: part.dedupeKey }
      : { s: source, r: receivedAt, b: part.raw, e: part.dedupeKey, t: payloadType }
    if (isUnroutable(part)) {
      // Deduped on the SHA-256 of its text and held against the limits like any event (SPEC §5).
      if (await this.write(generation, source, payload, [QUARANTINE_SETTINGS]) === 'duplicate') {
        this.metrics.eventsDuplicate.inc({ source })
        return 'duplicate'
      }
      this.metrics.eventsQuarantined.inc({ source })
      return 'quarantined'
    }
    const { event, fields } = part
    this.metrics.eventsReceived.inc({ source, object_type: objectTypeLabel(fields.object_type), metric: metricLabel(fields.metric) })
    // The event is kept past the write only when listeners of its type are to be told of it.
    const told = this.acceptedListeners.has(type.type) ? part : undefined
    const outcome = await this.routeIn(generation, source, event, fields, payload)
    if (outcome === 'duplicate') this.metrics.eventsDuplicate.inc({ source })
    else if (outcome === 'unrouted') this.metrics.eventsUnrouted.inc({ source })
    else if (told !== undefined) for (const listener of this.acceptedListeners.get(type.type) ?? []) listener(source, told, type)
    return outcome
  }

  /**
   * Routes and stores an event that parsed; used again when quarantined events are replayed and for
   * report events. `fields` are its routing fields when they are not its own object_type and metric.
   */
  async route (source: string, event: Readonly<Record<string, unknown>>, payload: JobPayload, fields: RoutingFields = event as RoutableEvent): Promise<'accepted' | 'duplicate' | 'unrouted'> {
    return await this.routeIn(this.generation, source, event, fields, payload)
  }

  private async routeIn (generation: Generation, source: string, event: Readonly<Record<string, unknown>>, fields: RoutingFields,
    payload: JobPayload): Promise<'accepted' | 'duplicate' | 'unrouted'> {
    const sinks = generation.routing.sinksFor(source, event, fields)
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
