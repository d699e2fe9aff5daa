/** `cio-gateway simulate` (SPEC §9): the plan it sends, and a run against a real gateway process whose banner it also checks. */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CATALOG_PAIRS, UNKNOWN_METRIC, planSimulation, seededRandom, type PlannedSend } from '../../src/simulate/events.js'
import { BIN, cleanEnv, processYaml, runCli, startGateway } from '../helpers/process.js'
import { eventually, readLines, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { TEST_SECRET } from '../helpers/sign.js'

const catalog = JSON.parse(readFileSync(new URL('../fixtures/catalog.json', import.meta.url), 'utf8')) as Record<string, string[] | string>
const CATALOG = Object.entries(catalog).filter(([key]) => !key.startsWith('_')).flatMap(([objectType, metrics]) => (metrics as string[]).map((metric) => `${objectType}/${metric}`))

const countOf = (sends: readonly PlannedSend[], objectType: string, metric?: string): number =>
  sends.filter((send) => send.kind === 'original' && send.objectType === objectType && (metric === undefined || send.metric === metric)).length

t.test('the plan: every object type and metric of the catalogue, realistic proportions, duplicates after their original, one unknown metric', async (t) => {
  const now = (): number => 1_790_000_000_000
  const plan = planSimulation({ count: 5000, random: seededRandom(42), now })
  const { sends } = plan
  t.equal(sends.length, 5000)
  t.equal(plan.coversCatalog, true)
  t.same([...CATALOG_PAIRS.map(([objectType, metric]) => `${objectType}/${metric}`)].sort(), [...CATALOG].sort(), 'the generator\'s catalogue is test/fixtures/catalog.json')
  const sent = new Set(sends.filter((send) => send.kind === 'original').map((send) => `${send.objectType}/${send.metric}`))
  t.same(CATALOG.filter((pair) => !sent.has(pair)), [], 'every pair sent at least once')

  t.ok(countOf(sends, 'email', 'opened') > 10 * countOf(sends, 'email', 'bounced'), 'many opens, few bounces')
  t.ok(countOf(sends, 'email', 'delivered') > countOf(sends, 'email', 'opened'), 'more deliveries than opens')
  t.ok(countOf(sends, 'email', 'opened') > countOf(sends, 'email', 'clicked'), 'more opens than clicks')
  t.ok(countOf(sends, 'email', 'spammed') < countOf(sends, 'email', 'bounced'), 'spam reports rarer than bounces')
  t.ok(countOf(sends, 'email') > 2 * countOf(sends, 'push'), 'email is most of the traffic')

  const duplicates = sends.map((send, index) => ({ send, index })).filter(({ send }) => send.kind === 'duplicate')
  t.equal(duplicates.length, 150, '3% duplicates')
  const misplaced = duplicates.filter(({ send, index }) => {
    const original = sends[send.duplicateOf as number]
    return !((send.duplicateOf as number) < index && original?.kind === 'original' && original.body === send.body && original.eventId === send.eventId)
  })
  t.same(misplaced, [], 'each duplicate repeats the bytes of an earlier original')
  const unknown = sends.filter((send) => send.kind === 'unknown_metric')
  t.same(unknown.map((send) => [send.objectType, send.metric]), [[UNKNOWN_METRIC.objectType, UNKNOWN_METRIC.metric]])
  t.notOk(CATALOG.includes(`${UNKNOWN_METRIC.objectType}/${UNKNOWN_METRIC.metric}`), 'the unknown metric is not in the catalogue')

  const originals = sends.filter((send) => send.kind !== 'duplicate')
  t.equal(new Set(originals.map((send) => send.eventId)).size, originals.length, 'distinct event ids')
  const malformed = originals.filter((send) => {
    const event = JSON.parse(send.body) as Record<string, unknown>
    return !(/^[0-9A-HJKMNP-TV-Z]{26}$/.test(String(event.event_id)) && event.event_id === send.eventId && event.object_type === send.objectType &&
      event.metric === send.metric && typeof event.data === 'object' && Math.abs((event.timestamp as number) - now() / 1000) <= 120)
  })
  t.same(malformed, [], 'every body: a ULID event_id, the planned object_type and metric, an event time in the last two minutes, a data object')
  const email = JSON.parse(sends.find((send) => send.kind === 'original' && send.objectType === 'email' && send.metric === 'clicked')?.body ?? '{}') as { data: Record<string, unknown> }
  t.match(email.data, { delivery_id: String, identifiers: { id: String, email: /@example\.com$/ }, recipient: /@example\.com$/, subject: String, href: /^https:\/\/example\.com\//, link_id: Number })
  const customer = JSON.parse(sends.find((send) => send.objectType === 'customer')?.body ?? '{}') as { data: Record<string, unknown> }
  t.match(customer.data, { customer_id: String, email_address: /@example\.com$/ })
  t.notOk('delivery_id' in customer.data, 'customer events carry no delivery')

  t.same(planSimulation({ count: 300, random: seededRandom(7), now }), planSimulation({ count: 300, random: seededRandom(7), now }), 'a seed replays the same plan')
  const small = planSimulation({ count: 5, random: seededRandom(1), now })
  t.same({ covers: small.coversCatalog, kinds: small.sends.map((send) => send.kind).sort() }, { covers: false, kinds: ['original', 'original', 'original', 'original', 'unknown_metric'] })
})

/** A metric summed over its series, from /metrics on the management listener at `management`. */
async function metricValue (management: string, name: string): Promise<number> {
  const text = await (await fetch(`${management}/metrics`)).text()
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0)
}

t.test('against a running gateway: every event accepted or duplicate as intended, one file line per distinct event', async (t) => {
  const dir = tempDir(t)
  const prefix = uniquePrefix('simulate')
  t.teardown(async () => await deleteKeys(prefix))
  const configFile = join(dir, 'routes.yaml')
  writeFileSync(configFile, processYaml({
    prefix,
    adminToken: 'simulate-admin-token-of-32-characters',
    localPath: `${dir}/events`,
    localBatch: '{ max_events: 500, max_wait: 50ms }',
    extraSinks: `  private:
    type: file
    path: "${dir}/private"
    redact: [data.identifiers.email, data.recipient]`,
    routes: `  - { name: everything, match: {}, sinks: [local] }
  - { name: bounces, match: { metric: [bounced, dropped, spammed] }, sinks: [private] }`
  }))
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile, '--role', 'all'], cleanEnv({ PORT: String(port) }))
  t.teardown(() => gateway.signal('SIGKILL'))

  const base = `http://127.0.0.1:${port}`
  const management = gateway.management
  t.match(management, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(management, base)
  const banner = gateway.stderr().slice(gateway.stderr().indexOf('cio-gateway listening on'))
  t.match(banner, [
    `cio-gateway listening on ${base} (role: all)`,
    `  webhooks:   ${base}  POST /webhooks/<source>, /healthz, /readyz`,
    `  management: ${management}  /metrics, /admin/*, /healthz, /readyz`,
    `  queue: redis ${new URL(REDIS_URL).host} (prefix ${prefix})`,
    `  source customerio: POST ${base}/webhooks/customerio (1 secret)`,
    '  sink local: file',
    '  sink private: file (redacts data.identifiers.email, data.recipient)',
    '  route everything → local',
    '  route bounces → private',
    `  metrics: ${management}/metrics`,
    `  admin: ${management}/admin/queues (bearer token), console ${management}/admin/ui`,
    `  config: ${configFile} (reloaded on SIGHUP and when the file changes)`
  ].join('\n'), 'the banner, on stderr: both listeners, sources and paths, sinks, routes, queue mode, role, metrics, admin, config')

  const run = await runCli(['simulate', '--url', `${base}/webhooks/customerio`, '--secret', TEST_SECRET, '--count', '150', '--rate', '300', '--json'], cleanEnv({}))
  t.equal(run.code, 0, run.stderr)
  const summary = JSON.parse(run.stdout) as {
    sent: number, distinct: number, duplicates: number, unknown_metrics: number, covers_catalog: boolean, not_as_intended: number,
    answers: Record<string, number>, events: { event_id: string, object_type: string, metric: string, kind: string, answer: string }[]
  }
  t.match(summary, { sent: 150, distinct: 145, duplicates: 5, unknown_metrics: 1, covers_catalog: true, not_as_intended: 0 })
  t.same(summary.answers, { '200 accepted': 145, '200 duplicate': 5 })
  for (const event of summary.events) {
    if (event.answer !== (event.kind === 'duplicate' ? '200 duplicate' : '200 accepted')) t.fail(`${event.kind} ${event.event_id} answered ${event.answer}`)
  }
  const sentPairs = new Set(summary.events.map((event) => `${event.object_type}/${event.metric}`))
  t.same(CATALOG.filter((pair) => !sentPairs.has(pair)), [], 'every object type and metric of the catalogue was sent')

  const distinct = new Map(summary.events.filter((event) => event.kind !== 'duplicate').map((event) => [event.event_id, event]))
  const lines = await eventually(() => { const found = readLines(join(dir, 'events')); return found.length >= distinct.size ? found : undefined }, 20_000, 'every event in the file sink')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const settled = readLines(join(dir, 'events'))
  t.equal(settled.length, distinct.size, 'one line per distinct event, no more')
  t.same(new Set(settled.map((line) => line.event_id)), new Set(distinct.keys()), 'exactly the distinct events')
  for (const line of lines) {
    const sent = distinct.get(String(line.event_id))
    if (sent === undefined || line.object_type !== sent.object_type || line.metric !== sent.metric) t.fail(`line ${String(line.event_id)} does not match what was sent`)
  }
  t.equal(await metricValue(management, 'cio_gateway_events_duplicate_total'), 5, 'the gateway counted the duplicates')
  const privateLines = readLines(join(dir, 'private'))
  t.ok(privateLines.length > 0 && privateLines.every((line) => /^[0-9a-f]{64}$/.test(String((line.data as Record<string, unknown>).recipient))), 'the redacting sink got digests')

  const [text, wrongKey, unreachable, usage, badCount] = await Promise.all([
    runCli(['simulate', '--url', base, '--count', '12', '--rate', '100', '--verbose', '--seed', '3'], cleanEnv({ CIO_WEBHOOK_SECRET: TEST_SECRET })),
    runCli(['simulate', '--url', `${base}/webhooks/customerio`, '--secret', 'not-the-key', '--count', '3'], cleanEnv({})),
    runCli(['simulate', '--url', `http://127.0.0.1:${await freePort()}/webhooks/customerio`, '--secret', TEST_SECRET, '--count', '2'], cleanEnv({})),
    runCli(['simulate', '--secret', TEST_SECRET], cleanEnv({})),
    runCli(['simulate', '--url', base, '--secret', TEST_SECRET, '--count', '0'], cleanEnv({}))
  ])

  t.equal(text.code, 0, 'the key from $CIO_WEBHOOK_SECRET; a bare gateway URL gets /webhooks/customerio')
  t.match(text.stdout, `cio-gateway simulate: 12 events to ${base}/webhooks/customerio at up to 100/s (seed 3)\n`)
  t.match(text.stdout, /^ {2}#1 .+ → 200 accepted$/m, 'one line per request with --verbose')
  t.match(text.stdout, /^sent 12 in [0-9.]+ s: 11 distinct events \(too few to cover every object type and metric\), 1 duplicate, 1 unknown metric$/m)
  t.match(text.stdout, /^answers:\n {2}200 accepted +11\n {2}200 duplicate +1\n/m)
  t.match(text.stdout, /^ {2}email {5}x_simulated_future_metric +1 {2}→ 1 200 accepted$/m)
  t.match(text.stdout, 'every answer as intended')

  t.equal(wrongKey.code, 1, 'a wrong key: exit 1')
  t.match(wrongKey.stdout, /^ {2}401 invalid_signature +3$/m)
  t.match(wrongKey.stdout, /^3 answers not as intended/m)
  t.match(wrongKey.stderr, /^3 answers 401: the gateway did not accept the signature\. Sign with one of the source's secrets: --secret KEY, or \$CIO_WEBHOOK_SECRET/m, 'a hint at the key')
  t.equal(text.stderr, '', 'no hint when every answer is 200')

  t.equal(unreachable.code, 1)
  t.match(unreachable.stdout, 'no answer: ECONNREFUSED')

  t.equal(usage.code, 2)
  t.match(usage.stderr, /^simulate needs --url/)
  t.equal(badCount.code, 2)
  t.match(badCount.stderr, /^--count must be an integer from 1 to 1000000/)

  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
})
