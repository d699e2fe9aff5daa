/**
 * Customer.io reporting webhooks (SPEC §2): one event per request, signed with X-CIO-Signature over
 * "v0:" + X-CIO-Timestamp + ":" + body, routed on its own `object_type` and `metric`.
 */
import { Type } from '@sinclair/typebox'
import { defineSource } from '../../../src/sources/definition.js'
import { Duration, SourceSecrets } from '../../../src/config/schema.js'
import { METRICS_BY_OBJECT_TYPE, unroutableReason, type RoutableEvent } from '../../../src/events.js'
import { parseDuration } from '../../../src/units.js'
import { dedupeKeyFor, dedupeKeyOf } from '../../dedupe/key.js'
import { precheckCioHeaders, verifyCioRequest } from '../../verifier/signature.js'

/** 9999-12-31T23:59:59Z: beyond it a "seconds" value is a unit mistake (milliseconds), not a date. */
const LATEST_SECONDS = 253_402_300_799

export const customerioSource = defineSource({
  type: 'customerio',
  summary: 'Customer.io reporting webhooks: one event per request, X-CIO-Signature (HMAC-SHA256 over the timestamp and the body).',
  schema: Type.Object({
    secrets: SourceSecrets,
    tolerance: Type.Optional(Duration('Largest allowed |now - X-CIO-Timestamp|. Defaults to dedupe.window and may not exceed it.'))
  }, { required: ['secrets'] }),
  problems: (options, { dedupeWindowMs, dedupeWindow }) => options.tolerance !== undefined && parseDuration(options.tolerance) > dedupeWindowMs
    ? [{ key: 'tolerance', message: `tolerance ${options.tolerance} is longer than dedupe.window ${dedupeWindow}: replays outside the dedupe window would be accepted` }]
    : [],
  resolve: (options, { dedupeWindowMs }) => ({
    secrets: options.secrets,
    toleranceMs: options.tolerance === undefined ? dedupeWindowMs : parseDuration(options.tolerance)
  }),
  signature: {
    precheck: (headers) => precheckCioHeaders({ timestamp: headers['x-cio-timestamp'], signature: headers['x-cio-signature'] }),
    verify: (headers, body, options) => verifyCioRequest({ timestamp: headers['x-cio-timestamp'], signature: headers['x-cio-signature'], body }, options)
  },
  answer: 'status',
  reconciled: true,
  parse (body) {
    const raw = body.toString('utf8')
    const event = parseJson(raw)
    const reason = unroutableReason(event)
    // Keyed on the bytes, not the decoded text: a body that is not UTF-8 keeps a key of its own.
    if (reason !== undefined) return [{ reason, raw, dedupeKey: dedupeKeyFor(undefined, body) }]
    const routable = event as RoutableEvent
    // The envelope carries its own routing fields: no copy.
    return [{ event: routable, fields: routable, raw, dedupeKey: dedupeKeyOf(routable, body) }]
  },
  fieldsOf: (event) => unroutableReason(event) ?? (event as RoutableEvent),
  eventTimeMs (event) {
    const value = event.timestamp
    const seconds = typeof value === 'number'
      ? value
      : typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : Number.NaN
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > LATEST_SECONDS) return undefined
    return Math.round(seconds * 1000)
  },
  dedupeKeyOf: (event, raw) => dedupeKeyOf(event, raw),
  knownValues: {
    objectTypes: Object.keys(METRICS_BY_OBJECT_TYPE),
    metrics: [...new Set(Object.values(METRICS_BY_OBJECT_TYPE).flat())]
  }
})

function parseJson (raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}
