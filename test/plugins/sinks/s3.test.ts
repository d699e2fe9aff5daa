import t from 'tap'
import { gunzipSync } from 'node:zlib'
import S3rver from 's3rver'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { tempDir } from '../../helpers/app.js'
import { sinkCompliance, startSink, type SinkUnderTest } from '../../helpers/sink-compliance.js'
import { sampleEvent, samplePipelinesEvent } from '../../helpers/sign.js'
import { objectName, partitionValue } from '../../../plugins/sinks/s3/keys.js'
import type { DeliveryEvent } from '../../../src/sinks/contract.js'

// The sink takes credentials from the SDK's default chain; here that is the environment, with s3rver's well-known key.
process.env.AWS_ACCESS_KEY_ID = 'S3RVER'
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER'
delete process.env.AWS_PROFILE

const BUCKET = 'cio-archive'

interface LocalS3 {
  endpoint: string
  client: S3Client
  stop (): Promise<void>
  restart (): Promise<void>
  /** Every object under the bucket: key → its lines, gunzipped and parsed. */
  objects (): Promise<Map<string, Record<string, unknown>[]>>
}

/** s3rver on a fixed local port (so it can be stopped and started again to fail and heal the sink). */
async function localS3 (t: { teardown (fn: () => unknown): void }): Promise<LocalS3> {
  const directory = tempDir(t, 's3rver')
  const options = { address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET, configs: [] }] }
  let server: S3rver | undefined = new S3rver({ ...options, port: 0 })
  const { port } = await server.run()
  const endpoint = `http://127.0.0.1:${port}`
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true })
  const local: LocalS3 = {
    endpoint,
    client,
    async stop () {
      await server?.close()
      server = undefined
    },
    async restart () {
      server = new S3rver({ ...options, port })
      await server.run()
    },
    async objects () {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }))
      const objects = new Map<string, Record<string, unknown>[]>()
      for (const { Key } of listed.Contents ?? []) {
        const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key }))
        const text = gunzipSync(await (object.Body as { transformToByteArray (): Promise<Uint8Array> }).transformToByteArray()).toString('utf8')
        objects.set(Key as string, text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>))
      }
      return objects
    }
  }
  t.teardown(async () => {
    client.destroy()
    await local.stop()
  })
  return local
}

function s3 (local: LocalS3, options: Record<string, unknown> = {}, rest: Partial<SinkUnderTest> = {}): SinkUnderTest {
  return {
    type: 's3',
    options: { bucket: BUCKET, region: 'us-east-1', endpoint: local.endpoint, force_path_style: true, prefix: 'customerio/', ...options },
    ...rest
  }
}

t.test('the s3 sink passes the sink compliance checks', async (t) => {
  const local = await localS3(t)
  let up = true
  await sinkCompliance(t, {
    ...s3(local),
    target: {
      succeed: async () => { if (!up) { await local.restart(); up = true } },
      fail: async () => { if (up) { await local.stop(); up = false } }
    },
    errorType: 'network'
  })
  if (!up) await local.restart()
})

t.test('a batch becomes one gzip NDJSON object under the Hive-style key of its event hour', async (t) => {
  const local = await localS3(t)
  const sink = await startSink(t, s3(local, {}, { batch: { max_events: 3, max_wait: '1s' } }))
  const at = 1726000000 // 2024-09-10T20:26:40Z
  const events = [sampleEvent({ timestamp: at }), sampleEvent({ timestamp: at + 60 }), sampleEvent({ timestamp: at + 120 })]
  const receivedAt = await sink.send(events)
  await sink.settled(3)
  const objects = await local.objects()
  t.equal(objects.size, 1)
  const [key, lines] = [...objects][0] ?? []
  t.match(key, /^customerio\/source=customerio\/object_type=email\/dt=2024-09-10\/hour=20\/20240910T202640Z-[0-9a-f]{20}\.ndjson\.gz$/)
  const stamp = { source: 'customerio', received_at: new Date(receivedAt).toISOString() }
  t.same(lines, events.map((event) => ({ ...event, _gateway: stamp })), 'the lines are the events sent, in order, with _gateway')
  t.equal(await sink.metric('sink_events_delivered_total'), 3)
})

t.test('a batch spanning two partitions writes two objects', async (t) => {
  const local = await localS3(t)
  const sink = await startSink(t, s3(local, { prefix: '' }, { batch: { max_events: 4, max_wait: '1s' } }))
  const events = [
    sampleEvent({ timestamp: 1726009199 }), // 2024-09-10T22:59:59Z
    sampleEvent({ timestamp: 1726009200 }), // 2024-09-10T23:00:00Z
    sampleEvent({ timestamp: 1726009100 }),
    sampleEvent({ timestamp: 1726009300 })
  ]
  await sink.send(events)
  await sink.settled(4)
  t.equal(await sink.metric('sink_batch_size', {}, 'count'), 1, 'one batch')
  const objects = await local.objects()
  const byPartition = new Map([...objects].map(([key, lines]) => [key.slice(0, key.lastIndexOf('/') + 1), lines.map((line) => line.event_id)]))
  t.same(byPartition, new Map([
    ['source=customerio/object_type=email/dt=2024-09-10/hour=22/', [events[0]?.event_id, events[2]?.event_id]],
    ['source=customerio/object_type=email/dt=2024-09-10/hour=23/', [events[1]?.event_id, events[3]?.event_id]]
  ]))
})

t.test('object types and sources partition separately; an event without a timestamp goes by receipt time', async (t) => {
  const local = await localS3(t)
  const sink = await startSink(t, s3(local, { prefix: 'raw/' }, { batch: { max_events: 3, max_wait: '1s' } }))
  const receivedAt = Date.UTC(2025, 0, 2, 3, 4, 5)
  const events = [
    sampleEvent({ object_type: 'sms', metric: 'sent', timestamp: 1726000000 }),
    sampleEvent({ object_type: 'email', timestamp: undefined }),
    sampleEvent({ object_type: 'we/ird=type', timestamp: 1726000000 })
  ]
  await sink.send(events, { source: 'eu', receivedAt })
  await sink.settled(3)
  const partitions = [...(await local.objects()).keys()].map((key) => key.slice(0, key.lastIndexOf('/') + 1)).sort()
  t.same(partitions, [
    'raw/source=eu/object_type=email/dt=2025-01-02/hour=03/',
    'raw/source=eu/object_type=sms/dt=2024-09-10/hour=20/',
    'raw/source=eu/object_type=we%2Fird%3Dtype/dt=2024-09-10/hour=20/'
  ])
})

t.test('a partition value cannot add or fake a key level', async (t) => {
  t.equal(partitionValue('in_app'), 'in_app')
  t.equal(partitionValue('../x=y'), '..%2Fx%3Dy')
  t.equal(partitionValue('é'), '%C3%A9')
})

t.test('the same events make the same object name, so a retry after a crash overwrites instead of duplicating', async (t) => {
  const event = (eventId: string): DeliveryEvent => ({
    eventId, source: 'customerio', sourceType: 'customerio', objectType: 'email', metric: 'sent', timeMs: 1726000000_000, receivedAt: 0,
    event: { object_type: 'email', metric: 'sent', timestamp: 1726000000 }, body: '{}', line: '{}', size: 2
  })
  t.equal(objectName([event('a'), event('b')]), objectName([event('a'), event('b')]))
  t.not(objectName([event('a'), event('b')]), objectName([event('a')]))
})

t.test('a missing bucket is a retryable 404 and dead-letters after the last attempt', async (t) => {
  const local = await localS3(t)
  const sink = await startSink(t, s3(local, { bucket: 'no-such-bucket' }, { retry: { attempts: 2 } }))
  await sink.send([sampleEvent()])
  await sink.settled(1)
  t.equal(await sink.metric('sink_errors_total', { error_type: 'http_404' }), 2)
  t.equal(await sink.metric('sink_events_dead_lettered_total'), 1)
  t.match((await sink.deadLetters())[0]?.error, /NoSuchBucket/)
})

t.test('Data Pipelines events partition under their source, by call type and the hour of their ISO timestamp', async (t) => {
  const local = await localS3(t)
  const sink = await startSink(t, s3(local, { prefix: '' }, { batch: { max_events: 3, max_wait: '1s' } }))
  const events = [
    samplePipelinesEvent({ timestamp: '2024-09-10T20:26:40.000Z' }),
    samplePipelinesEvent({ type: 'identify', event: undefined, timestamp: '2024-09-10T22:59:59.999+02:00' }),
    samplePipelinesEvent({ type: 'page', event: undefined, timestamp: 'not a time' })
  ]
  const receivedAt = Date.UTC(2025, 0, 2, 3, 4, 5)
  await sink.send(events, { source: 'pipelines', sourceType: 'customerio_pipelines', receivedAt })
  await sink.settled(3)
  const objects = await local.objects()
  const byPartition = new Map([...objects].map(([key, lines]) => [key.slice(0, key.lastIndexOf('/') + 1), lines.map((line) => line.messageId)]))
  t.same(byPartition, new Map([
    ['source=pipelines/object_type=track/dt=2024-09-10/hour=20/', [events[0]?.messageId]],
    ['source=pipelines/object_type=identify/dt=2024-09-10/hour=20/', [events[1]?.messageId]],
    ['source=pipelines/object_type=page/dt=2025-01-02/hour=03/', [events[2]?.messageId]]
  ]), 'an unusable timestamp goes by receipt time')
  const [line] = [...objects.values()][0] ?? []
  t.same(Object.keys(line ?? {}).at(-1), '_gateway', 'the event as received, with the gateway stamp added')
})
