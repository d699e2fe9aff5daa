import t from 'tap'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readLines, tempDir } from '../../helpers/app.js'
import { sinkCompliance, startSink } from '../../helpers/sink-compliance.js'
import { sampleEvent } from '../../helpers/sign.js'

t.test('the file sink passes the sink compliance checks', async (t) => {
  const path = join(tempDir(t, 'file-sink'), 'events')
  await sinkCompliance(t, {
    type: 'file',
    options: { path },
    target: {
      succeed: () => {
        rmSync(path, { recursive: true, force: true })
        mkdirSync(path, { recursive: true })
      },
      // A file where the directory should be: every append fails with ENOTDIR until it is a directory again.
      fail: () => {
        rmSync(path, { recursive: true, force: true })
        writeFileSync(path, 'not a directory')
      }
    },
    errorType: 'enotdir'
  })
})

t.test('the file sink writes each event as one NDJSON line with the _gateway field', async (t) => {
  const path = join(tempDir(t, 'file-sink'), 'events')
  const sink = await startSink(t, { type: 'file', options: { path } })
  const events = [sampleEvent(), sampleEvent({ object_type: 'sms', metric: 'replied' })]
  const receivedAt = await sink.send(events, { source: 'customerio' })
  await sink.settled(2)
  const stamp = { source: 'customerio', received_at: new Date(receivedAt).toISOString() }
  t.same(readLines(path), events.map((event) => ({ ...event, _gateway: stamp })))
})
