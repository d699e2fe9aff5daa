/**
 * `cio-gateway serve` as a process (SPEC §3, §9): its two listeners on port 0, one log line per
 * listener, only JSON on stdout (the banner goes to stderr), and what each listener serves.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { BIN, cleanEnv, processYaml, runCli, startGateway, type Running } from '../helpers/process.js'
import { tempDir, type Teardownable } from '../helpers/app.js'
import { deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

async function start (t: Teardownable, role: 'all' | 'worker'): Promise<Running> {
  const dir = tempDir(t)
  const prefix = uniquePrefix('startup')
  t.teardown(async () => await deleteKeys(prefix))
  const configFile = join(dir, 'routes.yaml')
  writeFileSync(configFile, processYaml({ prefix, server: 'port: 0, management_port: 0', localPath: `${dir}/events`, localBatch: '{ max_events: 10, max_wait: 20ms }' }))
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--role', role, '--config', configFile], cleanEnv({}))
  t.teardown(() => gateway.signal('SIGKILL'))
  return gateway
}

/** Every stdout line parsed; a line that is not JSON fails the test. */
function jsonLines (t: Teardownable & { fail: (message: string) => void }, stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((line) => line !== '').map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      t.fail(`stdout line is not JSON: ${line}`)
      return {}
    }
  })
}

const portOf = (url: string | undefined): number => Number(new URL(url ?? 'http://x:0').port)

t.test('role all: both listeners on port 0, one log line each, JSON only on stdout, the banner on stderr', async (t) => {
  const gateway = await start(t, 'all')
  const webhooks = gateway.webhooks as string
  t.match(webhooks, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.match(gateway.management, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(portOf(webhooks), 0, 'the webhook port the system chose')
  t.not(portOf(gateway.management), portOf(webhooks), 'the management listener has its own port')
  t.match(gateway.stderr(), /^cio-gateway listening on http:\/\/127\.0\.0\.1:\d+ \(role: all\)$/m)

  const body = JSON.stringify(sampleEvent())
  const accepted = await fetch(`${webhooks}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body), body })
  t.same([accepted.status, await accepted.json()], [200, { status: 'accepted' }])
  for (const path of ['/metrics', '/admin/queues']) {
    const response = await fetch(`${webhooks}${path}`)
    t.same([response.status, await response.json()], [404, { error: 'not_found' }], `no ${path} on the webhook listener`)
  }
  const metrics = await fetch(`${gateway.management}/metrics`)
  t.equal(metrics.status, 200)
  t.match(await metrics.text(), /^cio_gateway_events_received_total\{source="customerio",object_type="email",metric="delivered"\} 1$/m)
  const webhookOnManagement = await fetch(`${gateway.management}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body), body })
  t.same([webhookOnManagement.status, await webhookOnManagement.json()], [404, { error: 'not_found' }], 'no webhooks on the management listener')

  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
  const lines = jsonLines(t, gateway.stdout())
  t.ok(lines.length >= 4, `${lines.length} JSON lines on stdout`)
  const opened = lines.filter((line) => typeof line.listener === 'string' && String(line.msg).includes('listener open'))
  t.match(opened, [
    { level: 30, listener: 'webhooks', address: '127.0.0.1', port: portOf(webhooks), serves: 'POST /webhooks/<source>, /healthz, /readyz', msg: `webhooks listener open on 127.0.0.1:${portOf(webhooks)}` },
    { level: 30, listener: 'management', address: '127.0.0.1', port: portOf(gateway.management), serves: '/metrics, /admin/*, /healthz, /readyz', msg: `management listener open on 127.0.0.1:${portOf(gateway.management)}` }
  ], 'one line per listener, webhooks first')
  t.equal(opened.length, 2)
  const twice = gateway.stdout().split('\n').filter((line) => line.includes('listener open') && line.split('"listener":').length > 2)
  t.same(twice, [], 'each line names its listener once (JSON with a repeated key is read differently by each log tool)')
  t.notOk(lines.some((line) => String(line.msg).startsWith('Server listening')), "none of Fastify's per-interface lines")
  t.notMatch(gateway.stdout(), 'cio-gateway listening on', 'the banner is not on stdout')
})

t.test('role worker: only the management listener, serving /healthz, /readyz and /metrics', async (t) => {
  const gateway = await start(t, 'worker')
  t.equal(gateway.webhooks, undefined)
  t.match(gateway.stderr(), `cio-gateway listening on ${gateway.management} (role: worker)\n  webhooks: not served in role worker\n`)
  for (const path of ['/healthz', '/readyz', '/metrics']) t.equal((await fetch(`${gateway.management}${path}`)).status, 200, path)
  t.match(await (await fetch(`${gateway.management}/readyz`)).json(), { status: 'ready', role: 'worker' })
  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
  const opened = jsonLines(t, gateway.stdout()).filter((line) => String(line.msg).includes('listener open'))
  t.match(opened, [{ listener: 'management' }])
  t.equal(opened.length, 1)
})

t.test('a management port already taken: the gateway names the listener, closes what it opened and exits 1', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const port = (taken.address() as { port: number }).port
  const dir = tempDir(t)
  const configFile = join(dir, 'routes.yaml')
  writeFileSync(configFile, processYaml({ prefix: uniquePrefix('startup'), server: 'port: 0', localPath: `${dir}/events`, localBatch: '{ max_events: 10, max_wait: 20ms }', redisUrl: '' }))
  const run = await runCli(['serve', '--config', configFile], cleanEnv({ MANAGEMENT_PORT: String(port) }))
  t.equal(run.code, 1)
  t.match(run.stderr, `cio-gateway: the management listener cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`)
  t.notMatch(run.stderr, 'cio-gateway listening on', 'no banner')
})
