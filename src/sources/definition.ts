/**
 * How a source type describes itself to the registry (src/sources/registry.ts): its options, how a
 * request is verified, and how a verified body becomes events. The ingest path, the routes, the
 * sinks and the quarantine replay ask the type; none of them knows a type by name.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Static, TObject } from '@sinclair/typebox'
import type { RejectReason, VerifyOptions } from '../../plugins/verifier/signature.js'

/**
 * A signature scheme: a pre-check that reads only the headers (run before the body is read, so a
 * request that cannot be signed costs no body buffer) and the whole check over the raw body.
 */
export interface SignatureScheme {
  /** Refuses from the headers alone: absent or malformed signature headers. */
  precheck (headers: IncomingHttpHeaders): RejectReason | undefined
  /** The whole check, pre-check included. */
  verify (headers: IncomingHttpHeaders, body: Buffer, options: VerifyOptions): RejectReason | undefined
}

/** What routes match as `object_type` and `metric`, whatever the event's own field names. */
export interface RoutingFields {
  readonly object_type: string
  readonly metric: string
}

/** One event of a request, ready to be routed. */
export interface SourceEvent {
  /** The event object as received. */
  readonly event: Readonly<Record<string, unknown>>
  readonly fields: RoutingFields
  /** The event's own JSON text: what the job stores and the sinks receive. */
  readonly raw: string
  /** The dedupe key within the source: the event's id, else a digest of `raw`. */
  readonly dedupeKey: string
}

/** A part of a request that is not a routable event: quarantined on its own. */
export interface UnroutablePart {
  readonly reason: string
  /** Its text as received (the whole body when it is not JSON). */
  readonly raw: string
  /** The SHA-256 of `raw`: a resent copy is a duplicate. */
  readonly dedupeKey: string
}

export type RequestPart = SourceEvent | UnroutablePart

export function isUnroutable (part: RequestPart): part is UnroutablePart {
  return (part as UnroutablePart).reason !== undefined
}

/** Options every source type has once resolved (the scheme's own are checked by its schema). */
export interface ResolvedSourceOptions {
  readonly secrets: readonly string[]
  /**
   * How far a signed timestamp may be from now, for schemes that sign one; for schemes without a
   * timestamp, the dedupe window (the only replay protection they have).
   */
  readonly toleranceMs: number
}

export interface SourceContext {
  readonly dedupeWindowMs: number
  /** dedupe.window as written, for messages. */
  readonly dedupeWindow: string
}

/** A problem with one key of a source's options, found after its schema passed. */
export interface SourceOptionProblem {
  readonly key: string
  readonly message: string
}

export interface SourceDefinition<T extends string = string, S extends TObject = TObject> {
  /** The `type:` value in routes.yaml. */
  readonly type: T
  /** One line for the configuration reference and error messages. */
  readonly summary: string
  /** Options of this type; `type` itself is added by the config loader. */
  readonly schema: S
  /** Checks across keys (and against the rest of the config) that a schema cannot express. */
  readonly problems?: (options: Static<S>, context: SourceContext) => SourceOptionProblem[]
  readonly resolve: (options: Static<S>, context: SourceContext) => ResolvedSourceOptions
  readonly signature: SignatureScheme
  /**
   * `status`: one event per request, answered `{"status": …}` (SPEC §3). `counts`: a request may
   * carry many events, answered with how many were accepted, duplicate, unrouted and quarantined.
   */
  readonly answer: 'status' | 'counts'
  /**
   * Whether its accepted events count towards the reconciliation with the Reporting API
   * (plugins/reporting). Reporting webhooks do; another source carrying the same deliveries would
   * count them twice.
   */
  readonly reconciled: boolean
  /** The events of a verified body, in order; never throws. */
  parse (body: Buffer): RequestPart[]
  /** The routing fields of one event (a replayed quarantined body, a job's event), or why it has none. */
  fieldsOf (event: unknown): RoutingFields | string
  /** The event's own time in ms since the epoch, when it carries a usable one. */
  eventTimeMs (event: Readonly<Record<string, unknown>>): number | undefined
  /** The dedupe key of one event (a replayed quarantined body) and its JSON text. */
  dedupeKeyOf (event: Readonly<Record<string, unknown>>, raw: string): string
  /** `object_type` and `metric` values worth their own metric label (others are folded to `other`). */
  readonly knownValues: { readonly objectTypes: readonly string[], readonly metrics: readonly string[] }
}

/** Keeps the literal type and the option type of one definition. */
export function defineSource<T extends string, S extends TObject> (definition: SourceDefinition<T, S>): SourceDefinition<T, S> {
  return definition
}
