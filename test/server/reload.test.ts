/**
 * Hot reload in one process (the file watch and SIGHUP of a running gateway are in reload-process.test.ts):
 * sinks added, changed and removed, sources and the admin token switched, and refusals that leave
 * the running configuration alone.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { parseConfig } from '../../src/config/load.js'
import type { GatewayConfig } from '../../src/config/types.js'
import { build, defaultYaml, eventually, readLines, sampleValue, type Built } from '../helpers/app.js'
import { REDIS_URL } from '../helpers/redis.js'
import { TEST_SECRET, sampleEvent, signedHeaders } from '../helpers/sign.js'
import { RequestStream, missingFromFileSink } from '../helpers/request-stream.js'
import { withAliasBomb } from '../helpers/alias-bomb.js'

function render (built: Built, yaml: string): string {
  return yaml.replaceAll('{{dir}}', built.dir).replaceAll('{{redis}}', REDIS_URL).replaceAll('{{prefix}}', built.prefix)
}

function configOf (built: Built, yaml: string): GatewayConfig {
  return parseConfig(render(built, yaml), 'reloaded.yaml', {})
}

async function send (app: FastifyInstance, event: Record<string, unknown> = sampleEvent(), options: { source?: string, secret?: string } = {}): Promise<{ status: number, body: unknown }> {
  const body = JSON.stringify(event)
  const response = await app.inject({ method: 'POST', url: `/webhooks/${options.source ?? 'customerio'}`, headers: signedHeaders(body, { secret: options.secret }), payload: body })
  return { status: response.statusCode, body: response.json() }
}

const ACCEPTED = { status: 200, body: { status: 'accepted' } }

const fileSink = (name: string, extra = 'batch: { max_events: 50, max_wait: 20ms }'): string => `
  ${name}:
    type: file
    path: "{{dir}}/${name}"
    ${extra}`

function captureLogs (): { write (line: string): void, lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  return { lines, write: (line) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
}

for (const redis of [true, false]) {
  const mode = redis ? 'redis' : 'embedded'

  t.test(`${mode}: under a stream of requests, a reload adding a sink and its route takes effect with no failed request`, async (t) => {
    const built = await build(t, { yaml: defaultYaml({ redis }) })
    const { app, dir, registry } = built
    const stream = new RequestStream(async (event) => await send(app, event))
    const { answers, sent: all, sentAfterSwitch: afterReload } = stream
    await eventually(() => answers.length >= 40 ? true : undefined, 10_000, 'a stream under way')
    const outcome = await app.configReloader.apply(configOf(built, defaultYaml({
      redis,
      extraSinks: fileSink('audit'),
      routes: '  - { name: everything, match: {}, sinks: [local] }\n  - { name: audit-all, match: {}, sinks: [audit] }'
    })))
    stream.markSwitched()
    t.same(outcome, { result: 'success', summary: { sinks: { added: ['audit'], changed: [], removed: [] }, sources: { added: [], removed: [] }, routes: 2 } })
    await eventually(() => afterReload.length >= 40 ? true : undefined, 10_000, 'requests after the reload')
    await stream.stop()

    t.ok(answers.length >= 80, `${answers.length} requests`)
    t.same(answers.filter((answer) => JSON.stringify(answer) !== JSON.stringify(ACCEPTED)), [], 'every request answered 200 accepted')
    const local = await eventually(() => { const lines = readLines(join(dir, 'events')); return lines.length >= all.length ? lines : undefined }, 15_000, 'every event in local')
    t.same(new Set(local.map((line) => line.event_id)), new Set(all), 'local has every event, before and after')
    await eventually(() => missingFromFileSink(join(dir, 'audit'), afterReload).length === 0 ? true : undefined, 15_000, 'events after the reload in audit').catch(() => undefined)
    t.same(missingFromFileSink(join(dir, 'audit'), afterReload), [], 'every event sent after the reload is in the new sink')
    t.equal(await sampleValue(registry, 'cio_gateway_config_reloads_total', { result: 'success' }), 1)
    t.equal(await sampleValue(registry, 'cio_gateway_config_reloads_total', { result: 'failure' }), 0)
  })

  t.test(`${mode}: a removed sink flushes its waiting batch before it stops`, async (t) => {
    const built = await build(t, {
      yaml: defaultYaml({
        redis,
        // A batch that would wait a minute: only the reload's flush can write it now.
        extraSinks: fileSink('slow', 'batch: { max_events: 1000, max_wait: 60s }'),
        routes: '  - { name: everything, match: {}, sinks: [local, slow] }'
      })
    })
    const { app, dir } = built
    const events = [sampleEvent(), sampleEvent(), sampleEvent()]
    for (const event of events) t.same(await send(app, event), ACCEPTED)
    await eventually(async () => (await app.queueBackend.counts('slow')).active === 3 ? true : undefined, 10_000, 'the three jobs held in the slow batch')
    t.same(readLines(join(dir, 'slow')), [], 'nothing written yet')

    const outcome = await app.configReloader.apply(configOf(built, defaultYaml({ redis })))
    t.match(outcome, { result: 'success', summary: { sinks: { removed: ['slow'] } } })
    t.same(readLines(join(dir, 'slow')).map((line) => line.event_id).sort(), events.map((event) => event.event_id).sort(), 'the batch was written when the reload resolved')
    t.match(await app.queueBackend.counts('slow'), { waiting: 0, active: 0, completed: 3 })

    const later = sampleEvent()
    t.same(await send(app, later), ACCEPTED)
    await eventually(() => readLines(join(dir, 'events')).some((line) => line.event_id === later.event_id) ? true : undefined)
    t.equal(readLines(join(dir, 'slow')).length, 3, 'the removed sink gets nothing more')
    t.equal((await app.queueBackend.counts('slow')).waiting, 0, 'and nothing is queued for it')
  })

  t.test(`${mode}: a changed sink restarts with its new options; no event is lost in between`, async (t) => {
    const built = await build(t, { yaml: defaultYaml({ redis }) })
    const { app, dir } = built
    const before = sampleEvent({ data: { recipient: 'before@example.com' } })
    t.same(await send(app, before), ACCEPTED)
    await eventually(() => readLines(join(dir, 'events')).length === 1 ? true : undefined)

    // Same sink name, new directory and a redaction.
    const changed = defaultYaml({ redis }).replace('path: "{{dir}}/events"', 'path: "{{dir}}/events-v2"\n    redact: [data.recipient]')
    const outcome = await app.configReloader.apply(configOf(built, changed))
    t.same(outcome, { result: 'success', summary: { sinks: { added: [], changed: ['local'], removed: [] }, sources: { added: [], removed: [] }, routes: 1 } })
    const after = sampleEvent({ data: { recipient: 'after@example.com' } })
    t.same(await send(app, after), ACCEPTED)
    const lines = await eventually(() => { const found = readLines(join(dir, 'events-v2')); return found.length === 1 ? found : undefined }, 10_000, 'the event in the new directory')
    t.equal(lines[0]?.event_id, after.event_id)
    t.match(lines[0]?.data, { recipient: /^[0-9a-f]{64}$/ }, 'redacted by the new options')
    t.same(readLines(join(dir, 'events')).map((line) => line.event_id), [before.event_id], 'the old directory kept only the earlier event')

    const reordered = changed.replace('type: file\n    path: "{{dir}}/events-v2"', 'path: "{{dir}}/events-v2"\n    type: file')
    t.not(reordered, changed)
    t.match(await app.configReloader.apply(configOf(built, reordered)), { result: 'success', summary: { sinks: { changed: [] } } }, 'the same options in another order are no change')
  })
}

t.test('sources, their secrets and the admin token switch with a reload', async (t) => {
  const built = await build(t, { yaml: `\nadmin: { token: "old-admin-token-with-32-characters" }\n${defaultYaml({ redis: true })}` })
  const { app } = built
  t.same(await send(app, sampleEvent(), { source: 'partner' }), { status: 404, body: { error: 'unknown_source', message: "source 'partner' is not configured" } })
  const admin = async (token: string): Promise<number> => (await app.management.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: `Bearer ${token}` } })).statusCode
  t.equal(await admin('old-admin-token-with-32-characters'), 200)

  const next = `\nadmin: { token: "new-admin-token-with-32-characters" }\n${defaultYaml({ redis: true })}`
    .replace(`customerio: { type: customerio, secrets: ["${TEST_SECRET}"] }`, 'customerio: { type: customerio, secrets: ["rotated-secret"] }\n  partner: { type: customerio, secrets: ["partner-secret"] }')
  const outcome = await app.configReloader.apply(configOf(built, next))
  t.match(outcome, { result: 'success', summary: { sources: { added: ['partner'], removed: [] } } })

  t.same(await send(app, sampleEvent(), { source: 'partner', secret: 'partner-secret' }), ACCEPTED, 'the new source is served')
  t.same(await send(app, sampleEvent(), { secret: 'rotated-secret' }), ACCEPTED, 'the rotated secret is accepted')
  t.same(await send(app, sampleEvent()), { status: 401, body: { error: 'invalid_signature', reason: 'bad_signature' } }, 'the old secret is not')
  t.equal(await admin('old-admin-token-with-32-characters'), 401)
  t.equal(await admin('new-admin-token-with-32-characters'), 200)

  const off = next.replace('admin: { token: "new-admin-token-with-32-characters" }', 'admin: { token: "" }')
  t.match(await app.configReloader.apply(configOf(built, off)), { result: 'success' })
  t.equal(await admin('new-admin-token-with-32-characters'), 404, 'an empty token turns the admin API off')
})

t.test('an invalid file leaves the old configuration running, logs every error and counts a failure', async (t) => {
  const logs = captureLogs()
  const built = await build(t, { yaml: defaultYaml({ redis: true }), logs })
  const { app, dir, registry } = built
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, render(built, defaultYaml({ redis: true, routes: '  - { name: everything, match: {}, sinks: [local, warehous] }\n  - { name: everything, match: {}, sinks: [local] }' }))
    .replace('dedupe: { window: 24h }', 'dedupe: { window: 24h, windw: 1h }'))
  const outcome = await app.configReloader.reloadFile(file, 'signal')
  t.equal(outcome.result, 'failure')
  const errors = outcome.result === 'failure' ? outcome.errors : []
  t.equal(errors.length, 3, 'every error at once, as check-config reports them')
  t.equal(errors[0], `${file}:6:24 dedupe.windw: unknown key (did you mean 'window'?)`)
  t.match(errors[1], new RegExp(`^${file}:\\d+:\\d+ routes\\[0\\]\\.sinks\\[1\\]: sink 'warehous' is not defined$`))
  t.match(errors[2], new RegExp(`^${file}:\\d+:\\d+ routes\\[1\\]\\.name: route name 'everything' is already used by routes\\[0\\]$`))

  writeFileSync(file, render(built, defaultYaml({ redis: true, routes: '  - { name: everything, match: {}, sinks: [local, warehous] }\n  - { name: everything, match: {}, sinks: [local] }' })))
  const second = await app.configReloader.reloadFile(file, 'signal')
  const refused = second.result === 'failure' ? second.errors : []
  t.equal(refused.length, 2, 'every reference error at once')
  t.match(refused[0], new RegExp(`^${file}:\\d+:\\d+ routes\\[0\\]\\.sinks\\[1\\]: sink 'warehous' is not defined$`))
  t.match(refused[1], new RegExp(`^${file}:\\d+:\\d+ routes\\[1\\]\\.name: route name 'everything' is already used by routes\\[0\\]$`))

  const logged = logs.lines.filter((line) => String(line.msg).startsWith('config reload refused: ')).map((line) => String(line.msg).slice('config reload refused: '.length))
  t.same(logged, [...errors, ...refused], 'one log line per error')
  t.equal(logs.lines.filter((line) => line.msg === 'config reload failed: still running the previous configuration').length, 2)
  t.equal(await sampleValue(registry, 'cio_gateway_config_reloads_total', { result: 'failure' }), 2)
  t.equal(await sampleValue(registry, 'cio_gateway_config_reloads_total', { result: 'success' }), 0)

  const event = sampleEvent()
  t.same(await send(app, event), ACCEPTED, 'still serving')
  await eventually(() => readLines(join(dir, 'events')).some((line) => line.event_id === event.event_id) ? true : undefined, 10_000, 'delivery on the old routes')

  const missing = await app.configReloader.reloadFile(join(dir, 'nope.yaml'), 'signal')
  t.match(missing, { result: 'failure', errors: [new RegExp(`^${dir}/nope.yaml: cannot read the configuration: ENOENT`)] })
})

t.test('a file the YAML parser refuses (an alias bomb) is a failed reload: the old configuration runs on', async (t) => {
  const logs = captureLogs()
  const built = await build(t, { yaml: defaultYaml({ redis: true }), logs })
  const { app, dir, registry } = built
  const running = app.configReloader.current
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, withAliasBomb(render(built, defaultYaml({ redis: true }))))
  for (const trigger of ['signal', 'file'] as const) {
    t.same(await app.configReloader.reloadFile(file, trigger), {
      result: 'failure',
      errors: [`${file}:1:1: the YAML parser refuses the file: its aliases expand to far more data than the file holds (an alias bomb)`]
    }, `a ${trigger} reload resolves to a failure rather than rejecting`)
    writeFileSync(file, withAliasBomb(render(built, defaultYaml({ redis: true }))) + `# ${trigger}\n`)
  }
  t.equal(app.configReloader.current, running, 'the running configuration is unchanged')
  t.equal(await sampleValue(registry, 'cio_gateway_config_reloads_total', { result: 'failure' }), 2)
  t.equal(logs.lines.filter((line) => line.msg === 'config reload failed: still running the previous configuration').length, 2)
  const event = sampleEvent()
  t.same(await send(app, event), ACCEPTED, 'still serving')
  await eventually(() => readLines(join(dir, 'events')).some((line) => line.event_id === event.event_id) ? true : undefined, 10_000, 'delivery on the old routes')
})

t.test('settings bound at start are refused as a whole, naming each and never its value', async (t) => {
  const logs = captureLogs()
  const built = await build(t, { yaml: defaultYaml({ redis: true }), logs })
  const { app, registry } = built
  const next = defaultYaml({ redis: true, extraSinks: fileSink('audit') })
    .replace('server: { body_limit: 64kb }', 'server: { body_limit: 64kb, port: 9999 }')
    .replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}-new"\n  lock_duration: 10s\n  high_water_mark: 5')
  const outcome = await app.configReloader.apply(configOf(built, next))
  t.same(outcome, {
    result: 'failure',
    errors: ['server.port', 'queue.prefix', 'queue.lock_duration'].map((setting) => `reloaded.yaml: ${setting} changed, but it applies only at start: restart the process to change it`)
  }, 'high_water_mark applies live, so it is not named')
  t.notOk(JSON.stringify(logs.lines).includes('-new'), 'no value in the logs')
  t.equal(await sampleValue(registry, 'cio_gateway_config_reloads_total', { result: 'failure' }), 1)
  t.same([...app.configReloader.current.sinks.keys()], ['local'], 'the audit sink of the refused file did not start')
})

t.test('a sink that cannot start fails the reload with nothing switched', async (t) => {
  const built = await build(t, { yaml: defaultYaml({ redis: true }) })
  const { app, dir, registry } = built
  writeFileSync(join(dir, 'a-file'), 'not a directory')
  const outcome = await app.configReloader.apply(configOf(built, defaultYaml({
    redis: true,
    extraSinks: `${fileSink('good')}\n  broken:\n    type: file\n    path: "{{dir}}/a-file/events"`,
    routes: '  - { name: everything, match: {}, sinks: [local, good, broken] }'
  })))
  t.match(outcome, { result: 'failure', errors: [/^reloaded\.yaml: sink 'broken' cannot start: .*ENOTDIR/] })
  t.equal(await sampleValue(registry, 'cio_gateway_config_reloads_total', { result: 'failure' }), 1)
  t.same([...app.configReloader.current.sinks.keys()], ['local'])
  t.same([...(app.sinkWorkers?.runtimes.keys() ?? [])], ['local'], 'the sink started for the refused file was closed again')
  const event = sampleEvent()
  t.same(await send(app, event), ACCEPTED)
  await eventually(() => readLines(join(dir, 'events')).length === 1 ? true : undefined)
  t.equal((await app.queueBackend.counts('good')).waiting, 0, 'nothing routed to the sinks of the refused file')
})

t.test('in the ingest role only routing switches: events for a new sink wait in its queue for a worker', async (t) => {
  const built = await build(t, { yaml: defaultYaml({ redis: true }), role: 'ingest' })
  const { app } = built
  t.equal(app.sinkWorkers, undefined)
  const outcome = await app.configReloader.apply(configOf(built, defaultYaml({ redis: true, extraSinks: fileSink('audit'), routes: '  - { name: everything, match: {}, sinks: [local, audit] }' })))
  t.match(outcome, { result: 'success', summary: { sinks: { added: ['audit'] } } })
  const deadLettered = await built.registry.getSingleMetric('cio_gateway_sink_events_dead_lettered_total')?.get()
  t.ok(deadLettered?.values.some((value) => value.labels.sink === 'audit' && value.value === 0), 'the new sink\'s counters start at 0, as at start')
  t.same(await send(app), ACCEPTED)
  t.match(await app.queueBackend.counts('audit'), { waiting: 1 })
})

t.test('reloads run one at a time, and none after close', async (t) => {
  const built = await build(t, { yaml: defaultYaml({ redis: false }) })
  const { app } = built
  const next = (n: number): GatewayConfig => configOf(built, defaultYaml({ redis: false, extraSinks: fileSink(`s${n}`), routes: `  - { name: everything, match: {}, sinks: [local, s${n}] }` }))
  const outcomes = await Promise.all([1, 2, 3].map(async (n) => await app.configReloader.apply(next(n))))
  t.same(outcomes.map((outcome) => outcome.result === 'success' ? outcome.summary.sinks : undefined), [
    { added: ['s1'], changed: [], removed: [] },
    { added: ['s2'], changed: [], removed: ['s1'] },
    { added: ['s3'], changed: [], removed: ['s2'] }
  ], 'each saw the one before it complete')
  await app.close()
  t.same(await app.configReloader.apply(next(4)), { result: 'skipped' })
})

t.test('a removed sink\'s backlog, which nothing drains any more, no longer holds ingest above the high-water mark', async (t) => {
  const withMark = (yaml: string): string => yaml.replace('prefix: "{{prefix}}"', 'prefix: "{{prefix}}"\n  high_water_mark: 10')
  const built = await build(t, {
    role: 'ingest',
    yaml: withMark(defaultYaml({ redis: true, extraSinks: fileSink('old'), routes: '  - { name: everything, match: {}, sinks: [old] }' }))
  })
  const { app } = built
  // The backlog is read once a second: send until the mark refuses.
  const refused = await eventually(async () => {
    const answer = await send(app)
    return answer.status === 503 ? answer : undefined
  }, 15_000, 'a 503 above the high-water mark')
  t.match(refused.body, { reason: 'high_water_mark' })
  const outcome = await app.configReloader.apply(configOf(built, withMark(defaultYaml({ redis: true }))))
  t.match(outcome, { result: 'success', summary: { sinks: { removed: ['old'] } } })
  t.ok((await app.queueBackend.counts('old')).waiting >= 10, 'the removed sink\'s jobs stay in its queue')
  const accepted = await eventually(async () => {
    const answer = await send(app)
    return answer.status === 200 ? answer : undefined
  }, 15_000, 'ingest to accept again')
  t.same(accepted, ACCEPTED, 'the mark counts the sinks configured now')
})
