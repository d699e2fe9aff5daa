/**
 * Customer.io Data Pipelines webhook destinations (SPEC §13): one event or a batch of up to 1,000
 * (a JSON array, or an object holding it under `batch`), signed with X-Signature = hex HMAC-SHA1 of
 * the body. Each event is deduped on its `messageId` and routed on its own: `object_type` is the call
 * type, `metric` the event name of a `track` call, else the call type.
 */
import { Type } from '@sinclair/typebox'
import { defineSource, type RequestPart, type RoutingFields } from '../../../src/sources/definition.js'
import { SourceSecrets } from '../../../src/config/schema.js'
import { dedupeKeyFor } from '../../dedupe/key.js'
import { CALL_TYPES, JOURNEYS_EVENT_NAMES } from './catalog.js'
import { memberTexts } from './members.js'
import { precheckPipelinesSignature, verifyPipelinesSignature } from './signature.js'

/** 9999-12-31T23:59:59.999Z, the last time an ISO date can write with a four-digit year. */
const LATEST_MS = 253_402_300_799_999
const ISO_DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T/

export const customerioPipelinesSource = defineSource({
  type: 'customerio_pipelines',
  summary: 'Customer.io Data Pipelines webhook destinations: batches of up to 1,000 events, X-Signature (HMAC-SHA1 of the body); each event deduped on messageId and routed on its own.',
  schema: Type.Object({
    secrets: SourceSecrets
  }, { required: ['secrets'] }),
  // No timestamp is signed: a replayed request is refused by dedupe alone, within dedupe.window.
  resolve: (options, { dedupeWindowMs }) => ({ secrets: options.secrets, toleranceMs: dedupeWindowMs }),
  signature: {
    precheck: (headers) => precheckPipelinesSignature(headers['x-signature']),
    verify: (headers, body, options) => verifyPipelinesSignature(headers['x-signature'], body, options.secrets)
  },
  answer: 'counts',
  reconciled: false,
  parse (body) {
    const text = body.toString('utf8')
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return [{ reason: 'not_json', raw: text, dedupeKey: dedupeKeyFor(undefined, body) }]
    }
    const wrapped = isRecord(parsed) && Array.isArray(parsed.batch)
    const members = Array.isArray(parsed) ? parsed : wrapped ? (parsed as { batch: unknown[] }).batch : undefined
    if (members === undefined) return [part(parsed, text)]
    const texts = memberTexts(text, members.length, wrapped)
    return members.map((member, index) => part(member, texts?.[index] ?? JSON.stringify(member)))
  },
  fieldsOf,
  eventTimeMs (event) {
    const value = event.timestamp
    if (typeof value !== 'string' || !ISO_DATE.test(value)) return undefined
    const ms = Date.parse(value)
    return Number.isFinite(ms) && ms > 0 && ms <= LATEST_MS ? ms : undefined
  },
  dedupeKeyOf: (event, raw) => dedupeKeyFor(event.messageId, raw),
  knownValues: {
    objectTypes: CALL_TYPES,
    metrics: [...CALL_TYPES, ...JOURNEYS_EVENT_NAMES]
  }
})

/** One member (or the whole body): an event to route, or a part to quarantine. */
function part (value: unknown, raw: string): RequestPart {
  const fields = fieldsOf(value)
  if (typeof fields === 'string') return { reason: fields, raw, dedupeKey: dedupeKeyFor(undefined, raw) }
  const event = value as Record<string, unknown>
  return { event, fields, raw, dedupeKey: dedupeKeyFor(event.messageId, raw) }
}

function fieldsOf (value: unknown): RoutingFields | string {
  if (value === undefined) return 'not_json'
  if (!isRecord(value)) return 'not_a_json_object'
  const type = value.type
  if (typeof type !== 'string' || type === '') return 'missing_type'
  if (type !== 'track') return { object_type: type, metric: type }
  const name = value.event
  if (typeof name !== 'string' || name === '') return 'missing_event'
  return { object_type: type, metric: name }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
