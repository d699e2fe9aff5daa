/**
 * The live tail: events as they are accepted, streamed to the console (Server-Sent Events).
 *
 * It costs the webhook path nothing while nobody watches: it listens to the Ingestor only while a
 * stream is open or a tail page was viewed in the last two minutes (so a reload without
 * JavaScript still shows what came in), and unsubscribes by itself after. While it listens, the
 * listener only appends the event to a ring of the last events (bounded); masking, routing and
 * serialising happen off the request path, in a flush a moment later, once per event whatever the
 * number of watchers. A watcher whose connection cannot keep up skips events (it is told how
 * many) rather than growing a buffer.
 */
import type { ServerResponse } from 'node:http'
import type { Logger } from '../../src/logger.js'
import type { AcceptedListener } from '../../src/ingest.js'
import type { SourceEvent } from '../../src/sources/definition.js'
import type { Masks } from './masking.js'

/** Events kept for a page or a stream that starts. */
export const TAIL_KEPT = 200
/** Streams open at once at most. */
export const TAIL_STREAMS = 16
const FLUSH_MS = 100
const HEARTBEAT_MS = 5000
const PAGE_LEASE_MS = 120_000
/** Bytes a stream may have waiting in its socket before it skips events. */
const STREAM_BACKLOG = 256 * 1024

export interface TailFilter {
  readonly source?: string
  readonly objectType?: string
  readonly metric?: string
}

/** One event as the console shows it: masked like the sinks it is routed to. */
export interface TailEntry {
  readonly receivedAt: number
  readonly source: string
  /** The event's id, or the SHA-256 it is known by when it has none (as in the dead letters). */
  readonly eventId: string
  /** Its routing fields, as its source type reads them (a Data Pipelines `track` call: track / its event name). */
  readonly objectType: string
  readonly metric: string
  readonly sinks: readonly string[]
  /** The masked event as JSON. */
  readonly json: string
}

interface Accepted {
  readonly receivedAt: number
  readonly source: string
  readonly part: SourceEvent
  entry?: TailEntry
}

interface Stream {
  readonly response: ServerResponse
  readonly filter: TailFilter
  skipped: number
}

export function matchesTail (entry: TailEntry, filter: TailFilter): boolean {
  return (filter.source === undefined || entry.source === filter.source) &&
    (filter.objectType === undefined || entry.objectType === filter.objectType) &&
    (filter.metric === undefined || entry.metric === filter.metric)
}

export class LiveTail {
  private readonly ring: Accepted[] = []
  private readonly streams = new Set<Stream>()
  private unsubscribe: (() => void) | undefined
  private leaseUntil = 0
  private flushTimer: NodeJS.Timeout | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private unsent = 0

  constructor (
    private readonly subscribe: (listener: AcceptedListener) => () => void,
    private readonly masks: Masks,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now
  ) {}

  /** Whether the tail listens to ingest now (for tests and the page). */
  get listening (): boolean {
    return this.unsubscribe !== undefined
  }

  /** A tail page was viewed: listen for a while, and answer what was kept (newest first). */
  viewed (filter: TailFilter): TailEntry[] {
    this.leaseUntil = this.now() + PAGE_LEASE_MS
    this.listen()
    return this.kept(filter)
  }

  /** Whether as many streams are open as are allowed. */
  get full (): boolean {
    return this.streams.size >= TAIL_STREAMS
  }

  /** Streams kept and new events to `response` until it closes (check `full` first). */
  stream (response: ServerResponse, filter: TailFilter): void {
    const stream: Stream = { response, filter, skipped: 0 }
    this.streams.add(stream)
    this.listen()
    for (const entry of this.kept(filter).reverse()) this.send(stream, entry)
    response.on('close', () => {
      this.streams.delete(stream)
      this.idle()
    })
    this.heartbeat ??= setInterval(() => {
      // Keeps the connection alive through proxies and the listener's idle timeout (connectionTimeout).
      for (const open of this.streams) open.response.write(': keep-alive\n\n')
    }, HEARTBEAT_MS).unref()
  }

  /** Ends every stream (the gateway is closing) and stops listening. */
  close (): void {
    for (const stream of this.streams) stream.response.end()
    this.streams.clear()
    this.leaseUntil = 0
    this.idle()
  }

  private listen (): void {
    this.unsubscribe ??= this.subscribe(this.accepted)
  }

  /** Stops listening once nobody watches. */
  private idle (): void {
    if (this.streams.size > 0) return
    clearInterval(this.heartbeat)
    this.heartbeat = undefined
    if (this.now() < this.leaseUntil) return
    this.unsubscribe?.()
    this.unsubscribe = undefined
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    this.unsent = 0
  }

  private readonly accepted: AcceptedListener = (source, part) => {
    this.ring.push({ receivedAt: this.now(), source, part })
    if (this.ring.length > TAIL_KEPT) this.ring.shift()
    this.unsent = Math.min(this.unsent + 1, TAIL_KEPT)
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  private flush (): void {
    this.flushTimer = undefined
    const fresh = this.ring.slice(this.ring.length - this.unsent)
    this.unsent = 0
    for (const accepted of fresh) {
      const entry = this.entryOf(accepted)
      for (const stream of this.streams) if (matchesTail(entry, stream.filter)) this.send(stream, entry)
    }
    this.idle()
  }

  private kept (filter: TailFilter): TailEntry[] {
    return this.ring.map((accepted) => this.entryOf(accepted)).filter((entry) => matchesTail(entry, filter)).reverse()
  }

  private entryOf (accepted: Accepted): TailEntry {
    if (accepted.entry !== undefined) return accepted.entry
    const { source, part: { event, fields, dedupeKey } } = accepted
    const sinks = this.masks.routedSinks(source, event, fields)
    accepted.entry = {
      receivedAt: accepted.receivedAt,
      source,
      eventId: dedupeKey,
      objectType: fields.object_type,
      metric: fields.metric,
      sinks,
      json: JSON.stringify(this.masks.mask(sinks, event))
    }
    return accepted.entry
  }

  private send (stream: Stream, entry: TailEntry): void {
    const { response } = stream
    if (response.writableLength > STREAM_BACKLOG) {
      stream.skipped++
      return
    }
    if (stream.skipped > 0) {
      response.write(`event: skipped\ndata: ${stream.skipped}\n\n`)
      this.logger.debug({ skipped: stream.skipped }, 'live tail: a watcher could not keep up; events skipped')
      stream.skipped = 0
    }
    response.write(`event: tail\ndata: ${JSON.stringify(entry)}\n\n`)
  }
}
