/**
 * Hot reload of a running gateway process: the config file replaced under a steady stream of
 * requests, a broken file, SIGHUP, and a Kubernetes ConfigMap update (a `..data` symlink swap).
 */
import t from 'tap'
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cleanEnv, processYaml, startGateway, type Running } from '../helpers/process.js'
import { eventually, readLines, tempDir, type Teardownable } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { RequestStream, missingFromFileSink } from '../helpers/request-stream.js'
import { withAliasBomb } from '../helpers/alias-bomb.js'

interface Options { prefix: string, data: string, audit?: boolean }

function routesYaml ({ prefix, data, audit = false }: Options): string {
  const batch = '{ max_events: 100, max_wait: 20ms }'
  return processYaml({
    prefix,
    localPath: `${data}/local`,
    localBatch: batch,
    ...(audit
      ? {
          extraSinks: `  audit:\n    type: file\n    path: "${data}/audit"\n    batch: ${batch}`,
          routes: '  - { name: everything, match: {}, sinks: [local] }\n  - { name: audit-all, match: {}, sinks: [audit] }'
        }
      : {})
  })
}

/** Replaces a file the way editors and config management do: a new file renamed over the old. */
function replaceFile (file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text)
  renameSync(`${file}.tmp`, file)
}

/** The reload counter, read from /metrics on the management listener at `management`. */
async function reloads (management: string, result: 'success' | 'failure'): Promise<number> {
  const text = await (await fetch(`${management}/metrics`)).text()
  const match = new RegExp(`^cio_gateway_config_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)
  return match === null ? 0 : Number(match[1])
}

async function send (port: number, event = sampleEvent()): Promise<string> {
  const body = JSON.stringify(event)
  try {
    const response = await fetch(`http://127.0.0.1:${port}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body), body })
    return `${response.status} ${JSON.stringify(await response.json())}`
  } catch (error) {
    return `request failed: ${(error as Error).message}`
  }
}

async function start (t: Teardownable, configFile: string): Promise<{ gateway: Running, port: number }> {
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile], cleanEnv({ PORT: String(port) }))
  t.teardown(() => gateway.signal('SIGKILL'))
  return { gateway, port }
}

const ACCEPTED = '200 {"status":"accepted"}'

t.test('a running gateway picks up a replaced routes.yaml under a steady stream of requests, refuses a broken one, and reloads on SIGHUP', async (t) => {
  const configDir = tempDir(t)
  const data = tempDir(t)
  const prefix = uniquePrefix('reload')
  t.teardown(async () => await deleteKeys(prefix))
  const configFile = join(configDir, 'routes.yaml')
  writeFileSync(configFile, routesYaml({ prefix, data }))
  const { gateway, port } = await start(t, configFile)

  const stream = new RequestStream(async (event) => await send(port, event))
  const { answers, sent: all, sentAfterSwitch: afterReload } = stream
  await eventually(() => answers.length >= 50 ? true : undefined, 30_000, 'a stream under way')
  replaceFile(configFile, routesYaml({ prefix, data, audit: true }))
  await eventually(async () => await reloads(gateway.management, 'success') === 1 ? true : undefined, 15_000, 'the reload')
  stream.markSwitched()
  await eventually(() => afterReload.length >= 50 ? true : undefined, 30_000, 'requests after the reload')
  await stream.stop()

  t.same(answers.filter((answer) => answer !== ACCEPTED), [], `all ${answers.length} requests answered 200 accepted`)
  t.equal(await reloads(gateway.management, 'failure'), 0, 'no failed reload on the way')
  const local = await eventually(() => { const lines = readLines(join(data, 'local')); return lines.length >= all.length ? lines : undefined }, 20_000, 'every event in local')
  t.same(new Set(local.map((line) => line.event_id)), new Set(all), 'local has every event')
  await eventually(() => missingFromFileSink(join(data, 'audit'), afterReload).length === 0 ? true : undefined, 20_000, 'the new sink filling').catch(() => undefined)
  t.same(missingFromFileSink(join(data, 'audit'), afterReload), [], `the ${afterReload.length} events sent after the reload are in the new sink`)
  t.match(gateway.output(), /"msg":"configuration reloaded"/)

  // Broken in place (no rename): two errors, both logged; the running configuration stays.
  writeFileSync(configFile, routesYaml({ prefix, data, audit: true }).replace('sinks: [audit]', 'sinks: [audti]').replace('max_events: 100', 'max_events: lots'))
  await eventually(async () => await reloads(gateway.management, 'failure') === 1 ? true : undefined, 15_000, 'the refused reload')
  // The log reaches this process through a pipe, which may trail the /metrics answer.
  await eventually(() => gateway.output().includes('still running the previous configuration') ? true : undefined, 5_000, 'the reload failure in the log')
  t.match(gateway.output(), `config reload refused: ${configFile}:`)
  t.match(gateway.output(), 'sinks.local.batch.max_events: must be an integer (got a string of 4 characters)')
  t.match(gateway.output(), "routes[1].sinks[0]: sink 'audti' is not defined", 'every error in one reload')
  t.match(gateway.output(), /"msg":"config reload failed: still running the previous configuration"/)
  const event = sampleEvent()
  t.equal(await send(port, event), ACCEPTED, 'still serving')
  await eventually(() => readLines(join(data, 'audit')).some((line) => line.event_id === event.event_id) ? true : undefined, 15_000, 'the event in audit: the previous configuration still runs')

  // A file the YAML parser refuses (an alias bomb): a failed reload too, and the process lives on.
  writeFileSync(configFile, withAliasBomb(routesYaml({ prefix, data, audit: true })))
  await eventually(async () => await reloads(gateway.management, 'failure') === 2 ? true : undefined, 15_000, 'the alias bomb refused')
  await eventually(() => gateway.output().includes('its aliases expand to far more data than the file holds') ? true : undefined, 5_000, 'the refusal in the log')
  t.equal(gateway.child.exitCode, null, 'the gateway still runs')
  t.equal(await send(port), ACCEPTED, 'and serves')

  // SIGHUP reloads even an unchanged file: the broken one fails again, a good one applies.
  gateway.signal('SIGHUP')
  await eventually(async () => await reloads(gateway.management, 'failure') === 3 ? true : undefined, 15_000, 'SIGHUP with the refused file')
  replaceFile(configFile, routesYaml({ prefix, data }))
  await eventually(async () => await reloads(gateway.management, 'success') === 2 ? true : undefined, 15_000, 'the audit sink removed')
  gateway.signal('SIGHUP')
  await eventually(async () => await reloads(gateway.management, 'success') === 3 ? true : undefined, 15_000, 'SIGHUP with an unchanged good file')
  t.equal(gateway.child.exitCode, null, 'SIGHUP does not stop the gateway')
  const last = sampleEvent()
  t.equal(await send(port, last), ACCEPTED)
  await eventually(() => readLines(join(data, 'local')).some((line) => line.event_id === last.event_id) ? true : undefined, 15_000, 'delivery after the reloads')
  t.notOk(readLines(join(data, 'audit')).some((line) => line.event_id === last.event_id), 'the removed sink gets no more events')

  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0, 'SIGTERM still shuts down cleanly')
})

t.test('a Kubernetes ConfigMap update (a ..data symlink swap) is picked up', async (t) => {
  const configDir = tempDir(t)
  const data = tempDir(t)
  const prefix = uniquePrefix('reload-cm')
  t.teardown(async () => await deleteKeys(prefix))
  // The layout the kubelet writes: <dir>/..<timestamp>/routes.yaml, ..data → ..<timestamp>, routes.yaml → ..data/routes.yaml.
  mkdirSync(join(configDir, '..2026_01_01_00_00_00.000000001'))
  writeFileSync(join(configDir, '..2026_01_01_00_00_00.000000001', 'routes.yaml'), routesYaml({ prefix, data }))
  symlinkSync('..2026_01_01_00_00_00.000000001', join(configDir, '..data'))
  symlinkSync('..data/routes.yaml', join(configDir, 'routes.yaml'))
  const { gateway, port } = await start(t, join(configDir, 'routes.yaml'))
  t.equal(await send(port), ACCEPTED)

  mkdirSync(join(configDir, '..2026_01_01_00_01_00.000000002'))
  writeFileSync(join(configDir, '..2026_01_01_00_01_00.000000002', 'routes.yaml'), routesYaml({ prefix, data, audit: true }))
  symlinkSync('..2026_01_01_00_01_00.000000002', join(configDir, '..data_tmp'))
  renameSync(join(configDir, '..data_tmp'), join(configDir, '..data'))
  rmSync(join(configDir, '..2026_01_01_00_00_00.000000001'), { recursive: true })

  await eventually(async () => await reloads(gateway.management, 'success') === 1 ? true : undefined, 15_000, 'the reload after the swap')
  const event = sampleEvent()
  t.equal(await send(port, event), ACCEPTED)
  await eventually(() => readLines(join(data, 'audit')).some((line) => line.event_id === event.event_id) ? true : undefined, 15_000, 'the event in the new sink')
  t.equal(await reloads(gateway.management, 'failure'), 0)
  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
})
