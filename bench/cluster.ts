/**
 * Scenario 4 of `npm run bench` (`--only cluster`): ingest on a 3-master Redis Cluster (3 replicas,
 * loopback, started for the run) beside ingest on one Redis node, in alternating rounds of the same
 * load: the ratio of their rates, each master's share of the ingest scripts (with the default shard
 * count and prefix), and Redis CPU per event on each node. On this machine the cluster cannot add
 * cores: every node shares them with the gateway and the load generator, so the ratio shows what the
 * sharding costs, not what a cluster of real machines gains.
 *
 * It also measures, on the single node, what capacity planning needs: Redis memory per queued event
 * and per dedupe mark, and Redis CPU per event (so events/s per fully used Redis core).
 */
import { Redis } from 'ioredis'
import { startCluster, type RedisCluster } from '../test/helpers/topology.js'
import { PrivateRedis } from '../test/helpers/private-redis.js'
import type { BenchProcess } from './processes.js'
import { runAlternating, type LoadResult } from './load.js'
import type { EventSource } from './events.js'

export interface ClusterScenarioOptions {
  readonly seconds: number
  readonly connections: number
  readonly rounds: number
  readonly events: EventSource
  readonly path: string
  /** Starts an ingest gateway whose `queue` section is `queue` (YAML flow mapping entries, prefix included). */
  readonly startIngest: (name: string, queue: string) => Promise<BenchProcess>
  readonly acceptedEvents: (target: BenchProcess) => Promise<number>
  readonly log: (line: string) => void
}

export interface MasterFigures {
  readonly port: number
  /** Share of the ingest script calls (EVALSHA/EVAL) this master served. */
  readonly scriptShare: number
  readonly cpuMsPerEvent: number
  /** Redis CPU per event of this master's replica(s): applying the replicated writes. */
  readonly replicaCpuMsPerEvent: number
}

export interface ClusterFigures {
  readonly single: LoadResult
  readonly cluster: LoadResult
  readonly ratio: number
  readonly shards: number
  readonly masters: readonly MasterFigures[]
  readonly singleCpuMsPerEvent: number
  /**
   * Accepted events per ingest script call. One node takes a turn's events in one call; the cluster
   * one call per shard a turn touches, so with 48 shards and the load's few dozen requests in flight
   * most calls carry one event, and each call's fixed cost (its queues' checks, keys and job options,
   * one job per sink) is paid per event: this is what the ratio mostly measures.
   */
  readonly eventsPerScript: { readonly single: number, readonly cluster: number }
  /** CPU of the ingest gateway's own process per accepted event. */
  readonly gatewayCpuMsPerEvent: { readonly single: number, readonly cluster: number }
  readonly capacity: {
    readonly bytesPerQueuedEventPerSink: number
    readonly bytesPerDedupeMark: number
    readonly eventsPerSecondPerRedisCore: number
  }
}

const DEFAULT_SHARDS = 48

interface NodeCounters { scripts: number, cpuSeconds: number }

async function countersOf (url: string): Promise<NodeCounters> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    const text = await client.info('all')
    const calls = (command: string): number => Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(text)?.[1] ?? 0)
    const field = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(text)?.[1] ?? NaN)
    return { scripts: calls('evalsha') + calls('eval'), cpuSeconds: field('used_cpu_user') + field('used_cpu_sys') }
  } finally {
    client.disconnect()
  }
}

export async function clusterScenario (options: ClusterScenarioOptions): Promise<ClusterFigures> {
  const { log } = options
  log('scenario 4: ingest on a 3-master Redis Cluster (48 shards, replicas_ack 1) beside one Redis node')
  const teardown: (() => unknown)[] = []
  const cluster: RedisCluster = await startCluster({ teardown: (fn) => { teardown.push(fn) } })
  // A node of its own, as each master is: its CPU and memory are this scenario's alone.
  const node = await PrivateRedis.start()
  teardown.push(async () => await node.stop())
  const singleUrl = node.url
  const singlePrefix = 'cio'
  let single: BenchProcess | undefined
  let clustered: BenchProcess | undefined
  try {
    single = await options.startIngest('ingest-one-node', `redis_url: "${singleUrl}", prefix: "${singlePrefix}"`)
    // The default prefix and shard count: the balance over masters measured is the one users get.
    clustered = await options.startIngest('ingest-cluster', `redis_cluster: { nodes: ${JSON.stringify(cluster.urls)} }, prefix: "cio"`)
    const masters = await cluster.masters()
    const replicas = new Map(await Promise.all(masters.map(async (master) => [master.port, await cluster.replicasOf(master.port)] as const)))
    const replicaUrls = [...replicas.values()].flat().map((replica) => replica.url)
    const targets = [{ name: 'one node', process: single }, { name: 'cluster', process: clustered }]
    for (const target of targets) target.process.startSampling()
    const load = { path: options.path, events: options.events, connections: options.connections, seconds: 2 }
    for (const target of targets) await runAlternating([{ name: target.name, url: target.process.url }], load, 1)

    // Each round's counters, taken before (subtracted) and after (added): their sums are the rounds' use.
    const redisUse = new Map<string, NodeCounters>()
    const nodesOf: Record<string, readonly string[]> = { 'one node': [singleUrl], cluster: [...masters.map((master) => master.url), ...replicaUrls] }
    const accepted = new Map<string, number>()
    const gatewayCpuSeconds = new Map<string, number>()
    const processOf = (name: string): BenchProcess => (targets.find((target) => target.name === name) as { process: BenchProcess }).process
    const measure = async (name: string, sign: 1 | -1): Promise<void> => {
      const gatewayCpu = (): void => { gatewayCpuSeconds.set(name, (gatewayCpuSeconds.get(name) ?? 0) + sign * processOf(name).cpuSeconds()) }
      // The gateway's CPU is read inside the metrics scrapes (after the one before a round, before the one after it), so it leaves them out.
      if (sign === 1) gatewayCpu()
      accepted.set(name, (accepted.get(name) ?? 0) + sign * await options.acceptedEvents(processOf(name)))
      if (sign === -1) gatewayCpu()
      for (const url of nodesOf[name] ?? []) redisUse.set(url, add(redisUse.get(url), scale(await countersOf(url), sign)))
    }
    const results = await runAlternating(targets.map((target) => ({ name: target.name, url: target.process.url })),
      { path: options.path, events: options.events, connections: options.connections, seconds: options.seconds }, options.rounds, {
        before: async (name) => { await measure(name, -1) },
        after: async (name) => { await measure(name, 1) }
      })
    const singleResult = results['one node'] as LoadResult
    const clusterResult = results.cluster as LoadResult
    const useOf = (url: string): NodeCounters => redisUse.get(url) ?? { scripts: NaN, cpuSeconds: NaN }
    const singleUse = useOf(singleUrl)
    const totalScripts = masters.reduce((sum, master) => sum + useOf(master.url).scripts, 0)
    const clusterEvents = accepted.get('cluster') ?? NaN
    const masterFigures = masters.map((master): MasterFigures => {
      const use = useOf(master.url)
      const replicaSeconds = (replicas.get(master.port) ?? []).reduce((sum, replica) => sum + useOf(replica.url).cpuSeconds, 0)
      return {
        port: master.port,
        scriptShare: use.scripts / totalScripts,
        cpuMsPerEvent: use.cpuSeconds * 1000 / clusterEvents,
        replicaCpuMsPerEvent: replicaSeconds * 1000 / clusterEvents
      }
    })
    const singleEvents = accepted.get('one node') ?? NaN
    const singleCpuMsPerEvent = singleUse.cpuSeconds * 1000 / singleEvents
    const eventsPerScript = { single: singleEvents / singleUse.scripts, cluster: clusterEvents / totalScripts }
    const gatewayCpuMsPerEvent = {
      single: (gatewayCpuSeconds.get('one node') ?? NaN) * 1000 / singleEvents,
      cluster: (gatewayCpuSeconds.get('cluster') ?? NaN) * 1000 / clusterEvents
    }
    log(`one node: ${singleResult.requestsPerSecond.toFixed(0)} req/s, Redis ${singleCpuMsPerEvent.toFixed(3)} ms CPU per event, ${eventsPerScript.single.toFixed(1)} events per script, gateway ${gatewayCpuMsPerEvent.single.toFixed(3)} ms CPU per event; ` +
      `cluster: ${clusterResult.requestsPerSecond.toFixed(0)} req/s (${(clusterResult.requestsPerSecond / singleResult.requestsPerSecond).toFixed(2)}×), ${eventsPerScript.cluster.toFixed(1)} events per script, gateway ${gatewayCpuMsPerEvent.cluster.toFixed(3)} ms CPU per event; ` +
      masterFigures.map((master) => `master ${master.port}: ${(master.scriptShare * 100).toFixed(1)}% of the scripts, ${master.cpuMsPerEvent.toFixed(3)} ms CPU per event ` +
        `(its replica ${master.replicaCpuMsPerEvent.toFixed(3)})`).join('; '))
    const capacity = await capacityFigures(singleUrl, singlePrefix, singleEvents, singleCpuMsPerEvent)
    return {
      single: singleResult,
      cluster: clusterResult,
      ratio: clusterResult.requestsPerSecond / singleResult.requestsPerSecond,
      shards: DEFAULT_SHARDS,
      masters: masterFigures,
      singleCpuMsPerEvent,
      eventsPerScript,
      gatewayCpuMsPerEvent,
      capacity
    }
  } finally {
    await Promise.all([single?.stop(), clustered?.stop()])
    for (const fn of teardown.reverse()) await fn()
  }
}

/**
 * On the single node, after the runs: every accepted event is still queued (role ingest, no worker)
 * in both sinks, with its dedupe mark. Marks are measured with MEMORY USAGE over a sample; the rest
 * of the prefix's memory is the queued events.
 */
async function capacityFigures (url: string, prefix: string, events: number, cpuMsPerEvent: number): Promise<ClusterFigures['capacity']> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    let markBytes = 0
    let marks = 0
    let otherBytes = 0
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      const pipeline = client.pipeline()
      for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', '0')
      const sizes = await pipeline.exec() ?? []
      keys.forEach((key, index) => {
        const bytes = Number(sizes[index]?.[1] ?? 0)
        if (key.startsWith(`${prefix}:_dedupe:`)) { markBytes += bytes; marks++ } else { otherBytes += bytes }
      })
    } while (cursor !== '0')
    const sinks = 2
    return {
      bytesPerQueuedEventPerSink: otherBytes / (events * sinks),
      bytesPerDedupeMark: markBytes / marks,
      eventsPerSecondPerRedisCore: 1000 / cpuMsPerEvent
    }
  } finally {
    client.disconnect()
  }
}

function add (a: NodeCounters | undefined, b: NodeCounters): NodeCounters {
  return { scripts: (a?.scripts ?? 0) + b.scripts, cpuSeconds: (a?.cpuSeconds ?? 0) + b.cpuSeconds }
}

function scale (counters: NodeCounters, sign: 1 | -1): NodeCounters {
  return { scripts: sign * counters.scripts, cpuSeconds: sign * counters.cpuSeconds }
}
