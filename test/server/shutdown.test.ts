/** SIGTERM while requests are in flight: every request answered 200 is delivered (SPEC §5). */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cleanEnv, processYaml, startGateway } from '../helpers/process.js'
import { eventually, readLines, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

t.test('SIGTERM under load: exit 0, and every acked event is delivered', async (t) => {
  const dir = tempDir(t)
  const prefix = uniquePrefix('shutdown')
  t.teardown(async () => await deleteKeys(prefix))
  const configFile = join(dir, 'routes.yaml')
  writeFileSync(configFile, processYaml({
    prefix,
    server: 'shutdown_grace: 10s',
    localPath: `${dir}/events`,
    // Slow batches, so that some are pending when the signal comes.
    localBatch: '{ max_events: 1000, max_wait: 300ms }',
    routes: '  - { name: all, match: {}, sinks: [local] }'
  }))
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile], cleanEnv({ PORT: String(port) }))
  t.teardown(() => gateway.signal('SIGKILL'))

  const acked: string[] = []
  const outcomes: Record<string, number> = {}
  let answered = 0
  const send = async (): Promise<void> => {
    const event = sampleEvent()
    const body = JSON.stringify(event)
    let outcome: string
    try {
      const response = await fetch(`http://127.0.0.1:${port}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body), body })
      const json = await response.json() as { status?: string }
      outcome = `${response.status}${json.status === undefined ? '' : ` ${json.status}`}`
      if (response.status === 200 && json.status === 'accepted') acked.push(String(event.event_id))
    } catch {
      outcome = 'connection error'
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    answered++
  }
  const clients = Array.from({ length: 20 }, async () => {
    for (let i = 0; i < 25; i++) {
      await send()
      if (answered === 150) gateway.signal('SIGTERM')
    }
  })
  await Promise.all(clients)
  const code = await gateway.exited
  t.equal(code, 0, 'the gateway exits 0')
  t.ok(acked.length >= 150, `${acked.length} events acked before and during shutdown`)
  t.ok(Object.keys(outcomes).every((outcome) => ['200 accepted', '503', 'connection error'].includes(outcome)), `outcomes: ${JSON.stringify(outcomes)}`)
  const deliveredBeforeRestart = readLines(join(dir, 'events')).length
  t.comment(`sent 500: ${JSON.stringify(outcomes)}; delivered before restart: ${deliveredBeforeRestart}`)

  // What was acked but not yet delivered waits in Redis; a worker started again delivers it.
  const worker = await startGateway(process.execPath, [BIN, 'serve', '--role', 'worker', '--config', configFile], cleanEnv({ PORT: String(await freePort()) }))
  t.teardown(() => worker.signal('SIGKILL'))
  const delivered = await eventually(() => {
    const ids = new Set(readLines(join(dir, 'events')).map((line) => String(line.event_id)))
    return acked.every((id) => ids.has(id)) ? ids : undefined
  }, 20_000, 'every acked event in the file sink')
  t.equal(acked.filter((id) => !delivered.has(id)).length, 0, 'no acked event is lost')
  worker.signal('SIGTERM')
  t.equal(await worker.exited, 0)
})
