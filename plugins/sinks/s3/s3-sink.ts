import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import { PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { RetryableSinkError } from '../../../src/errors.js'
import type { Logger } from '../../../src/logger.js'
import type { BatchOutcome, DeliveryEvent, Sink } from '../../../src/sinks/contract.js'
import { retryAfterMs, transportErrorType } from '../common/http-errors.js'
import { objectName, partitionOf } from './keys.js'

const gzip = promisify(gzipCallback)

export interface S3SinkOptions {
  readonly bucket: string
  readonly region: string | undefined
  readonly endpoint: string | undefined
  readonly forcePathStyle: boolean
  readonly prefix: string
  readonly timeoutMs: number
}

export class S3Sink implements Sink {
  private readonly client: S3Client

  constructor (private readonly options: S3SinkOptions, private readonly logger: Logger) {
    const config: S3ClientConfig = {
      forcePathStyle: options.forcePathStyle,
      // One attempt per delivery: the gateway's queue retries with backoff and dead-letters.
      maxAttempts: 1,
      requestHandler: { requestTimeout: options.timeoutMs, connectionTimeout: Math.min(options.timeoutMs, 10_000) }
    }
    // Unset region and credentials come from the SDK's default chains (AWS_REGION, profiles, IRSA, instance roles).
    if (options.region !== undefined) config.region = options.region
    if (options.endpoint !== undefined) config.endpoint = options.endpoint
    this.client = new S3Client(config)
  }

  async deliver (batch: readonly DeliveryEvent[]): Promise<BatchOutcome> {
    const partitions = new Map<string, number[]>()
    batch.forEach((event, index) => {
      const partition = partitionOf(this.options.prefix, event)
      const indexes = partitions.get(partition)
      if (indexes === undefined) partitions.set(partition, [index])
      else indexes.push(index)
    })
    const failures = new Map<number, Error>()
    // One object per partition; a failed object fails only its own events.
    await Promise.all([...partitions].map(async ([partition, indexes]) => {
      const events = indexes.map((index) => batch[index] as DeliveryEvent)
      try {
        await this.put(partition + objectName(events), events)
      } catch (error) {
        const failure = s3Error(error)
        for (const index of indexes) failures.set(index, failure)
      }
    }))
    return { failures }
  }

  private async put (key: string, events: readonly DeliveryEvent[]): Promise<void> {
    const body = await gzip(events.map((event) => event.line).join('\n') + '\n')
    await this.client.send(new PutObjectCommand({
      Bucket: this.options.bucket,
      Key: key,
      Body: body,
      // The bytes are a .gz file, not a transfer encoding: no Content-Encoding, or HTTP clients would unzip it.
      ContentType: 'application/gzip'
    }))
    this.logger.debug({ bucket: this.options.bucket, key, events: events.length, bytes: body.length }, 'wrote S3 object')
  }

  async close (): Promise<void> {
    this.client.destroy()
  }
}

/**
 * Every S3 failure is retried: the body is the gateway's own gzip NDJSON, so a refusal (403 on a
 * missing permission, 404 on a missing bucket, 503 SlowDown) is about the bucket, not the event, and
 * clears once an operator fixes it. The attempts limit still dead-letters the events in the end.
 */
function s3Error (error: unknown): RetryableSinkError {
  const { $metadata, name, message, $response } = error as {
    $metadata?: { httpStatusCode?: number }, name?: string, message?: string, $response?: { headers?: Record<string, string> }
  }
  const status = $metadata?.httpStatusCode
  const text = `PutObject failed: ${name ?? 'Error'}: ${message ?? String(error)}`
  if (typeof status === 'number' && status >= 300) {
    return new RetryableSinkError(text, `http_${status}`, retryAfterMs($response?.headers?.['retry-after']), { cause: error })
  }
  return new RetryableSinkError(text, transportErrorType(error) ?? 'error', undefined, { cause: error })
}
