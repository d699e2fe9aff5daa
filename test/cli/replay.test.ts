/** `cio-gateway replay --sink NAME` against a running gateway's Redis queues (SPEC §9), and its refusals. */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cleanEnv, processYaml, runCli, startGateway } from '../helpers/process.js'
import { eventually, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { startReceiver, webhookSinkYaml, type Receiver } from '../helpers/receiver.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

const TOKEN = 'replay-test-admin-token-32-characters'

function writeConfig (dir: string, options: { redisUrl: string, prefix: string, receiver: Receiver }): string {
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, processYaml({
    redisUrl: options.redisUrl,
    prefix: options.prefix,
    adminToken: TOKEN,
    localPath: `${dir}/events`,
    localBatch: '{ max_events: 50, max_wait: 20ms }',
    extraSinks: webhookSinkYaml('hook', options.receiver),
    routes: '  - { name: everything, match: {}, sinks: [local, hook] }'
  }))
  return file
}

/** Dead letters of `sink`, from the admin API on the management listener at `management`. */
async function failedCount (management: string, sink: string): Promise<number> {
  const response = await fetch(`${management}/admin/queues`, { headers: { authorization: `Bearer ${TOKEN}` } })
  const body = await response.json() as { queues: Record<string, { failed: number }> }
  return body.queues[sink]?.failed ?? -1
}

t.test('replay re-queues a sink\'s dead letters and the running gateway delivers them', async (t) => {
  const dir = tempDir(t)
  const prefix = uniquePrefix('replay')
  t.teardown(async () => await deleteKeys(prefix))
  const receiver = await startReceiver(t, 400)
  const configFile = writeConfig(dir, { redisUrl: REDIS_URL, prefix, receiver })
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile], cleanEnv({ PORT: String(port) }))
  t.teardown(() => gateway.signal('SIGKILL'))

  const events = [sampleEvent(), sampleEvent({ metric: 'opened' }), sampleEvent({ object_type: 'sms', metric: 'sent' })]
  for (const event of events) {
    const body = JSON.stringify(event)
    const response = await fetch(`http://127.0.0.1:${port}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body), body })
    t.same(await response.json(), { status: 'accepted' })
  }
  await eventually(async () => await failedCount(gateway.management, 'hook') === 3 ? true : undefined, 15_000, 'three dead letters in hook')
  t.equal(receiver.delivered.length, 0)

  receiver.status = 200
  const result = await runCli(['replay', '--sink', 'hook', '--config', configFile], cleanEnv({}))
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout, `re-queued 3 dead-lettered events of sink 'hook' (redis ${new URL(REDIS_URL).hostname}:${new URL(REDIS_URL).port || '6379'}, prefix ${prefix})\n`)
  t.equal(result.stderr, '')
  await eventually(() => receiver.delivered.length >= 3 ? true : undefined, 15_000, 'the replayed events at the receiver')
  t.same(receiver.delivered.map((event) => event.event_id).sort(), events.map((event) => event.event_id).sort(), 'each delivered once')
  t.equal(await failedCount(gateway.management, 'hook'), 0)

  const again = await runCli(['replay', '--sink', 'hook'], cleanEnv({ CIO_GATEWAY_CONFIG: configFile }))
  t.equal(again.code, 0, '$CIO_GATEWAY_CONFIG names the file')
  t.match(again.stdout, /^re-queued 0 dead-lettered events of sink 'hook'/)

  const quarantine = await runCli(['replay', '--sink', '_quarantine', '--config', configFile], cleanEnv({}))
  t.equal(quarantine.code, 0)
  t.match(quarantine.stdout, /^re-queued 0 dead-lettered events of sink '_quarantine'/)
  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
})

t.test('replay refuses the embedded queue, unknown sinks, a missing --sink and an unreachable Redis', async (t) => {
  const dir = tempDir(t)
  const receiver = await startReceiver(t)
  const embedded = writeConfig(dir, { redisUrl: '', prefix: 'cio', receiver })
  const redisFile = writeConfig(tempDir(t), { redisUrl: REDIS_URL, prefix: uniquePrefix('replay'), receiver })
  const deadPort = await freePort()
  const unreachable = writeConfig(tempDir(t), { redisUrl: `redis://127.0.0.1:${deadPort}`, prefix: 'cio', receiver })
  const badConfig = join(dir, 'bad.yaml')
  writeFileSync(badConfig, 'sources: {}\n')

  // Independent processes: run at once. (An unreachable Redis is given up after 3 s of attempts; a hang would hit tap's timeout.)
  const [refused, unknown, missing, down, invalid] = await Promise.all([
    runCli(['replay', '--sink', 'hook', '--config', embedded], cleanEnv({})),
    runCli(['replay', '--sink', 'warehouse', '--config', redisFile], cleanEnv({})),
    runCli(['replay', '--config', redisFile], cleanEnv({})),
    runCli(['replay', '--sink', 'hook', '--config', unreachable], cleanEnv({})),
    runCli(['replay', '--sink', 'hook', '--config', badConfig], cleanEnv({}))
  ])

  t.equal(refused.code, 1, 'embedded queue')
  t.equal(refused.stdout, '')
  t.equal(refused.stderr, `replay needs a Redis queue, and ${embedded} configures none (queue.redis_url, redis_sentinel or redis_cluster): the embedded queue lives inside the running gateway.\n` +
    'Use its admin API instead: POST /admin/queues/hook/retry\n')

  t.equal(unknown.code, 1, 'unknown sink')
  t.equal(unknown.stderr, `sink 'warehouse' is not configured in ${redisFile} (configured: local, hook, _quarantine)\n`)

  t.equal(missing.code, 2, 'no --sink')
  t.match(missing.stderr, /^replay needs --sink NAME\n\nUsage:/)

  t.equal(down.code, 1, 'Redis unreachable')
  t.equal(down.stderr, `cio-gateway replay: cannot reach redis 127.0.0.1:${deadPort}: connect ECONNREFUSED 127.0.0.1:${deadPort}\n`)

  t.equal(invalid.code, 1, 'invalid config')
  t.match(invalid.stderr, `${badConfig}:`)
})
