/** The S3 sink: one gzip NDJSON object per batch and partition, Hive-style keys by event hour (UTC). */
import { Type } from '@sinclair/typebox'
import { defineSink } from '../../../src/sinks/definition.js'
import { Duration } from '../../../src/config/schema.js'
import { parseDuration } from '../../../src/units.js'
import { lazySink } from '../../../src/sinks/lazy.js'

export const s3Sink = defineSink({
  type: 's3',
  summary: 'Writes one gzip NDJSON object per batch and partition to S3 or an S3-compatible store.',
  schema: Type.Object({
    bucket: Type.String({ minLength: 3, description: 'Bucket name; it must exist.' }),
    region: Type.Optional(Type.String({ description: 'Bucket region. Empty: the SDK default chain (AWS_REGION, profile).', default: '' })),
    endpoint: Type.Optional(Type.String({ description: 'Endpoint of an S3-compatible store (MinIO, R2, tests). Empty: AWS.', default: '' })),
    force_path_style: Type.Optional(Type.Boolean({ description: 'Address the bucket in the path (`host/bucket/key`) instead of the host name, as most S3-compatible stores need.', default: false })),
    prefix: Type.Optional(Type.String({ pattern: '^([^/].*/)?$', expected: 'empty, or a key prefix that ends in / and does not start with it', description: 'Key prefix, empty or ending in `/`, e.g. `customerio/`.', default: '' })),
    timeout: Type.Optional(Duration('Longest one PutObject may take.', '60s'))
  }, { required: ['bucket'] }),
  batchDefaults: { maxEvents: 10_000, maxBytes: 16 * 1024 * 1024, maxWaitMs: 60_000 },
  // The client library loads when a worker starts the sink (see src/sinks/lazy.ts).
  create: (options, context) => lazySink(async () => new (await import('./s3-sink.js')).S3Sink({
    bucket: options.bucket,
    region: nonEmpty(options.region),
    endpoint: nonEmpty(options.endpoint),
    forcePathStyle: options.force_path_style ?? false,
    prefix: options.prefix ?? '',
    timeoutMs: parseDuration(options.timeout ?? '60s')
  }, context.logger))
})

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
