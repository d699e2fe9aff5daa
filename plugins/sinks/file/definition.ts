/** The file sink: NDJSON files rotated by hour, `<path>/<YYYY-MM-DD>/<HH>.ndjson` (UTC, receipt time). */
import { Type } from '@sinclair/typebox'
import { defineSink } from '../../../src/sinks/definition.js'
import { FileSink } from './file-sink.js'

export const fileSink = defineSink({
  type: 'file',
  summary: 'Appends one NDJSON line per event to files rotated by hour.',
  schema: Type.Object({
    path: Type.String({ minLength: 1, description: 'Directory of the NDJSON files; created when missing.' }),
    fsync: Type.Optional(Type.Boolean({ description: 'Flush each batch to disk before the events count as delivered.', default: true }))
  }, { required: ['path'] }),
  batchDefaults: { maxEvents: 500, maxBytes: 4 * 1024 * 1024, maxWaitMs: 200 },
  create: (options, context) => new FileSink(options.path, options.fsync ?? true, context.logger)
})
