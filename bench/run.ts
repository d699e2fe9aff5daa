/**
 * `npm run bench`: the gateway measured beside a naive baseline in the same run, over loopback.
 *
 *   1. ingest: the gateway (role ingest, dedupe, two sinks routed) and the baseline (bare Fastify,
 *      HMAC check, one BullMQ add per request), each at a fixed concurrency as fast as it answers,
 *      then each at half its own maximum rate for latency;
 *   2. end to end: an ingest and a worker process delivering into a local BigQuery stand-in with
 *      500-row batches: events/s delivered and the receipt-to-delivery lag;
 *   3. memory: resident set size of every process measured;
 *   4. Redis Cluster: ingest on a 3-master cluster beside one node (bench/cluster.ts);
 *   5. Data Pipelines: batches of 100 events beside single reporting webhooks, one gateway serving
 *      both sources (bench/pipelines.ts): events/s accepted and CPU per event of each path.
 *
 * Options: --seconds N (per measured run, default 10), --connections N (default 50),
 * --e2e-rate N (requests/s offered in scenario 2's sustained phase; default: as fast as ingest answers),
 * --only 1|2|cluster|pipelines (one scenario; `cluster` is scenario 4, bench/cluster.ts; `pipelines` is
 * scenario 5, bench/pipelines.ts),
 * --profile (run the gateways of scenarios 1, 2 and 5 under --cpu-prof and print their top self-time functions),
 * --compare DIR (also run the gateway of another built checkout in scenario 1, for before/after;
 * --compare-node-args="ARGS" starts it with these Node options, e.g. --compare .
 * --compare-node-args="--max-semi-space-size=8" to weigh a V8 setting),
 * --worker-node-args="ARGS" (Node options of scenario 2's worker, e.g. the Helm chart's
 * --max-old-space-size=256),
 * --json FILE (write every figure).
 */
import { randomBytes } from 'node:crypto'
import { cpus, loadavg, availableParallelism, tmpdir } from 'node:os'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { EventSource } from './events.js'
import { BenchProcess } from './processes.js'
import { deleteKeys, findRedis, redisCpuSeconds, waitingEvents, type BenchRedis } from './redis.js'
import { runAlternating, runLoad, type LoadResult } from './load.js'
import { startBigQueryTarget } from './bigquery-fake.js'
import { formatTop, topSelfTime } from './profile.js'
import { clusterScenario, type ClusterFigures } from './cluster.js'
import { pipelinesScenario, type PipelinesFigures } from './pipelines.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FIXTURES = new URL('test/fixtures/', new URL('../../', import.meta.url))
const BASELINE = fileURLToPath(new URL('./baseline.js', import.meta.url))
const WEBHOOK_PATH = '/webhooks/customerio'
const WARMUP_SECONDS = 2
/** The max-rate runs of scenario 1 alternate between the targets in this many rounds. */
const ROUNDS = 3

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    'e2e-rate': { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    compare: { type: 'string' },
    'compare-node-args': { type: 'string', default: '' },
    'worker-node-args': { type: 'string', default: '' },
    json: { type: 'string' }
  }
})
const SECONDS = Number(flags.seconds)
const CONNECTIONS = Number(flags.connections)
const E2E_RATE = flags['e2e-rate'] === undefined ? undefined : Number(flags['e2e-rate'])

const runId = randomBytes(4).toString('hex').toUpperCase()
const secret = `bench-${randomBytes(16).toString('hex')}`
const work = mkdtempSync(join(tmpdir(), 'cio-bench-'))
const figures: Record<string, unknown> = {}
const log = (line: string): void => { process.stderr.write(`# ${line}\n`) }

/** `queue` replaces the Redis URL and prefix (flow-mapping entries, e.g. a redis_cluster). */
function gatewayYaml (redis: BenchRedis, prefix: string, sinks: string, routeSinks: string, queue = `redis_url: "${redis.url}", prefix: "${prefix}"`): string {
  return `
server: { body_limit: 1mb }
queue: { ${queue}, high_water_mark: 100000000 }
dedupe: { window: 24h }
sources:
  customerio: { type: customerio, secrets: ["${secret}"] }
sinks:
${sinks}
routes:
  - { name: everything, match: {}, sinks: [${routeSinks}] }
`
}

async function startGateway (name: string, role: 'ingest' | 'worker', yaml: string, nodeArgs: string[] = [], root = ROOT): Promise<BenchProcess> {
  const config = join(work, `${name}.yaml`)
  writeFileSync(config, yaml)
  return await BenchProcess.start(name, {
    nodeArgs,
    script: join(root, 'bin', 'cio-gateway.js'),
    args: ['serve', '--role', role, '--config', config],
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    readyPath: '/readyz',
    readyOn: 'management',
    cwd: root
  })
}

/** Events the gateway accepted, from its own counters: autocannon does not count answers still in flight when a run ends. */
async function acceptedEvents (target: BenchProcess): Promise<number> {
  const text = await (await fetch(`${target.managementUrl}/metrics`)).text()
  const sum = (name: string): number => text.split('\n').filter((line) => line.startsWith(`${name}{`))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
  return sum('cio_gateway_events_received_total') - sum('cio_gateway_events_duplicate_total') - sum('cio_gateway_events_unrouted_total')
}

const ms = (value: number): string => `${value.toFixed(1)} ms`

function latencyLine (result: LoadResult): string {
  const { p50, p99, p999, max } = result.latencyMs
  return `p50 ${ms(p50)}, p99 ${ms(p99)}, p99.9 ${ms(p999)}, max ${ms(max)}`
}

function summary (label: string, result: LoadResult): string {
  return `${label.padEnd(28)} ${result.requestsPerSecond.toFixed(0).padStart(7)} req/s  ${latencyLine(result)}  errors ${result.errors}`
}

/** The median of the RSS samples taken during the last two thirds of a run: its steady state. */
function steadyRss (process: BenchProcess, result: LoadResult): number {
  const from = result.startedAt + (result.finishedAt - result.startedAt) / 3
  const values = process.samples.filter((sample) => sample.at >= from && sample.at <= result.finishedAt).map((sample) => sample.rssMb).sort((a, b) => a - b)
  return values[Math.floor(values.length / 2)] ?? NaN
}

async function ingestScenario (redis: BenchRedis): Promise<void> {
  log('scenario 1: ingest — gateway (dedupe, two sinks) vs baseline (HMAC + one BullMQ add)')
  const gatewayPrefix = `cio-bench-${runId}-gw`
  const baselinePrefix = `cio-bench-${runId}-base`
  const sinks = `  warehouse: { type: bigquery, project_id: bench, dataset: bench, api_endpoint: "http://127.0.0.1:9" }
  archive: { type: file, path: "${join(work, 'archive')}" }`
  const gateway = await startGateway('gateway-ingest', 'ingest', gatewayYaml(redis, gatewayPrefix, sinks, 'warehouse, archive'), profiling('scenario1-ingest'))
  const baseline = await BenchProcess.start('baseline', {
    nodeArgs: profiling('scenario1-baseline'),
    script: BASELINE,
    env: { PATH: process.env.PATH, REDIS_URL: redis.url, BENCH_PREFIX: baselinePrefix, BENCH_SECRET: secret, NODE_ENV: 'production' },
    readyPath: '/healthz',
    cwd: ROOT
  })
  const targets = [{ name: 'baseline', process: baseline, prefix: baselinePrefix }, { name: 'gateway', process: gateway, prefix: gatewayPrefix }]
  let compare: BenchProcess | undefined
  if (flags.compare !== undefined) {
    const comparePrefix = `cio-bench-${runId}-cmp`
    const nodeArgs = (flags['compare-node-args'] ?? '').split(' ').filter((arg) => arg !== '')
    const other = await startGateway('gateway-compare', 'ingest', gatewayYaml(redis, comparePrefix, sinks, 'warehouse, archive'), nodeArgs, resolve(flags.compare))
    targets.push({ name: 'compare', process: other, prefix: comparePrefix })
    compare = other
  }
  const events = new EventSource(FIXTURES, secret, runId)
  const max: Record<string, LoadResult> = {}
  /** Redis CPU time per accepted request during each max-rate run (the shared server also serves others). */
  const redisCpuMsPerRequest: Record<string, number> = {}
  /** CPU time of the target's own process per accepted request: robust to what else the machine runs. */
  const serverCpuMsPerRequest: Record<string, number> = {}
  const half: Record<string, LoadResult> = {}
  try {
    for (const target of targets) {
      target.process.startSampling()
      await runLoad({ url: target.process.url, path: WEBHOOK_PATH, events, connections: CONNECTIONS, seconds: WARMUP_SECONDS })
    }
    for (const target of targets) await deleteKeys(redis.url, target.prefix)
    const acceptedBefore = await acceptedEvents(gateway)
    const redisCpu: Record<string, number> = {}
    const serverCpu: Record<string, number> = {}
    let redisBefore = 0
    let serverBefore = 0
    const processOf = (name: string): BenchProcess => (targets.find((target) => target.name === name) as { process: BenchProcess }).process
    Object.assign(max, await runAlternating(targets.map((target) => ({ name: target.name, url: target.process.url })),
      { path: WEBHOOK_PATH, events, connections: CONNECTIONS, seconds: SECONDS }, ROUNDS, {
        before: async (name) => {
          redisBefore = await redisCpuSeconds(redis.url)
          serverBefore = processOf(name).cpuSeconds()
        },
        after: async (name) => {
          serverCpu[name] = (serverCpu[name] ?? 0) + processOf(name).cpuSeconds() - serverBefore
          redisCpu[name] = (redisCpu[name] ?? 0) + (await redisCpuSeconds(redis.url)) - redisBefore
        }
      }))
    for (const target of targets) {
      const result = max[target.name] as LoadResult
      redisCpuMsPerRequest[target.name] = (redisCpu[target.name] ?? NaN) * 1000 / result.ok
      serverCpuMsPerRequest[target.name] = (serverCpu[target.name] ?? NaN) * 1000 / result.ok
      log(`${summary(`${target.name} max`, result)}  CPU per request: server ${(serverCpuMsPerRequest[target.name] as number).toFixed(3)} ms, ` +
        `redis ${(redisCpuMsPerRequest[target.name] as number).toFixed(3)} ms`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
    const accepted = (await acceptedEvents(gateway)) - acceptedBefore
    const stored = (await waitingEvents(redis.url, gatewayPrefix, 'warehouse')) + (await waitingEvents(redis.url, gatewayPrefix, 'archive'))
    for (const target of targets) {
      await deleteKeys(redis.url, target.prefix)
      const rate = Math.max(1, Math.round((max[target.name] as LoadResult).requestsPerSecond / 2))
      half[target.name] = await runLoad({ url: target.process.url, path: WEBHOOK_PATH, events, connections: CONNECTIONS, seconds: SECONDS, rate })
      log(summary(`${target.name} at ${rate} req/s`, half[target.name] as LoadResult))
    }
    const gatewayMax = max.gateway as LoadResult
    const baselineMax = max.baseline as LoadResult
    figures.ingest = {
      connections: CONNECTIONS,
      seconds: SECONDS,
      max,
      half,
      redisCpuMsPerRequest,
      serverCpuMsPerRequest,
      ratio: gatewayMax.requestsPerSecond / baselineMax.requestsPerSecond,
      gatewayAccepted: accepted,
      gatewayEventsStored: stored
    }
    figures.memoryIngest = {
      gatewaySteadyRssMb: steadyRss(gateway, gatewayMax),
      gatewayHalfRateRssMb: steadyRss(gateway, half.gateway as LoadResult),
      gatewayPeakRssMb: gateway.memory().peakMb,
      baselineSteadyRssMb: steadyRss(baseline, baselineMax),
      ...(compare === undefined ? {} : { compareSteadyRssMb: steadyRss(compare, max.compare as LoadResult), compareHalfRateRssMb: steadyRss(compare, half.compare as LoadResult), comparePeakRssMb: compare.memory().peakMb }),
      baselinePeakRssMb: baseline.memory().peakMb
    }
    if (stored !== 2 * accepted || accepted < gatewayMax.ok) log(`WARNING: the gateway stored ${stored} events (over both sinks) for ${accepted} accepted events (${gatewayMax.ok} answers counted), expected each event in both sinks`)
  } finally {
    await Promise.all(targets.map(async (target) => await target.process.stop()))
    await Promise.all(targets.map(async (target) => await deleteKeys(redis.url, target.prefix)))
  }
  printProfiles('scenario1-ingest')
  printProfiles('scenario1-baseline')
}

interface EndToEnd {
  /** Phase 1: events stored by ingest alone, then delivered by a worker started afterwards. */
  readonly drain: { readonly events: number, readonly ms: number, readonly eventsPerSecond: number, readonly firstInsertMs: number, readonly steadyEventsPerSecond: number }
  /** Phase 2: ingest and worker together, load as fast as ingest answers (or at --e2e-rate). */
  readonly offeredRate: number | undefined
  readonly ingest: LoadResult
  readonly accepted: number
  readonly delivered: number
  readonly steadyEventsPerSecond: number
  readonly backlogAtLoadEnd: number
  readonly drainMs: number
  readonly lagMs: { readonly p50: number, readonly p99: number, readonly max: number }
  readonly cpuMsPerEvent: { readonly ingest: number, readonly worker: number, readonly redis: number }
  readonly meanRowsPerInsert: number
}

async function endToEndScenario (redis: BenchRedis): Promise<void> {
  log('scenario 2: end to end — ingest + worker into a BigQuery stand-in, 500-row batches')
  const prefix = `cio-bench-${runId}-e2e`
  const bigquery = await startBigQueryTarget()
  const sinks = `  warehouse:
    type: bigquery
    project_id: ${bigquery.project}
    dataset: ${bigquery.dataset}
    create_table: true
    key_file: "${bigquery.keyFile}"
    api_endpoint: "${bigquery.url}"
    batch: { max_events: 500, max_bytes: 9mb, max_wait: 1s }
    concurrency: 4`
  const yaml = gatewayYaml(redis, prefix, sinks, 'warehouse')
  let worker: BenchProcess | undefined
  let ingest: BenchProcess | undefined
  const waitForDelivery = async (count: number, ms: number): Promise<void> => {
    const deadline = Date.now() + ms
    while (bigquery.distinct.size < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  try {
    ingest = await startGateway('e2e-ingest', 'ingest', yaml, profiling('scenario2-ingest'))
    ingest.startSampling()
    // Phase 1: a backlog, stored while no worker runs, then drained by the worker alone.
    await runLoad({ url: ingest.url, path: WEBHOOK_PATH, events: new EventSource(FIXTURES, secret, `${runId}D`), connections: CONNECTIONS, seconds: SECONDS })
    const backlog = await acceptedEvents(ingest)
    const workerArgs = (flags['worker-node-args'] ?? '').split(' ').filter((arg) => arg !== '')
    worker = await startGateway('e2e-worker', 'worker', yaml, [...profiling('scenario2-worker'), ...workerArgs])
    const workerStarted = Date.now()
    worker.startSampling()
    await waitForDelivery(backlog, 60_000)
    const drainMs = (bigquery.arrivals.at(-1)?.at ?? NaN) - workerStarted
    if (process.env.BENCH_DEBUG === '1') log(`arrivals after worker ready (ms, rows): ${bigquery.arrivals.map((arrival) => `${arrival.at - workerStarted}:${arrival.rows}`).join(' ')}`)
    // Steady: from the first insert to the last full one, leaving out the worker's ramp-up (it fetches
    // its first jobs one round trip at a time) and the last partial batch (sent after batch.max_wait).
    const full = bigquery.arrivals.filter((arrival) => arrival.rows === 500)
    const steadyRows = full.slice(1).reduce((sum, arrival) => sum + arrival.rows, 0)
    const steadyMs = (full.at(-1)?.at ?? NaN) - (full[0]?.at ?? NaN)
    const drain = {
      events: bigquery.distinct.size,
      ms: drainMs,
      eventsPerSecond: bigquery.distinct.size / (drainMs / 1000),
      firstInsertMs: (bigquery.arrivals[0]?.at ?? NaN) - workerStarted,
      steadyEventsPerSecond: steadyRows / (steadyMs / 1000)
    }
    log(`e2e backlog of ${backlog} events delivered by the worker alone in ${drainMs} ms from when it was ready (${drain.eventsPerSecond.toFixed(0)} ev/s), ` +
      `first insert after ${drain.firstInsertMs} ms, ${drain.steadyEventsPerSecond.toFixed(0)} ev/s between the first and the last full batch`)
    if (drain.events < backlog) log(`WARNING: ${backlog - drain.events} backlog events were not delivered within 60 s; worker output:\n${worker.logs().slice(-3000)}`)
    bigquery.reset()

    // Phase 2: ingest and worker at once.
    const events = new EventSource(FIXTURES, secret, `${runId}E`)
    const cpuBefore = { ingest: ingest.cpuSeconds(), worker: worker.cpuSeconds(), redis: await redisCpuSeconds(redis.url) }
    const load = await runLoad({ url: ingest.url, path: WEBHOOK_PATH, events, connections: CONNECTIONS, seconds: SECONDS, ...(E2E_RATE === undefined ? {} : { rate: E2E_RATE }) })
    log(summary('e2e ingest', load))
    const accepted = await acceptedEvents(ingest) - backlog
    const backlogAtLoadEnd = accepted - bigquery.distinct.size
    await waitForDelivery(accepted, 60_000)
    const drainedAt = Date.now()
    const perEvent = (seconds: number): number => seconds * 1000 / bigquery.distinct.size
    const cpuMsPerEvent = {
      ingest: perEvent(ingest.cpuSeconds() - cpuBefore.ingest),
      worker: perEvent(worker.cpuSeconds() - cpuBefore.worker),
      redis: perEvent(await redisCpuSeconds(redis.url) - cpuBefore.redis)
    }
    // The steady window skips the first seconds, while batches start to form.
    const from = load.startedAt + 2000
    const to = load.finishedAt
    const inWindow = bigquery.arrivals.filter((arrival) => arrival.at >= from && arrival.at <= to).reduce((sum, arrival) => sum + arrival.rows, 0)
    const lags = [...bigquery.lagsMs].sort((a, b) => a - b)
    const percentile = (p: number): number => lags[Math.min(lags.length - 1, Math.floor(lags.length * p))] ?? NaN
    const result: EndToEnd = {
      drain,
      offeredRate: E2E_RATE,
      ingest: load,
      accepted,
      delivered: bigquery.distinct.size,
      steadyEventsPerSecond: inWindow / ((to - from) / 1000),
      backlogAtLoadEnd,
      drainMs: drainedAt - load.finishedAt,
      lagMs: { p50: percentile(0.5), p99: percentile(0.99), max: lags.at(-1) ?? NaN },
      cpuMsPerEvent,
      meanRowsPerInsert: bigquery.rows / bigquery.arrivals.length
    }
    figures.endToEnd = result
    if (result.delivered < accepted) log(`WARNING: ${accepted - result.delivered} accepted events were not delivered within 60 s; worker output:\n${worker.logs().slice(-3000)}`)
    figures.memoryEndToEnd = {
      ingestSteadyRssMb: steadyRss(ingest, load),
      ingestPeakRssMb: ingest.memory().peakMb,
      workerSteadyRssMb: steadyRss(worker, load),
      workerPeakRssMb: worker.memory().peakMb
    }
    log(`e2e delivered ${result.delivered} of ${accepted} accepted: ${result.steadyEventsPerSecond.toFixed(0)} ev/s steady, ` +
      `lag p50 ${ms(result.lagMs.p50)} p99 ${ms(result.lagMs.p99)}, ${result.meanRowsPerInsert.toFixed(0)} rows per insertAll; CPU per event: ` +
      `ingest ${cpuMsPerEvent.ingest.toFixed(3)} ms, worker ${cpuMsPerEvent.worker.toFixed(3)} ms, redis ${cpuMsPerEvent.redis.toFixed(3)} ms`)
  } finally {
    await Promise.all([ingest?.stop(), worker?.stop()])
    await bigquery.close()
    await deleteKeys(redis.url, prefix)
  }
  printProfiles('scenario2-ingest')
  printProfiles('scenario2-worker')
}

async function clusterComparison (redis: BenchRedis): Promise<void> {
  const sinks = `  warehouse: { type: bigquery, project_id: bench, dataset: bench, api_endpoint: "http://127.0.0.1:9" }
  archive: { type: file, path: "${join(work, 'archive-cluster')}" }`
  figures.cluster = await clusterScenario({
    seconds: SECONDS,
    connections: CONNECTIONS,
    rounds: ROUNDS,
    events: new EventSource(FIXTURES, secret, `${runId}C`),
    path: WEBHOOK_PATH,
    startIngest: async (name, queue) => await startGateway(name, 'ingest', gatewayYaml(redis, '', sinks, 'warehouse, archive', queue)),
    acceptedEvents,
    log
  })
}

/** Node options that write a CPU profile of the process into its own directory (with --profile). */
function profiling (name: string): string[] {
  return flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(work, 'profiles', name)}`] : []
}

function printProfiles (name: string): void {
  if (!flags.profile) return
  const dir = join(work, 'profiles', name)
  for (const file of readdirSync(dir).filter((entry) => entry.endsWith('.cpuprofile'))) {
    const top = topSelfTime(join(dir, file), 25)
    figures[`profile-${name}`] = top
    log(`profile of ${name}, top self time:\n${formatTop(top)}`)
  }
}

function machine (redis: BenchRedis): Record<string, unknown> {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    redis: redis.version,
    redisPrivate: redis.privateServer,
    loadAverageAtStart: loadavg()[0]
  }
}

function report (): string {
  const lines: string[] = []
  const host = figures.machine as Record<string, unknown>
  lines.push(`cio-gateway benchmark — ${String(host.cpus)} CPUs (${String(host.cpuModel)}), Node ${String(host.node)}, Redis ${String(host.redis)}, load average at start ${Number(host.loadAverageAtStart).toFixed(2)}`)
  const ingest = figures.ingest as { max: Record<string, LoadResult>, half: Record<string, LoadResult>, ratio: number, connections: number, seconds: number,
    serverCpuMsPerRequest: Record<string, number>, redisCpuMsPerRequest: Record<string, number> } | undefined
  if (ingest !== undefined) {
    lines.push('', `Scenario 1, ingest (${ingest.connections} connections; max rate: ${ingest.seconds} s per target in ${ROUNDS} alternating rounds; half max: ${ingest.seconds} s)`)
    lines.push('| target | req/s at max | p50 | p99 | p99.9 | errors | at half max: req/s | p50 | p99 | p99.9 | CPU ms/request: process | Redis |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|')
    for (const name of Object.keys(ingest.max)) {
      const m = ingest.max[name] as LoadResult
      const h = ingest.half[name] as LoadResult
      lines.push(`| ${name} | ${m.requestsPerSecond.toFixed(0)} | ${ms(m.latencyMs.p50)} | ${ms(m.latencyMs.p99)} | ${ms(m.latencyMs.p999)} | ${m.errors} | ` +
        `${h.requestsPerSecond.toFixed(0)} | ${ms(h.latencyMs.p50)} | ${ms(h.latencyMs.p99)} | ${ms(h.latencyMs.p999)} | ` +
        `${(ingest.serverCpuMsPerRequest[name] ?? NaN).toFixed(3)} | ${(ingest.redisCpuMsPerRequest[name] ?? NaN).toFixed(3)} |`)
    }
    lines.push(`gateway / baseline: ${ingest.ratio.toFixed(2)}×`)
    if (ingest.max.compare !== undefined) lines.push(`compare (${String(flags.compare)} ${flags['compare-node-args'] ?? ''}) / baseline: ${(ingest.max.compare.requestsPerSecond / (ingest.max.baseline as LoadResult).requestsPerSecond).toFixed(2)}×`)
  }
  const e2e = figures.endToEnd as EndToEnd | undefined
  if (e2e !== undefined) {
    lines.push('', 'Scenario 2, end to end into the BigQuery stand-in (500-row batches)')
    lines.push(`backlog drained by the worker alone: ${e2e.drain.events} events in ${e2e.drain.ms} ms from when it was ready = ${e2e.drain.eventsPerSecond.toFixed(0)} events/s; ` +
      `first insert after ${e2e.drain.firstInsertMs} ms; ${e2e.drain.steadyEventsPerSecond.toFixed(0)} events/s between the first and the last full 500-row batch`)
    lines.push(`ingest and worker together (${e2e.offeredRate === undefined ? `${CONNECTIONS} connections, as fast as ingest answers` : `${e2e.offeredRate} req/s offered`}): ` +
      `ingest ${e2e.ingest.requestsPerSecond.toFixed(0)} req/s (errors ${e2e.ingest.errors}); delivered ${e2e.delivered} of ${e2e.accepted}; ` +
      `${e2e.steadyEventsPerSecond.toFixed(0)} events/s steady; lag p50 ${ms(e2e.lagMs.p50)}, p99 ${ms(e2e.lagMs.p99)}; ` +
      `backlog at load end ${e2e.backlogAtLoadEnd}, drained ${e2e.drainMs} ms later; ${e2e.meanRowsPerInsert.toFixed(0)} rows per insertAll; ` +
      `CPU ms per event: ingest ${e2e.cpuMsPerEvent.ingest.toFixed(3)}, worker ${e2e.cpuMsPerEvent.worker.toFixed(3)}, Redis ${e2e.cpuMsPerEvent.redis.toFixed(3)}`)
  }
  const cluster = figures.cluster as ClusterFigures | undefined
  if (cluster !== undefined) {
    lines.push('', `Scenario 4, ingest on a 3-master Redis Cluster (${cluster.shards} shards, replicas_ack 1) beside one Redis node (${ROUNDS} alternating rounds; every node shares this machine's cores)`)
    lines.push('| target | req/s | p50 | p99 | errors |', '|---|---|---|---|---|')
    for (const [name, result] of [['one node', cluster.single], ['cluster', cluster.cluster]] as const) {
      lines.push(`| ${name} | ${result.requestsPerSecond.toFixed(0)} | ${ms(result.latencyMs.p50)} | ${ms(result.latencyMs.p99)} | ${result.errors} |`)
    }
    lines.push(`cluster / one node: ${cluster.ratio.toFixed(2)}×; events per ingest script call: one node ${cluster.eventsPerScript.single.toFixed(1)}, cluster ${cluster.eventsPerScript.cluster.toFixed(1)}; ` +
      `gateway CPU per event: one node ${cluster.gatewayCpuMsPerEvent.single.toFixed(3)} ms, cluster ${cluster.gatewayCpuMsPerEvent.cluster.toFixed(3)} ms`)
    lines.push('| master | share of ingest scripts | Redis CPU ms per event | its replica\'s |', '|---|---|---|---|')
    for (const master of cluster.masters) {
      lines.push(`| ${master.port} | ${(master.scriptShare * 100).toFixed(1)} % | ${master.cpuMsPerEvent.toFixed(3)} | ${master.replicaCpuMsPerEvent.toFixed(3)} |`)
    }
    lines.push(`one node: Redis CPU ${cluster.singleCpuMsPerEvent.toFixed(3)} ms per event (two sinks), so about ${cluster.capacity.eventsPerSecondPerRedisCore.toFixed(0)} events/s per fully used Redis core; ` +
      `memory ${cluster.capacity.bytesPerQueuedEventPerSink.toFixed(0)} bytes per queued event per sink, ${cluster.capacity.bytesPerDedupeMark.toFixed(0)} bytes per dedupe mark`)
  }
  const pipelines = figures.pipelines as PipelinesFigures | undefined
  if (pipelines !== undefined) {
    lines.push('', 'Scenario 5, Data Pipelines batches beside single reporting webhooks (one gateway, both sources, dedupe, two sinks; alternating rounds)')
    lines.push('| path | events/s accepted | req/s | events per request | connections | p50 | p99 (per request) | errors | CPU ms/event: gateway | Redis |', '|---|---|---|---|---|---|---|---|---|---|')
    for (const name of ['reporting', 'pipelines'] as const) {
      const path = pipelines[name]
      lines.push(`| ${name} | ${path.eventsPerSecond.toFixed(0)} | ${path.requestsPerSecond.toFixed(0)} | ${path.eventsPerRequest} | ${path.connections} | ${ms(path.latencyMs.p50)} | ${ms(path.latencyMs.p99)} | ${path.errors} | ` +
        `${path.cpuMsPerEvent.gateway.toFixed(4)} | ${path.cpuMsPerEvent.redis.toFixed(4)} |`)
    }
    lines.push(`pipelines / reporting, events/s: ${(pipelines.pipelines.eventsPerSecond / pipelines.reporting.eventsPerSecond).toFixed(2)}×`)
  }
  const memory = { ...(figures.memoryIngest as Record<string, number> | undefined), ...(figures.memoryEndToEnd as Record<string, number> | undefined) }
  if (Object.keys(memory).length > 0) {
    lines.push('', 'Scenario 3, resident set size (MB): steady = median over the last two thirds of the max-rate runs (half rate: of the half-rate run); peak = VmHWM')
    for (const [key, value] of Object.entries(memory)) lines.push(`${key}: ${value.toFixed(0)}`)
  }
  return lines.join('\n') + '\n'
}

const redis = await findRedis()
figures.machine = machine(redis)
try {
  if (flags.only === undefined || flags.only === '1') await ingestScenario(redis)
  if (flags.only === undefined || flags.only === '2') await endToEndScenario(redis)
  if (flags.only === undefined || flags.only === 'cluster') await clusterComparison(redis)
  if (flags.only === undefined || flags.only === 'pipelines') {
    figures.pipelines = await pipelinesScenario({
      redis, fixtures: FIXTURES, work, secret, runId, seconds: SECONDS, connections: CONNECTIONS, startGateway, profiling, log
    })
    printProfiles('scenario5-ingest')
  }
  process.stdout.write(report())
  if (flags.json !== undefined) writeFileSync(flags.json, JSON.stringify(figures, null, 2))
} finally {
  redis.stop()
  rmSync(work, { recursive: true, force: true })
}
