/** The real CLI as a child process: npm start on the embedded default and on BullMQ, check-config. */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { cleanEnv, runCli, startGateway } from '../helpers/process.js'
import { eventually, readLines, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { USAGE } from '../../src/command-line.js'

// The default routes.yaml's development signing key, used when CIO_WEBHOOK_SECRET is unset.
const DEV_KEY = 'dev-signing-key'

async function sendSigned (port: number, event: Record<string, unknown>): Promise<{ status: number, body: unknown }> {
  const body = JSON.stringify(event)
  const response = await fetch(`http://127.0.0.1:${port}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body, { secret: DEV_KEY }), body })
  return { status: response.status, body: await response.json() }
}

t.test('npm start with no configuration starts on the embedded default and delivers to the file sink', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  // Only the port and the data directory are set, so the test neither collides nor writes into the repo.
  const gateway = await startGateway('npm', ['start', '--silent'], cleanEnv({ PORT: String(port), CIO_GATEWAY_DATA_DIR: dir }))
  t.teardown(() => { gateway.signal('SIGKILL') })
  t.match(gateway.output(), /queue: EMBEDDED in memory/)
  const event = sampleEvent()
  t.same(await sendSigned(port, event), { status: 200, body: { status: 'accepted' } })
  const lines = await eventually(() => { const found = readLines(dir); return found.length > 0 ? found : undefined })
  t.equal(lines[0]?.event_id, event.event_id)
  const ready = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json() as { queue: string, warnings: string[] }
  t.equal(ready.queue, 'embedded')
  t.match(ready.warnings, [/in memory only/])
  gateway.signal('SIGTERM')
  await gateway.exited
  await eventually(() => gateway.output().includes('shutdown complete') ? true : undefined, 5000, 'a clean shutdown')
  t.pass('shut down cleanly on SIGTERM')
})

t.test('with REDIS_URL set, npm start uses BullMQ', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  const prefix = uniquePrefix('cli')
  t.teardown(async () => await deleteKeys(prefix))
  const gateway = await startGateway('npm', ['start', '--silent'], cleanEnv({ PORT: String(port), CIO_GATEWAY_DATA_DIR: dir, REDIS_URL, CIO_GATEWAY_PREFIX: prefix }))
  t.teardown(() => { gateway.signal('SIGKILL') })
  t.match(gateway.output(), `queue: redis ${new URL(REDIS_URL).host} (prefix ${prefix})`)
  const event = sampleEvent()
  t.same(await sendSigned(port, event), { status: 200, body: { status: 'accepted' } })
  await eventually(() => readLines(dir).length > 0 ? true : undefined)
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  t.equal(await redis.exists(`${prefix}:_dedupe:customerio:${String(event.event_id)}`), 1, 'the dedupe mark is in Redis')
  t.ok(Number(await redis.get(`${prefix}:local:id`) ?? 0) >= 0 && (await redis.exists(`${prefix}:local:meta`)) === 1, 'the BullMQ queue exists')
  gateway.signal('SIGTERM')
  await gateway.exited
})

t.test('check-config: exit 0 on a valid file, 1 with every error on an invalid one', async (t) => {
  const dir = tempDir(t)
  const good = join(dir, 'good.yaml')
  const bad = join(dir, 'bad.yaml')
  writeFileSync(good, 'sources:\n  customerio: { type: customerio, secrets: [k] }\nsinks:\n  local: { type: file, path: x }\nroutes:\n  - { name: all, match: {}, sinks: [local] }\n')
  writeFileSync(bad, 'sources:\n  customerio: { type: customerio, secrets: [k], tolerence: 1h }\nsinks:\n  local: { type: file, path: x }\nroutes:\n  - { name: all, match: {}, sinks: [locl] }\n')
  const ok = await runCli(['check-config', '--config', good], cleanEnv({}))
  t.equal(ok.code, 0)
  t.match(ok.stdout, 'ok (1 sources, 1 sinks, 1 routes)')
  const failed = await runCli(['check-config', '--config', bad], cleanEnv({}))
  t.equal(failed.code, 1)
  t.equal(failed.stderr, `${bad}:2:49 sources.customerio.tolerence: unknown key (did you mean 'tolerance'?)\n${bad}:6:37 routes[0].sinks[0]: sink 'locl' is not defined\n`)
  const env = await runCli(['check-config'], cleanEnv({ CIO_GATEWAY_CONFIG: bad }))
  t.equal(env.code, 1, '$CIO_GATEWAY_CONFIG names the file')
  const missing = await runCli(['check-config', '--config', join(dir, 'nope.yaml')], cleanEnv({}))
  t.equal(missing.code, 1)
  t.match(missing.stderr, 'cannot read the configuration: file not found')
})

t.test('the default routes.yaml on every interface (HOST=0.0.0.0) refuses to start with the public development key', async (t) => {
  const result = await runCli(['serve'], cleanEnv({ HOST: '0.0.0.0', PORT: String(await freePort()) }))
  t.equal(result.code, 1)
  t.match(result.stderr, /^routes\.yaml:\d+:\d+ sources\.customerio\.secrets\[0\]: is the public development key, accepted only while the webhook listener is on a loopback address/)
})

t.test('serve refuses an unknown role, from --role or $CIO_GATEWAY_ROLE', async (t) => {
  const [flag, env] = await Promise.all([
    runCli(['serve', '--role', 'both'], cleanEnv({})),
    runCli(['serve'], cleanEnv({ CIO_GATEWAY_ROLE: 'both' }))
  ])
  t.same({ code: flag.code, stdout: flag.stdout, stderr: flag.stderr }, { code: 2, stdout: '', stderr: `unknown role 'both' (known: all, ingest, worker)\n\n${USAGE}\n` })
  t.same({ code: env.code, stderr: env.stderr }, { code: 2, stderr: `unknown role 'both' in $CIO_GATEWAY_ROLE (known: all, ingest, worker)\n\n${USAGE}\n` })
})

t.test('as a CI gate, check-config never validates another file than the one named: stray arguments and unknown options exit 2', async (t) => {
  const dir = tempDir(t)
  const bad = join(dir, 'other.yaml')
  writeFileSync(bad, 'sources: {}\n')
  const lines = [['check-config', bad], ['check-config', '--confg', bad], ['check-config', '--config'], ['check-config', '--config', bad, '--role', 'worker']]
  const results = await Promise.all(lines.map(async (argv) => await runCli(argv, cleanEnv({}))))
  t.same(results.map((result) => ({ code: result.code, stdout: result.stdout, firstLine: result.stderr.split('\n')[0] })), [
    { code: 2, stdout: '', firstLine: `unexpected argument '${bad}' (did you mean --config ${bad}?): check-config takes options only` },
    { code: 2, stdout: '', firstLine: 'unknown option --confg for check-config (did you mean --config?); check-config takes --config' },
    { code: 2, stdout: '', firstLine: '--config needs a value' },
    { code: 2, stdout: '', firstLine: 'unknown option --role for check-config; check-config takes --config' }
  ])
  for (const result of results) t.ok(result.stderr.endsWith(`\n\n${USAGE}\n`), 'with the usage')
  const help = await runCli(['check-config', '--help'], cleanEnv({}))
  t.same({ code: help.code, stdout: help.stdout, stderr: help.stderr }, { code: 0, stdout: `${USAGE}\n`, stderr: '' })
})
