/**
 * A sink holding 10,000 dead letters: the console's pages still answer, and how long they take is
 * logged (measured, never asserted: timings belong to benchmarks). On Redis the worst case is
 * measured, one event per job (10,000 jobs to read), as when every event failed on its own.
 *
 * The gateway runs in the ingest role (no sink workers), and a worker of the test's own
 * dead-letters every event with one of five errors, so the dead letters are real BullMQ failed jobs.
 */
import t from 'tap'
import { availableParallelism, loadavg } from 'node:os'
import { DeadLetterNow } from '../../../src/sinks/job.js'
import type { QueueBackend } from '../../../plugins/queue/backend.js'
import { build, eventually } from '../../helpers/app.js'
import { ConsoleClient, consoleOf, consoleYaml } from './helpers.js'

const DEAD_LETTERS = 10_000
const ERRORS = ['POST https://crm.example/hooks answered 400', 'POST https://crm.example/hooks answered 404', 'insertAll rejected the row (invalid at data.x): no such field: x', 'row too large', 'quarantined: not_a_json_object']
const TYPES = [['email', 'bounced'], ['email', 'delivered'], ['sms', 'sent'], ['push', 'opened']] as const

async function seed (backend: QueueBackend): Promise<void> {
  for (let i = 0; i < DEAD_LETTERS; i++) {
    const [type, metric] = TYPES[i % TYPES.length] as readonly [string, string]
    const id = `S${String(i).padStart(5, '0')}`
    const body = JSON.stringify({ event_id: id, object_type: type, metric, timestamp: 1_750_000_000 + i, data: { campaign_id: i % 50, identifiers: { id: `person-${i}`, email: `person-${i}@example.com` }, subject: 'A subject line of ordinary length', delivery_id: `RAIAAX${i}` } })
    // One write per turn: one job per event.
    await backend.enqueue({ source: 'customerio', dedupeKey: id, payload: { s: 'customerio', r: Date.now(), b: body, e: id }, sinks: [{ name: 'local', retry: { attempts: 1, initialDelayMs: 10, maxDelayMs: 10 } }] })
  }
  backend.runWorker('local', { concurrency: 64, retry: { attempts: 1, initialDelayMs: 10, maxDelayMs: 10 } }, async (job) => {
    throw new DeadLetterNow(ERRORS[Number(job.data.e.slice(1)) % ERRORS.length] as string)
  })
  await eventually(async () => (await backend.counts('local')).failed === DEAD_LETTERS ? true : undefined, 120_000, `${DEAD_LETTERS} dead letters`)
  await backend.stopWorker('local')
}

async function timed (run: () => Promise<{ statusCode: number, body: string }>): Promise<{ ms: number, body: string, status: number }> {
  const started = process.hrtime.bigint()
  const response = await run()
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, body: response.body, status: response.statusCode }
}

for (const redis of [false, true]) {
  const mode = redis ? 'redis' : 'embedded'
  t.test(`${mode}: the pages of a sink with ${DEAD_LETTERS.toLocaleString('en-US')} dead letters (timings logged)`, async (t) => {
    const built = await build(t, { yaml: consoleYaml({ redis }), role: 'ingest' })
    await seed(built.app.queueBackend)
    const client = await ConsoleClient.logIn(consoleOf(built))
    const pages = {
      'dead letters, first page of 100': '/admin/ui/dead-letters/local',
      'dead letters, page of 500': '/admin/ui/dead-letters/local?per_page=500&page=3',
      'dead letters, filtered (error, type, metric)': `/admin/ui/dead-letters/local?${new URLSearchParams({ error: ERRORS[1] as string, object_type: 'email', metric: 'delivered' })}`,
      overview: '/admin/ui'
    }
    const timings: string[] = []
    for (const [name, url] of Object.entries(pages)) {
      await client.get(url) // warm
      const runs = [await timed(async () => await client.get(url)), await timed(async () => await client.get(url)), await timed(async () => await client.get(url))]
      for (const run of runs) t.equal(run.status, 200, name)
      timings.push(`${name} ${Math.min(...runs.map((run) => run.ms)).toFixed(0)} ms (best of 3; worst ${Math.max(...runs.map((run) => run.ms)).toFixed(0)} ms)`)
      if (name === 'dead letters, first page of 100') {
        t.match(runs[0]?.body, /<strong>10,000 events<\/strong> dead-lettered; showing 1–100\./)
        t.equal(runs[0]?.body.match(/type="checkbox" form="selection" name="ref"/g)?.length, 100, 'a page of rows')
        t.equal(runs[0]?.body.match(/<td class="n">2,000<\/td>/g)?.length, 5, 'five groups of 2,000')
      }
      if (name.startsWith('dead letters, filtered')) t.match(runs[0]?.body, /<strong>500 events<\/strong> match/)
    }
    const exported = await timed(async () => await client.get('/admin/ui/dead-letters/local/export.ndjson'))
    t.equal(exported.body.trimEnd().split('\n').length, DEAD_LETTERS, 'the export holds every dead letter')
    timings.push(`export of all ${exported.ms.toFixed(0)} ms`)
    const retried = await timed(async () => await client.post('/admin/ui/dead-letters/local/apply', { action: 'retry', selection: 'filter', error: ERRORS[0], expected: '2000' }))
    t.equal(retried.status, 303)
    t.equal((await built.app.queueBackend.eventCounts('local')).waiting, 2000, 'one error group re-queued')
    timings.push(`re-queue of one error group (2,000) ${retried.ms.toFixed(0)} ms`)
    t.comment(`${mode}, ${DEAD_LETTERS} dead letters${redis ? ' in as many jobs' : ''}: ${timings.join('; ')} ` +
      `(load average ${(loadavg()[0] as number).toFixed(1)} on ${availableParallelism()} cores)`)
  })
}
