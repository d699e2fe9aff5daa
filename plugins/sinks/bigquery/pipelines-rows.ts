/**
 * The BigQuery table of Customer.io Data Pipelines events (SPEC §13): the common fields of every
 * call as columns, `properties`, `context` and `traits` as JSON. Created like the events table:
 * day partitions on the event time, clustered by call type and event name.
 */
import type { DeliveryEvent } from '../../../src/sinks/contract.js'
import { isRecord, text, type ColumnSpec, type RawRow, type TableShape } from './rows.js'

/** The columns, in order. The Data Pipelines table of docs/sources.md is this list. */
export const PIPELINES_COLUMNS: readonly ColumnSpec[] = [
  { name: 'message_id', type: 'STRING', mode: 'REQUIRED', description: 'messageId (the SHA-256 of the event\'s JSON when it had none); also the insertId.' },
  { name: 'source', type: 'STRING', mode: 'REQUIRED', description: 'The gateway source the event came in on.' },
  { name: 'type', type: 'STRING', mode: 'REQUIRED', description: 'The call type: track, identify, page, screen, group, alias.' },
  { name: 'event', type: 'STRING', mode: 'NULLABLE', description: 'The event name of a track call (e.g. Email Delivered).' },
  { name: 'user_id', type: 'STRING', mode: 'NULLABLE', description: 'userId' },
  { name: 'anonymous_id', type: 'STRING', mode: 'NULLABLE', description: 'anonymousId' },
  { name: 'timestamp', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'Event time (the call\'s timestamp); receipt time when it is missing or invalid. Partitioning column.' },
  { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When the gateway acknowledged the event.' },
  { name: 'properties', type: 'JSON', mode: 'NULLABLE', description: 'The properties object (track, page, screen).' },
  { name: 'context', type: 'JSON', mode: 'NULLABLE', description: 'The context object.' },
  { name: 'traits', type: 'JSON', mode: 'NULLABLE', description: 'The traits object (identify, group).' }
]

export function toPipelinesRow (delivery: DeliveryEvent): RawRow {
  const { event } = delivery
  return {
    insertId: delivery.eventId,
    json: {
      message_id: delivery.eventId,
      source: delivery.source,
      type: delivery.objectType,
      event: text(event.event),
      user_id: text(event.userId),
      anonymous_id: text(event.anonymousId),
      timestamp: new Date(delivery.timeMs).toISOString(),
      received_at: new Date(delivery.receivedAt).toISOString(),
      properties: json(event.properties),
      context: json(event.context),
      traits: json(event.traits)
    }
  }
}

/** insertAll takes a JSON column as a string holding the JSON text; only objects are kept (a scalar here is not what the column means). */
function json (value: unknown): string | null {
  return isRecord(value) ? JSON.stringify(value) : null
}

export const PIPELINES_TABLE: TableShape = { name: 'pipelines', columns: PIPELINES_COLUMNS, clustering: ['type', 'event'], row: toPipelinesRow }
