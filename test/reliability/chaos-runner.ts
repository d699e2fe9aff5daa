/**
 * The crash test: ingest and worker roles as separate processes on one Redis, a steady stream of
 * signed events (some duplicates), and kill -9 of a random process at random moments, each time
 * restarting it. Then: is every event answered 200 in both sinks? Used by chaos.test.ts (short, in
 * CI) and by `npm run test:chaos` (long).
 */
import { createServer, type Server } from 'node:http'
import { writeFileSync, mkdtempSync, rmSync, existsSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from 'undici'
import { BIN, cleanEnv, processYaml, startGateway, type Running } from '../helpers/process.js'
import { freePort } from '../helpers/private-redis.js'
import { deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

/** Kills every run makes at least, whatever its length: one of each role, then one more. */
const MIN_KILLS = 3

export interface ChaosOptions {
  /** How long the load and the kills go on. */
  seconds: number
  /** Events per second offered by the load generator. */
  rate: number
  /** Pause between two kills, ms, drawn uniformly from this range. */
  killEvery: [number, number]
  /** The Redis connection as a flow-mapping entry of `queue` (`redis_cluster: { nodes: [...] }`); REDIS_URL when absent. */
  redis?: string
  log?: (line: string) => void
}

export interface ChaosReport {
  sent: number
  acked: number
  duplicateSends: number
  kills: { ingest: number, worker: number }
  answers: Record<string, number>
  delivered: { file: number, webhook: number }
  duplicatesDelivered: { file: number, webhook: number }
  lost: { file: number, webhook: number }
  tornLines: number
  drainSeconds: number
}

export async function runChaos (options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {})
  const dir = mkdtempSync(join(tmpdir(), 'cio-chaos-'))
  const prefix = uniquePrefix('chaos')
  const received = new Map<string, number>()
  const receiver: Server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => { body += chunk.toString() })
    request.on('end', () => {
      try {
        const id = String((JSON.parse(body) as { event_id: unknown }).event_id)
        received.set(id, (received.get(id) ?? 0) + 1)
        response.writeHead(200).end()
      } catch {
        response.writeHead(400).end()
      }
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const receiverPort = (receiver.address() as { port: number }).port
  const configFile = join(dir, 'routes.yaml')
  const retry = '{ attempts: 50, initial_delay: 100ms, max_delay: 2s }'
  writeFileSync(configFile, processYaml({
    prefix,
    redis: options.redis,
    server: 'shutdown_grace: 5s',
    queue: 'lock_duration: 3s',
    localPath: `${dir}/events`,
    localBatch: '{ max_events: 200, max_wait: 100ms }',
    localRetry: retry,
    extraSinks: `  receiver:
    type: webhook
    url: "http://127.0.0.1:${receiverPort}/hook"
    allow_private_networks: true
    timeout: 5s
    batch: { max_events: 50, max_wait: 20ms }
    retry: ${retry}`,
    routes: '  - { name: everything, match: {}, sinks: [local, receiver] }'
  }))
  const ingestPort = await freePort()
  const start = async (role: 'ingest' | 'worker'): Promise<Running> =>
    await startGateway(process.execPath, [BIN, 'serve', '--role', role, '--config', configFile],
      cleanEnv({ PORT: String(role === 'ingest' ? ingestPort : await freePort()), LOG_LEVEL: 'warn' }))
  const processes = { ingest: await start('ingest'), worker: await start('worker') }
  const kills = { ingest: 0, worker: 0 }

  const dispatcher = new Agent({ connections: 32, connectTimeout: 2000, headersTimeout: 5000, bodyTimeout: 5000 })
  const acked = new Set<string>()
  const ackedBodies: string[] = []
  const answers: Record<string, number> = {}
  let sent = 0
  let duplicateSends = 0
  let stopping = false
  const note = (answer: string): void => { answers[answer] = (answers[answer] ?? 0) + 1 }

  // Like Customer.io, a request that did not get a 2xx is sent again until it does.
  const deliverOnce = async (body: string): Promise<void> => {
    for (let attempt = 0; attempt < 200; attempt++) {
      sent++
      try {
        const response = await fetch(`http://127.0.0.1:${ingestPort}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body), body, dispatcher } as RequestInit)
        const json = await response.json() as { status?: string }
        note(`${response.status}${json.status === undefined ? '' : ` ${json.status}`}`)
        if (response.status === 200) {
          const id = String((JSON.parse(body) as { event_id: string }).event_id)
          if (!acked.has(id)) { acked.add(id); ackedBodies.push(body) }
          return
        }
      } catch {
        note('connection error')
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  const concurrency = 8
  const perLoopIntervalMs = (1000 * concurrency) / options.rate
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopping) {
      const began = Date.now()
      if (ackedBodies.length > 0 && Math.random() < 0.05) {
        duplicateSends++
        await deliverOnce(ackedBodies[Math.floor(Math.random() * ackedBodies.length)] as string)
      } else {
        await deliverOnce(JSON.stringify(sampleEvent()))
      }
      const wait = perLoopIntervalMs - (Date.now() - began)
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
  })

  const killer = (async () => {
    const deadline = Date.now() + options.seconds * 1000
    // At least three kills (one of each role first) whatever the time: on a slow machine a process
    // restarted on a cluster took long enough to get ready that a 20 s run fitted only two.
    const enough = (): boolean => kills.ingest + kills.worker >= MIN_KILLS
    while (Date.now() < deadline || !enough()) {
      const [low, high] = options.killEvery
      await new Promise((resolve) => setTimeout(resolve, low + Math.random() * (high - low)))
      if (Date.now() >= deadline && enough()) break
      // The first two kills hit one of each role, so every run exercises both; then chance decides.
      const round = kills.ingest + kills.worker
      const role = round === 0 ? 'ingest' : round === 1 ? 'worker' : Math.random() < 0.5 ? 'ingest' : 'worker'
      processes[role].signal('SIGKILL')
      await processes[role].exited
      kills[role]++
      log(`kill -9 ${role} (#${kills[role]}) at ${acked.size} acked`)
      processes[role] = await start(role)
    }
  })()

  try {
    await killer
    stopping = true
    await Promise.all(loops)
    log(`load stopped: ${acked.size} acked; waiting for delivery`)
    const drainStarted = Date.now()
    let fileIds = new Map<string, number>()
    let torn = 0
    for (;;) {
      ({ ids: fileIds, torn } = readFileSink(join(dir, 'events')))
      const missing = [...acked].filter((id) => !fileIds.has(id) || !received.has(id)).length
      if (missing === 0 || Date.now() - drainStarted > 90_000) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const count = (ids: Map<string, number>): { delivered: number, duplicates: number, lost: number } => ({
      delivered: [...acked].filter((id) => ids.has(id)).length,
      duplicates: [...ids.values()].reduce((sum, n) => sum + n - 1, 0),
      lost: [...acked].filter((id) => !ids.has(id)).length
    })
    const file = count(fileIds)
    const webhook = count(received)
    return {
      sent,
      acked: acked.size,
      duplicateSends,
      kills,
      answers,
      delivered: { file: file.delivered, webhook: webhook.delivered },
      duplicatesDelivered: { file: file.duplicates, webhook: webhook.duplicates },
      lost: { file: file.lost, webhook: webhook.lost },
      tornLines: torn,
      drainSeconds: Math.round((Date.now() - drainStarted) / 100) / 10
    }
  } finally {
    stopping = true
    processes.ingest.signal('SIGKILL')
    processes.worker.signal('SIGKILL')
    await dispatcher.close()
    await new Promise((resolve) => receiver.close(resolve))
    if (options.redis === undefined) await deleteKeys(prefix)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Event ids in the file sink with how often each appears; lines that do not parse are counted as torn. */
function readFileSink (dir: string): { ids: Map<string, number>, torn: number } {
  const ids = new Map<string, number>()
  let torn = 0
  if (!existsSync(dir)) return { ids, torn }
  for (const day of readdirSync(dir)) {
    for (const file of readdirSync(join(dir, day))) {
      for (const line of readFileSync(join(dir, day, file), 'utf8').split('\n')) {
        if (line === '') continue
        try {
          const id = String((JSON.parse(line) as { event_id: unknown }).event_id)
          ids.set(id, (ids.get(id) ?? 0) + 1)
        } catch {
          torn++
        }
      }
    }
  }
  return { ids, torn }
}
