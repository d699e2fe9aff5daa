/** The BigQuery sink: streaming inserts (tabledata.insertAll) with insertId = event_id. */
import { Type } from '@sinclair/typebox'
import { defineSink } from '../../../src/sinks/definition.js'
import { Duration } from '../../../src/config/schema.js'
import { parseDuration } from '../../../src/units.js'
import { lazySink } from '../../../src/sinks/lazy.js'

/** A table name, with placeholders replaced per event. */
const TABLE_NAME = {
  pattern: '^([A-Za-z0-9_]|\\{object_type\\}|\\{source\\})+$',
  expected: 'made of letters, digits, _ and the placeholders {object_type} and {source}'
}

export const bigquerySink = defineSink({
  type: 'bigquery',
  summary: 'Streams events into a BigQuery table (insertAll, insertId = event_id), optionally one table per object type.',
  schema: Type.Object({
    project_id: Type.Optional(Type.String({ description: 'Project of the dataset. Empty: the project of the credentials.', default: '' })),
    dataset: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_]+$', expected: 'made of letters, digits and _', description: 'Dataset of the table; it must exist.' }),
    table: Type.Optional(Type.String({
      ...TABLE_NAME,
      description: 'Table name; `{object_type}` and `{source}` are replaced per event (e.g. `events_{object_type}`: one table per channel).',
      default: 'events'
    })),
    pipelines_table: Type.Optional(Type.String({
      ...TABLE_NAME,
      description: 'Table of Customer.io Data Pipelines events (sources of `type: customerio_pipelines`), which have columns of their own; placeholders as in `table`. Must differ from `table`.',
      default: 'pipelines_events'
    })),
    create_table: Type.Optional(Type.Boolean({ description: 'Create missing tables, day-partitioned on `timestamp` and clustered by `object_type, metric` (the pipelines table by `type, event`).', default: false })),
    key_file: Type.Optional(Type.String({ description: 'Service-account key file. Empty: Application Default Credentials.', default: '' })),
    api_endpoint: Type.Optional(Type.String({ description: 'Another API root (emulators, tests), e.g. `http://localhost:9050`. Empty: Google\'s.', default: '' })),
    timeout: Type.Optional(Duration('Longest one API request may take.', '30s'))
  }, { required: ['dataset'] }),
  batchDefaults: { maxEvents: 500, maxBytes: 9 * 1024 * 1024, maxWaitMs: 2000 },
  // The client library loads when a worker starts the sink (see src/sinks/lazy.ts).
  create: (options, context) => lazySink(async () => new (await import('./bigquery-sink.js')).BigQuerySink({
    projectId: nonEmpty(options.project_id),
    dataset: options.dataset,
    table: options.table ?? 'events',
    pipelinesTable: options.pipelines_table ?? 'pipelines_events',
    createTable: options.create_table ?? false,
    keyFile: nonEmpty(options.key_file),
    apiEndpoint: nonEmpty(options.api_endpoint),
    timeoutMs: parseDuration(options.timeout ?? '30s')
  }, context.logger))
})

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
