/**
 * Object keys of the S3 sink (SPEC §6): Hive-style partitions by source, object type and event hour
 * (UTC), so Athena, Glue, Spark or DuckDB prune by `dt`/`hour` without listing the whole prefix.
 */
import { createHash } from 'node:crypto'
import type { DeliveryEvent } from '../../../src/sinks/contract.js'

/**
 * `<prefix>source=<source>/object_type=<object_type>/dt=<YYYY-MM-DD>/hour=<HH>/` of one event, by its
 * routing `object_type` (for Data Pipelines the call type) and its event time.
 */
export function partitionOf (prefix: string, event: DeliveryEvent): string {
  const iso = new Date(event.timeMs).toISOString()
  return `${prefix}source=${partitionValue(event.source)}/object_type=${partitionValue(event.objectType)}/` +
    `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/`
}

/**
 * A partition value safe in a key and in a Hive path: object types come from Customer.io, so a `/`
 * or `=` must not create or fake a level. Everything outside [A-Za-z0-9_.-] is %-escaped, as Hive does.
 */
export function partitionValue (value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]/g, (char) =>
    [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''))
}

/**
 * The object name inside a partition: the earliest event time (so names sort by time) and a digest of
 * the event ids. The same events retried after a crash land on the same key and overwrite it
 * instead of adding a duplicate object.
 */
export function objectName (events: readonly DeliveryEvent[]): string {
  const hash = createHash('sha256')
  for (const event of events) hash.update(event.eventId).update('\n')
  const earliest = Math.min(...events.map((event) => event.timeMs))
  const stamp = new Date(earliest).toISOString().replace(/[-:]/g, '').replace(/\.[0-9]+Z$/, 'Z')
  return `${stamp}-${hash.digest('hex').slice(0, 20)}.ndjson.gz`
}
