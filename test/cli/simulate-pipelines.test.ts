/** `cio-gateway simulate --source-type customerio_pipelines`: the batches it plans, and a run against a real gateway process. */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { planPipelinesSimulation, MAX_BATCH } from '../../src/simulate/pipelines.js'
import { seededRandom } from '../../src/simulate/events.js'
import { customerioPipelinesSource } from '../../plugins/sources/customerio-pipelines/definition.js'
import { JOURNEYS_EVENT_NAMES } from '../../plugins/sources/customerio-pipelines/catalog.js'
import { isUnroutable } from '../../src/sources/definition.js'
import { BIN, cleanEnv, processYaml, runCli, startGateway } from '../helpers/process.js'
import { eventually, readLines, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { PIPELINES_SECRET } from '../helpers/sign.js'

const now = (): number => 1_790_000_000_000

t.test('the plan: batches of 1 to 1,000 Data Pipelines events, 3 % of them sent again in a later batch', async (t) => {
  const plan = planPipelinesSimulation({ count: 5000, random: seededRandom(42), now })
  const sizes = plan.batches.map((batch) => batch.events.length)
  t.equal(sizes.reduce((sum, size) => sum + size, 0), 5000, 'every event planned is in a batch')
  t.ok(Math.min(...sizes) >= 1 && Math.max(...sizes) <= MAX_BATCH, `sizes within 1–1,000 (${Math.min(...sizes)}–${Math.max(...sizes)})`)
  t.ok(Math.max(...sizes) >= 500 && sizes.some((size) => size < 100), 'large and small batches')
  t.equal(plan.duplicates, 150)

  const first = new Map<string, number>()
  let repeated = 0
  plan.batches.forEach((batch, index) => {
    // The gateway's own reading of the body: what it would store.
    const parts = customerioPipelinesSource.parse(Buffer.from(batch.body))
    t.equal(parts.length, batch.events.length, `batch ${index}: the body holds its events`)
    let again = 0
    for (const [n, part] of parts.entries()) {
      if (isUnroutable(part)) { t.fail(`batch ${index} member ${n} is not routable: ${part.reason}`); continue }
      t.equal(part.dedupeKey, batch.events[n]?.messageId)
      const seenIn = first.get(part.dedupeKey)
      if (seenIn === undefined) first.set(part.dedupeKey, index)
      else {
        again++
        if (seenIn !== index && !batch.after.includes(seenIn)) t.fail(`batch ${index} repeats an event of batch ${seenIn} without waiting for it`)
      }
    }
    t.equal(again, batch.duplicates, `batch ${index}: ${batch.duplicates} events sent before`)
    repeated += again
  })
  t.equal(repeated, 150)

  const parts = plan.batches.flatMap((batch) => customerioPipelinesSource.parse(Buffer.from(batch.body))).filter((part) => !isUnroutable(part))
  const byType = new Map<string, number>()
  for (const part of parts) if (!isUnroutable(part)) byType.set(part.fields.object_type, (byType.get(part.fields.object_type) ?? 0) + 1)
  t.ok((byType.get('track') ?? 0) > 4000 && (byType.get('identify') ?? 0) > 200 && (byType.get('page') ?? 0) > 100, `mostly track, some identify and page: ${JSON.stringify([...byType])}`)
  const names = new Set(parts.flatMap((part) => isUnroutable(part) || part.fields.object_type !== 'track' ? [] : [part.fields.metric]))
  t.same([...names].filter((name) => !JOURNEYS_EVENT_NAMES.includes(name)), [], 'every track event is a Journeys Message Metrics event')
  t.ok(names.has('Email Delivered') && names.has('Email Opened') && names.has('Push Sent') && names.has('SMS Delivered'), 'across channels')
  t.same(planPipelinesSimulation({ count: 300, random: seededRandom(7), now }), planPipelinesSimulation({ count: 300, random: seededRandom(7), now }), 'a seed replays the same plan')
  const one = planPipelinesSimulation({ count: 1, random: seededRandom(1), now })
  t.same([one.batches.length, one.duplicates], [1, 0])
})

t.test('against a running gateway: every batch answered with the counts intended, one file line per distinct event', async (t) => {
  const dir = tempDir(t)
  const prefix = uniquePrefix('simulate-pipelines')
  t.teardown(async () => await deleteKeys(prefix))
  const configFile = join(dir, 'routes.yaml')
  writeFileSync(configFile, processYaml({ prefix, localPath: `${dir}/events`, localBatch: '{ max_events: 500, max_wait: 50ms }', server: 'body_limit: 4mb' })
    .replace('sources:\n', `sources:\n  pipelines: { type: customerio_pipelines, secrets: ["${PIPELINES_SECRET}"] }\n`))
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile, '--role', 'all'], cleanEnv({ PORT: String(port) }))
  t.teardown(() => gateway.signal('SIGKILL'))
  const base = `http://127.0.0.1:${port}`

  const run = await runCli(['simulate', '--source-type', 'customerio_pipelines', '--url', base, '--secret', PIPELINES_SECRET, '--count', '1500', '--rate', '20000', '--seed', '5', '--json'], cleanEnv({}))
  t.equal(run.code, 0, run.stderr)
  const summary = JSON.parse(run.stdout) as { url: string, sent: number, distinct: number, duplicates: number, not_as_intended: number, answers: Record<string, number>, counts: Record<string, number>, batches: number }
  t.match(summary, { url: `${base}/webhooks/pipelines`, sent: 1500, distinct: 1455, duplicates: 45, not_as_intended: 0 })
  t.same(summary.answers, { 200: summary.batches })
  t.same(summary.counts, { accepted: 1455, duplicate: 45, unrouted: 0, quarantined: 0 })
  await eventually(() => readLines(join(dir, 'events')).length >= 1455 ? true : undefined, 20_000, 'every event in the file sink')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const ids = readLines(join(dir, 'events')).map((line) => line.messageId)
  t.equal(ids.length, 1455, 'one line per distinct event')
  t.equal(new Set(ids).size, 1455, 'no event twice')

  const [text, wrongKey, badType] = await Promise.all([
    runCli(['simulate', '--source-type', 'customerio_pipelines', '--url', `${base}/webhooks/pipelines`, '--count', '40', '--seed', '3', '--rate', '2000', '--verbose'], cleanEnv({ CIO_WEBHOOK_SECRET: PIPELINES_SECRET })),
    runCli(['simulate', '--source-type', 'customerio_pipelines', '--url', base, '--secret', 'not-the-key', '--count', '5'], cleanEnv({})),
    runCli(['simulate', '--source-type', 'segment', '--url', base, '--secret', 'k'], cleanEnv({}))
  ])
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout, new RegExp(`^cio-gateway simulate: 40 Data Pipelines events in \\d+ batches to ${base}/webhooks/pipelines at up to 2000 events/s \\(seed 3\\)$`, 'm'))
  t.match(text.stdout, /^ {2}#1 \d+ events \(0 sent before\) → 200 \{"accepted":\d+,"duplicate":0,"unrouted":0,"quarantined":0\}$/m)
  t.match(text.stdout, /^sent 40 events in \d+ batches \(\d+–\d+ events, \d+ on average\) in [0-9.]+ s: 39 distinct, 1 sent again in a later batch$/m)
  t.match(text.stdout, /^events: \d+ accepted, 1 duplicate, 0 unrouted, 0 quarantined$/m)
  t.match(text.stdout, 'every answer as intended')
  t.equal(wrongKey.code, 1, 'a wrong key: exit 1')
  t.match(wrongKey.stdout, /^ {2}401 invalid_signature +\d+ batches$/m)
  t.match(wrongKey.stderr, /^\d+ answers? 401: the gateway did not accept the signature\. Sign with one of the source's secrets: --secret KEY, or \$CIO_WEBHOOK_SECRET\n$/,
    'a hint at the key, without the development key of the reporting-webhook source')
  t.equal(badType.code, 2)
  t.match(badType.stderr, "--source-type: source type 'segment' is not known (known: customerio, customerio_pipelines)")

  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
})
