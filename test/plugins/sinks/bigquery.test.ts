import t from 'tap'
import { readFileSync } from 'node:fs'
import { tempDir, eventually } from '../../helpers/app.js'
import { sinkCompliance, startSink, type SinkUnderTest } from '../../helpers/sink-compliance.js'
import { sampleEvent } from '../../helpers/sign.js'
import { DATASET, PROJECT, apiError, startFakeBigQuery, type FakeBigQuery } from '../../helpers/bigquery-server.js'
import { TABLE_COLUMNS, chunkBySize } from '../../../plugins/sinks/bigquery/rows.js'
import { PIPELINES_COLUMNS } from '../../../plugins/sinks/bigquery/pipelines-rows.js'

function fixture (name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../fixtures/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>
}

function pipelinesFixture (name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../fixtures/pipelines/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>
}

async function fakeBigQuery (t: { teardown (fn: () => unknown): void }): Promise<FakeBigQuery> {
  return await startFakeBigQuery(t, tempDir(t, 'bigquery'))
}

function bigquery (fake: FakeBigQuery, options: Record<string, unknown> = {}, rest: Partial<SinkUnderTest> = {}): SinkUnderTest {
  return {
    type: 'bigquery',
    options: { project_id: PROJECT, dataset: DATASET, table: 'events', key_file: fake.keyFile, api_endpoint: fake.url, ...options },
    ...rest
  }
}

const insertIds = (fake: FakeBigQuery): string[] => fake.inserts.flatMap((insert) => insert.rows.map((row) => row.insertId))

t.test('the bigquery sink passes the sink compliance checks', async (t) => {
  const fake = await fakeBigQuery(t)
  await sinkCompliance(t, {
    ...bigquery(fake),
    target: {
      succeed: () => { fake.answerInsert = () => undefined },
      fail: () => { fake.answerInsert = () => ({ status: 500, body: apiError(500, 'backendError', 'Backend error') }) }
    },
    errorType: 'http_500'
  })
})

t.test('rows carry the SPEC columns, data as JSON text, and insertId = event_id', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake))
  const clicked = fixture('email-clicked-campaign')
  const unsubscribed = fixture('email-unsubscribed-customer-level')
  const push = fixture('push-sent-broadcast')
  const receivedAt = await sink.send([clicked, unsubscribed, push])
  await sink.settled(3)
  t.same(fake.unauthorized, [], 'every API request carried the access token from the credential file')
  t.equal(fake.inserts.length, 1)
  const insert = fake.inserts[0]
  t.equal(insert?.table, 'events')
  t.match(insert?.body, { skipInvalidRows: true })
  const received = new Date(receivedAt).toISOString()
  const data = (event: Record<string, unknown>): string => JSON.stringify(event.data)
  t.same(insert?.rows, [
    {
      insertId: '01HZX3K7Q2M9V5T8B1C4D6E0FG',
      json: {
        event_id: '01HZX3K7Q2M9V5T8B1C4D6E0FG', source: 'customerio', object_type: 'email', metric: 'clicked',
        timestamp: '2024-09-10T20:26:40.000Z', received_at: received,
        delivery_id: 'ZAIAAVTJVG0QcCok0-0ZKj6yiQ==', customer_id: '42', email: 'test@example.com',
        campaign_id: 5, action_id: 96, broadcast_id: null, newsletter_id: null, journey_id: '01GW20GXAAXBKZD8J96M8FNV3R',
        subject: 'Your trial ends soon', recipient: 'test@example.com', href: 'https://example.com/pricing', link_id: 7,
        failure_message: null, data: data(clicked)
      }
    },
    {
      insertId: '01HZX3P9Q8R7S6T5V4W3X2Y1Z0',
      json: {
        event_id: '01HZX3P9Q8R7S6T5V4W3X2Y1Z0', source: 'customerio', object_type: 'email', metric: 'unsubscribed',
        timestamp: '2024-09-10T20:31:40.000Z', received_at: received,
        delivery_id: null, customer_id: '42', email: 'test@example.com',
        campaign_id: null, action_id: null, broadcast_id: null, newsletter_id: null, journey_id: null,
        subject: null, recipient: null, href: null, link_id: null, failure_message: null, data: data(unsubscribed)
      }
    },
    {
      insertId: '01HZX3N2P4R6S8T0V2W4X6Y8Z0',
      json: {
        event_id: '01HZX3N2P4R6S8T0V2W4X6Y8Z0', source: 'customerio', object_type: 'push', metric: 'sent',
        timestamp: '2024-09-10T20:30:00.000Z', received_at: received,
        delivery_id: 'RMA0AAAAAAAAAAAAAAAAAAAA', customer_id: '42', email: null,
        campaign_id: null, action_id: 11, broadcast_id: 2, newsletter_id: null, journey_id: null,
        subject: null, recipient: null, href: null, link_id: null, failure_message: null, data: data(push)
      }
    }
  ])
  t.same(Object.keys(insert?.rows[0]?.json ?? {}), TABLE_COLUMNS.map((column) => column.name), 'exactly the table columns, in order')
})

t.test('an event without a usable timestamp is stamped with its receipt time', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake))
  const receivedAt = await sink.send([sampleEvent({ timestamp: 'yesterday' }), sampleEvent({ timestamp: 1726000000000 })])
  await sink.settled(2)
  const stamps = fake.inserts[0]?.rows.map((row) => row.json.timestamp)
  t.same(stamps, [new Date(receivedAt).toISOString(), new Date(receivedAt).toISOString()])
})

t.test('1,200 events in one batch go out as 3 insertAll requests of at most 500 rows', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, {}, { batch: { max_events: 1200, max_wait: '10s', max_bytes: '32mb' } }))
  const events = Array.from({ length: 1200 }, () => sampleEvent())
  await sink.send(events)
  await sink.settled(1200, 30_000)
  t.same(fake.inserts.map((insert) => insert.rows.length), [500, 500, 200])
  t.same(insertIds(fake), events.map((event) => event.event_id), 'every event once, in order, keyed by its event_id')
  t.equal(await sink.metric('sink_batch_size', {}, 'count'), 1, 'the runtime handed over one batch')
  t.equal(await sink.metric('sink_events_delivered_total'), 1200)
})

t.test('requests stay under 9 MB: large rows are split by size', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, {}, { batch: { max_events: 25, max_wait: '10s', max_bytes: '64mb' } }))
  const events = Array.from({ length: 25 }, () => sampleEvent({ data: { campaign_id: 1, body: 'x'.repeat(500 * 1024) } }))
  await sink.send(events)
  await sink.settled(25, 30_000)
  t.equal(fake.inserts.length, 2, '12.5 MB of rows make two requests')
  for (const insert of fake.inserts) t.ok(insert.bytes <= 9 * 1024 * 1024, `request of ${insert.bytes} bytes is under 9 MB`)
  t.same(insertIds(fake), events.map((event) => event.event_id))
})

t.test('chunkBySize bounds rows and bytes, keeps order, and sends an oversized row alone', async (t) => {
  t.same(chunkBySize([1, 1, 1, 1, 1], 2, 100), [[0, 1], [2, 3], [4]])
  t.same(chunkBySize([40, 40, 40, 150, 10], 500, 100), [[0, 1], [2], [3], [4]])
  t.same(chunkBySize([]), [])
})

t.test('a partial failure retries exactly the rows BigQuery named', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, {}, { batch: { max_events: 6, max_wait: '1s' } }))
  fake.answerInsert = (_request, index) => index > 0
    ? undefined
    : {
        status: 200,
        body: {
          kind: 'bigquery#tableDataInsertAllResponse',
          insertErrors: [1, 4].map((row) => ({ index: row, errors: [{ reason: 'backendError', message: 'try again' }] }))
        }
      }
  const events = Array.from({ length: 6 }, () => sampleEvent())
  await sink.send(events)
  await sink.settled(6)
  t.equal(fake.inserts[0]?.rows.length, 6)
  const retried = fake.inserts.slice(1).flatMap((insert) => insert.rows.map((row) => row.insertId)).sort()
  t.same(retried, [events[1]?.event_id, events[4]?.event_id].sort(), 'only rows 1 and 4 were sent again')
  t.equal(await sink.metric('sink_errors_total', { error_type: 'backend_error' }), 2)
  t.equal(await sink.metric('sink_events_delivered_total'), 6)
  t.equal(await sink.metric('sink_events_dead_lettered_total'), 0)
})

t.test('a row rejected as invalid is dead-lettered alone, without a retry', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, {}, { batch: { max_events: 3, max_wait: '1s' } }))
  fake.answerInsert = () => ({
    status: 200,
    body: { insertErrors: [{ index: 2, errors: [{ reason: 'invalid', location: 'campaign_id', message: 'Cannot convert value to integer' }] }] }
  })
  const events = [sampleEvent(), sampleEvent(), sampleEvent()]
  await sink.send(events)
  const counts = await sink.settled(3)
  t.match(counts, { completed: 2, failed: 1 })
  t.equal(fake.inserts.length, 1, 'nothing was sent again')
  const letters = await sink.deadLetters()
  t.equal(letters.length, 1)
  t.equal(letters[0]?.event_id, events[2]?.event_id)
  t.equal(letters[0]?.attempts, 1)
  t.match(letters[0]?.error, /\(invalid at campaign_id\): Cannot convert value to integer/)
  t.equal(await sink.metric('sink_errors_total', { error_type: 'invalid_row' }), 1)
  t.equal(await sink.metric('sink_events_dead_lettered_total'), 1)
})

t.test('a 500 is retried by the queue, not by the client', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, {}, { batch: { max_events: 2, max_wait: '1s' }, retry: { initial_delay: '200ms', max_delay: '200ms' } }))
  fake.answerInsert = (_request, index) => index === 0 ? { status: 500, body: apiError(500, 'backendError', 'Backend error') } : undefined
  const events = [sampleEvent(), sampleEvent()]
  await sink.send(events)
  await sink.settled(2)
  t.equal(fake.inserts[0]?.rows.length, 2)
  t.same(insertIds(fake).slice(2).sort(), events.map((event) => event.event_id).sort(), 'the same insert ids went again')
  t.equal(insertIds(fake).length, 4, 'each row sent twice: once refused, once by the queue\'s retry (the client did not retry)')
  t.equal(await sink.metric('sink_errors_total', { error_type: 'http_500' }), 2)
  t.equal(await sink.metric('sink_events_delivered_total'), 2)
})

t.test('create_table creates a missing table partitioned by day on timestamp and clustered by object_type, metric', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, { create_table: true }))
  t.same(fake.tableGets, ['events'], 'start() looked the table up')
  t.equal(fake.tableCreates.length, 1)
  t.same(fake.tableCreates[0], {
    tableReference: { projectId: PROJECT, datasetId: DATASET, tableId: 'events' },
    schema: { fields: TABLE_COLUMNS.map(({ name, type, mode, description }) => ({ name, type, mode, description })) },
    timePartitioning: { type: 'DAY', field: 'timestamp' },
    clustering: { fields: ['object_type', 'metric'] }
  })
  await sink.send([sampleEvent()])
  await sink.settled(1)
  t.equal(fake.tableCreates.length, 1, 'created once, not per batch')
  t.equal(fake.inserts.length, 1)
})

t.test('create_table leaves an existing table alone', async (t) => {
  const fake = await fakeBigQuery(t)
  fake.tables.set(`${PROJECT}.${DATASET}.events`, { kind: 'bigquery#table', id: `${PROJECT}:${DATASET}.events` })
  await startSink(t, bigquery(fake, { create_table: true }))
  t.same(fake.tableGets, ['events'])
  t.same(fake.tableCreates, [])
})

t.test('a templated table sends each object type to its own table, created on first use', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, { table: 'events_{object_type}', create_table: true }, { batch: { max_events: 3, max_wait: '1s' } }))
  t.same(fake.tableCreates, [], 'nothing to create before an event names a table')
  const events = [sampleEvent(), sampleEvent({ object_type: 'sms', metric: 'sent' }), sampleEvent({ object_type: 'in_app', metric: 'opened' })]
  await sink.send(events)
  await sink.settled(3)
  t.same(fake.tableCreates.map((table) => (table.tableReference as { tableId: string }).tableId).sort(), ['events_email', 'events_in_app', 'events_sms'])
  t.same(fake.inserts.map((insert) => [insert.table, insert.rows.map((row) => row.insertId)]).sort(), [
    ['events_email', [events[0]?.event_id]],
    ['events_in_app', [events[2]?.event_id]],
    ['events_sms', [events[1]?.event_id]]
  ])
})

t.test('Application Default Credentials are used when no key_file is given', async (t) => {
  const fake = await fakeBigQuery(t)
  const previous = process.env.GOOGLE_APPLICATION_CREDENTIALS
  process.env.GOOGLE_APPLICATION_CREDENTIALS = fake.keyFile
  t.teardown(() => {
    if (previous === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS
    else process.env.GOOGLE_APPLICATION_CREDENTIALS = previous
  })
  const sink = await startSink(t, bigquery(fake, { key_file: '' }))
  await sink.send([sampleEvent()])
  await sink.settled(1)
  t.equal(fake.inserts.length, 1)
  t.same(fake.unauthorized, [])
})

t.test('an unreachable API is a retryable network error', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, { api_endpoint: 'http://127.0.0.1:9' }, { retry: { attempts: 2 } }))
  await sink.send([sampleEvent()])
  await sink.settled(1)
  await eventually(async () => (await sink.metric('sink_events_dead_lettered_total')) === 1 ? true : undefined)
  t.equal(await sink.metric('sink_errors_total', { error_type: 'network' }), 2, 'two attempts, both network errors')
})

t.test('rows reach BigQuery as built: the client library does not rewrite a "{{projectId}}" in them', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake))
  const event = sampleEvent({ data: { campaign_id: 5, subject: 'Hello {{projectId}}', href: 'https://example.com/?p={{projectId}}' } })
  await sink.send([event])
  await sink.settled(1)
  const row = fake.inserts[0]?.rows[0]
  t.equal(row?.insertId, event.event_id)
  t.equal(row?.json.subject, 'Hello {{projectId}}')
  t.equal(row?.json.href, 'https://example.com/?p={{projectId}}')
  t.equal(row?.json.data, JSON.stringify(event.data))
})

t.test('Data Pipelines events go to their own table shape: the common fields as columns, properties, context and traits as JSON', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, { create_table: true }, { batch: { max_events: 4, max_wait: '1s' } }))
  const delivered = pipelinesFixture('journeys-email-delivered')
  const identify = pipelinesFixture('identify')
  const page = pipelinesFixture('page')
  const webhook = sampleEvent()
  const receivedAt = await sink.send([delivered, identify, page], { source: 'pipelines', sourceType: 'customerio_pipelines' })
  await sink.send([webhook])
  await sink.settled(4)
  t.same(fake.tableCreates.map((table) => [(table.tableReference as { tableId: string }).tableId, table.clustering]), [
    ['events', { fields: ['object_type', 'metric'] }],
    ['pipelines_events', { fields: ['type', 'event'] }]
  ], 'the pipelines table is created on first use, clustered by call type and event name')
  t.same(fake.tableCreates[1], {
    tableReference: { projectId: PROJECT, datasetId: DATASET, tableId: 'pipelines_events' },
    schema: { fields: PIPELINES_COLUMNS.map(({ name, type, mode, description }) => ({ name, type, mode, description })) },
    timePartitioning: { type: 'DAY', field: 'timestamp' },
    clustering: { fields: ['type', 'event'] }
  })
  const received = new Date(receivedAt).toISOString()
  const rowsOf = (table: string): unknown[] => fake.inserts.filter((insert) => insert.table === table).flatMap((insert) => insert.rows)
  t.same(rowsOf('pipelines_events'), [
    {
      insertId: '5b0f2f3e-8c1a-4a57-9d0e-2f6a1c3b7e01',
      json: {
        message_id: '5b0f2f3e-8c1a-4a57-9d0e-2f6a1c3b7e01', source: 'pipelines', type: 'track', event: 'Email Delivered',
        user_id: '42', anonymous_id: null, timestamp: '2024-09-10T20:26:40.000Z', received_at: received,
        properties: JSON.stringify(delivered.properties), context: JSON.stringify(delivered.context), traits: null
      }
    },
    {
      insertId: 'node-2b1f4a9c8e7d6f5a4b3c2d1e0f9a8b7c',
      json: {
        message_id: 'node-2b1f4a9c8e7d6f5a4b3c2d1e0f9a8b7c', source: 'pipelines', type: 'identify', event: null,
        user_id: '42', anonymous_id: null, timestamp: '2024-09-10T19:58:12.000Z', received_at: received,
        properties: null, context: JSON.stringify(identify.context), traits: JSON.stringify(identify.traits)
      }
    },
    {
      insertId: 'ajs-f8ca1e4de5024d9430b3928bd8ac6b96',
      json: {
        message_id: 'ajs-f8ca1e4de5024d9430b3928bd8ac6b96', source: 'pipelines', type: 'page', event: null,
        user_id: null, anonymous_id: 'a1f3c6e0-5d2b-4c8e-9f7a-3b6d1e0c2a48', timestamp: '2024-09-10T19:57:40.249Z', received_at: received,
        properties: JSON.stringify(page.properties), context: JSON.stringify(page.context), traits: null
      }
    }
  ])
  t.same(rowsOf('events').map((row) => (row as { insertId: string }).insertId), [webhook.event_id], 'a reporting webhook still goes to the events table')
})

t.test('a table name that both shapes would share is refused for the events that do not fit, not written wrong', async (t) => {
  const fake = await fakeBigQuery(t)
  const sink = await startSink(t, bigquery(fake, { table: 'everything', pipelines_table: 'everything' }, { batch: { max_events: 2, max_wait: '1s' } }))
  await sink.send([sampleEvent()])
  await sink.settled(1)
  await sink.send([pipelinesFixture('identify')], { source: 'pipelines', sourceType: 'customerio_pipelines' })
  await sink.settled(2)
  t.same(fake.inserts.map((insert) => insert.table), ['everything'], 'only the reporting event was inserted')
  const letters = await sink.deadLetters()
  t.equal(letters.length, 1)
  t.match(letters[0]?.error, /table everything would receive both reporting events and Data Pipelines events/)
  t.equal(await sink.metric('sink_errors_total', { error_type: 'table_conflict' }), 1)
})
