/**
 * The BigQuery events table: its schema (SPEC §6), the row of one event, and how rows are split into
 * insertAll requests that stay under the API's limits. Data Pipelines events have a table shape of
 * their own (pipelines-rows.ts).
 */
import type { DeliveryEvent } from '../../../src/sinks/contract.js'

export interface ColumnSpec {
  readonly name: string
  readonly type: 'STRING' | 'INT64' | 'TIMESTAMP' | 'JSON'
  readonly mode: 'REQUIRED' | 'NULLABLE'
  readonly description: string
}

/** The columns, in order. The schema table of docs/sinks/bigquery.md is this list. */
export const TABLE_COLUMNS: readonly ColumnSpec[] = [
  { name: 'event_id', type: 'STRING', mode: 'REQUIRED', description: 'Customer.io event_id (the SHA-256 of the body when it had none); also the insertId.' },
  { name: 'source', type: 'STRING', mode: 'REQUIRED', description: 'The gateway source the event came in on.' },
  { name: 'object_type', type: 'STRING', mode: 'REQUIRED', description: 'email, push, in_app, sms, customer, …' },
  { name: 'metric', type: 'STRING', mode: 'REQUIRED', description: 'sent, delivered, opened, clicked, bounced, …' },
  { name: 'timestamp', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'Event time (Customer.io timestamp); receipt time when it is missing or invalid. Partitioning column.' },
  { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When the gateway acknowledged the event.' },
  { name: 'delivery_id', type: 'STRING', mode: 'NULLABLE', description: 'data.delivery_id' },
  { name: 'customer_id', type: 'STRING', mode: 'NULLABLE', description: 'data.identifiers.id, else data.customer_id' },
  { name: 'email', type: 'STRING', mode: 'NULLABLE', description: 'data.identifiers.email, else data.email_address' },
  { name: 'campaign_id', type: 'INT64', mode: 'NULLABLE', description: 'data.campaign_id' },
  { name: 'action_id', type: 'INT64', mode: 'NULLABLE', description: 'data.action_id' },
  { name: 'broadcast_id', type: 'INT64', mode: 'NULLABLE', description: 'data.broadcast_id' },
  { name: 'newsletter_id', type: 'INT64', mode: 'NULLABLE', description: 'data.newsletter_id' },
  { name: 'journey_id', type: 'STRING', mode: 'NULLABLE', description: 'data.journey_id' },
  { name: 'subject', type: 'STRING', mode: 'NULLABLE', description: 'data.subject' },
  { name: 'recipient', type: 'STRING', mode: 'NULLABLE', description: 'data.recipient' },
  { name: 'href', type: 'STRING', mode: 'NULLABLE', description: 'data.href (clicks)' },
  { name: 'link_id', type: 'INT64', mode: 'NULLABLE', description: 'data.link_id (clicks)' },
  { name: 'failure_message', type: 'STRING', mode: 'NULLABLE', description: 'data.failure_message' },
  { name: 'data', type: 'JSON', mode: 'NULLABLE', description: 'The whole data object.' }
]

/** A kind of table the sink writes: its columns, its clustering and the row of one event. */
export interface TableShape {
  readonly name: string
  readonly columns: readonly ColumnSpec[]
  readonly clustering: readonly string[]
  readonly row: (delivery: DeliveryEvent) => RawRow
}

/** The tables.insert body for `create_table`: day partitions on event time, clustered for the usual filters. */
export function tableMetadata (shape: TableShape): Record<string, unknown> {
  return {
    schema: { fields: shape.columns.map(({ name, type, mode, description }) => ({ name, type, mode, description })) },
    timePartitioning: { type: 'DAY', field: 'timestamp' },
    clustering: { fields: shape.clustering }
  }
}

/** One insertAll row in raw mode: the insertId is the event_id, so BigQuery drops a re-sent copy. */
export interface RawRow {
  readonly insertId: string
  readonly json: Record<string, unknown>
}

/**
 * A row the client library hands on untouched. On every insertAll it deep-copies plain objects
 * (`extend`) and walks them for a `{{projectId}}` token; for 500 rows that was about a sixth of a
 * worker's CPU in the benchmark. An object without own enumerable fields is copied by reference and
 * not walked, and JSON.stringify still writes the row, through toJSON.
 */
export class OpaqueRow {
  readonly #row: RawRow
  constructor (row: RawRow) {
    this.#row = row
  }

  toJSON (): RawRow {
    return this.#row
  }
}

export function toRow (delivery: DeliveryEvent): RawRow {
  const { event } = delivery
  const data = isRecord(event.data) ? event.data : {}
  const identifiers = isRecord(data.identifiers) ? data.identifiers : {}
  return {
    insertId: delivery.eventId,
    json: {
      event_id: delivery.eventId,
      source: delivery.source,
      object_type: delivery.objectType,
      metric: delivery.metric,
      timestamp: new Date(delivery.timeMs).toISOString(),
      received_at: new Date(delivery.receivedAt).toISOString(),
      delivery_id: text(data.delivery_id),
      customer_id: text(identifiers.id) ?? text(data.customer_id),
      email: text(identifiers.email) ?? text(data.email_address),
      campaign_id: integer(data.campaign_id),
      action_id: integer(data.action_id),
      broadcast_id: integer(data.broadcast_id),
      newsletter_id: integer(data.newsletter_id),
      journey_id: text(data.journey_id),
      subject: text(data.subject),
      recipient: text(data.recipient),
      href: text(data.href),
      link_id: integer(data.link_id),
      failure_message: text(data.failure_message),
      // insertAll takes a JSON column as a string holding the JSON text.
      data: event.data === undefined ? null : JSON.stringify(event.data)
    }
  }
}

/** The events table: reporting webhooks and report events. */
export const EVENTS_TABLE: TableShape = { name: 'events', columns: TABLE_COLUMNS, clustering: ['object_type', 'metric'], row: toRow }

export function isRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Scalars become strings; objects and arrays are not guessed at (they stay in `data`). */
export function text (value: unknown): string | null {
  if (typeof value === 'string') return value === '' ? null : value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return null
}

/**
 * An INT64 column takes integers only. Customer.io may change a field's type without notice: a value
 * that is not an integer becomes NULL here (it is still in `data`) rather than an invalid row.
 */
function integer (value: unknown): number | string | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null
  if (typeof value === 'string' && /^-?[0-9]{1,18}$/.test(value)) return value
  return null
}

/** insertAll limits (https://cloud.google.com/bigquery/quotas#streaming_inserts), with room for the envelope. */
export const MAX_ROWS_PER_REQUEST = 500
export const MAX_BYTES_PER_REQUEST = 9 * 1024 * 1024

/**
 * Splits rows (given by their serialized size) into requests of at most `maxRows` rows and `maxBytes`
 * bytes, keeping order. A row larger than `maxBytes` goes alone; BigQuery judges it.
 */
export function chunkBySize (sizes: readonly number[], maxRows = MAX_ROWS_PER_REQUEST, maxBytes = MAX_BYTES_PER_REQUEST): number[][] {
  const chunks: number[][] = []
  let current: number[] = []
  let bytes = 0
  sizes.forEach((size, index) => {
    if (current.length > 0 && (current.length >= maxRows || bytes + size > maxBytes)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(index)
    bytes += size
  })
  if (current.length > 0) chunks.push(current)
  return chunks
}
