/**
 * The gateway on a real Redis Cluster (3 masters, 3 replicas, on loopback) through failovers
 * (SPEC §11): a master killed or frozen under steady signed load, and a master that dies right after
 * an answer, with and without replicas_ack.
 */
import t, { type Test } from 'tap'
import pino from 'pino'
import { Cluster } from 'ioredis'
import { startCluster, type ClusterNode, type RedisCluster } from '../helpers/topology.js'
import { eventually, tempDir } from '../helpers/app.js'
import { API_KEY, startFakeAppApi } from '../plugins/reporting/fixtures/fake-app-api.js'
import { Keyspace } from '../../plugins/queue/keyspace.js'
import { RedisBackend } from '../../plugins/queue/redis-backend.js'
import { RedisTopology } from '../../plugins/queue/redis-topology.js'
import type { EnqueueRequest } from '../../plugins/queue/backend.js'
import { gatewayOn } from './helpers.js'
import { failUnderLoad } from './failover.js'

const NODE_TIMEOUT_MS = 1000
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

function clusterQueue (cluster: RedisCluster): string {
  return `  redis_cluster: { nodes: ${JSON.stringify(cluster.urls.slice(0, 2))} }\n  shards: 8`
}

/** The master that serves the first shard of `prefix` (every shard has one; this one certainly holds events). */
async function masterOfShard (cluster: RedisCluster, prefix: string, shard = 0): Promise<ClusterNode> {
  const slot = Number(await cluster.command(cluster.ports[0] as number, 'CLUSTER', 'KEYSLOT', `{${prefix}:${shard}}`))
  return await cluster.masterOf(slot)
}

t.test('kill -9 of a master under steady load: 200 or 503 within 4 s, back to 200 within node timeout + 2 s, nothing lost; the poll schedule resumes', async (t) => {
  const cluster = await startCluster(t, { nodeTimeoutMs: NODE_TIMEOUT_MS })
  const api = await startFakeAppApi(t, { apiKey: API_KEY, campaigns: [{ id: 1, name: 'c', state: 'running' }], campaignSeries: () => ({}) })
  // The default shard count; the reporting schedule (keys under {prefix}) polls every second.
  const gateway = await gatewayOn(t, tempDir(t), `  redis_cluster: { nodes: ${JSON.stringify(cluster.urls.slice(0, 2))} }`,
    { yaml: `reporting: { api_key: "${API_KEY}", base_url: "${api.url}", interval: 1s }\n` })
  // The master of the keys outside the shards (the poll schedule's) is the one killed; it serves shards too.
  const victim = await cluster.masterOf(Number(await cluster.command(cluster.ports[0] as number, 'CLUSTER', 'KEYSLOT', `{${gateway.prefix}}`)))
  const keyspace = new Keyspace(gateway.prefix, 48, true)
  const servedShards = (await Promise.all(keyspace.shardPrefixes.map(async (prefix) => Number(await cluster.command(cluster.ports[0] as number, 'CLUSTER', 'KEYSLOT', prefix)))))
    .filter((slot) => victim.slots.some(([first, last]) => slot >= first && slot <= last)).length
  t.ok(servedShards > 0, `the killed master serves ${servedShards} of the 48 shards`)
  await eventually(() => api.requests.some((request) => request.path === '/v1/campaigns') ? true : undefined, 20_000, 'a first poll')
  let killedAt = 0
  await failUnderLoad(t, {
    gateway,
    detectionMs: NODE_TIMEOUT_MS,
    fail: async () => {
      killedAt = Date.now()
      await cluster.kill(victim.port)
      t.comment(`killed master ${victim.port}`)
    },
    promoted: async () => await promotion(cluster, victim)
  })
  t.not((await cluster.waitForFailover(victim)).port, victim.port, 'a replica took over its slots')
  await eventually(() => api.requests.some((request) => request.path === '/v1/campaigns' && request.at > killedAt + 4000) ? true : undefined, 45_000, 'a poll after the failover')
    .catch((error: Error) => { t.comment(`polls at ${api.requests.filter((request) => request.path === '/v1/campaigns').map((request) => request.at - killedAt).join(', ')} ms from the kill; gateway:\n${gateway.process.output().split('\n').filter((line) => /report|poll/i.test(line)).slice(-15).join('\n')}`); throw error })
  t.pass('the reporting schedule polls again after the failover, without a restart')
})

t.test('a master frozen with DEBUG SLEEP under steady load: the same', async (t) => {
  const cluster = await startCluster(t, { nodeTimeoutMs: NODE_TIMEOUT_MS })
  const gateway = await gatewayOn(t, tempDir(t), clusterQueue(cluster))
  const victim = await masterOfShard(cluster, gateway.prefix)
  let thawed: Promise<void> = Promise.resolve()
  await failUnderLoad(t, {
    gateway,
    detectionMs: NODE_TIMEOUT_MS,
    fail: async () => {
      // Asleep long enough for its replica to be promoted; it wakes as a replica.
      thawed = (await cluster.freeze(victim.port, 8000)).thawed
      t.comment(`froze master ${victim.port} for 8 s`)
    },
    promoted: async () => await promotion(cluster, victim),
    afterMs: 9000
  })
  await thawed.catch(() => {})
  t.not((await cluster.waitForFailover(victim)).port, victim.port, 'a replica took over its slots')
})

/** When every other node of the cluster saw a replica serve the victim's slots (or why that was not seen). */
async function promotion (cluster: RedisCluster, victim: ClusterNode): Promise<number | string> {
  try {
    await cluster.waitForFailover(victim)
    return Date.now()
  } catch (error) {
    return `not seen: ${(error as Error).message}`
  }
}

/** A backend of this process on the cluster, and one event request for a sink `a`. */
function backendOn (t: Test, cluster: RedisCluster, prefix: string, replicasAck: number): RedisBackend {
  const backend = new RedisBackend({
    topology: new RedisTopology({ kind: 'cluster', nodes: cluster.urls, password: undefined, username: undefined, tls: false }),
    keyspace: new Keyspace(prefix, 8, true),
    dedupeWindowMs: 60_000,
    replicasAck,
    queues: ['a'],
    logger
  })
  t.teardown(async () => await backend.close())
  return backend
}

function eventRequest (id: string): EnqueueRequest {
  const body = JSON.stringify({ event_id: id, object_type: 'email', metric: 'sent', data: {} })
  return { source: 'customerio', dedupeKey: id, payload: { s: 'customerio', r: Date.now(), b: body, e: id }, sinks: [{ name: 'a', retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 1000 } }] }
}

/** Whether the event is in sink `a`'s queue of its shard, as the cluster sees it now. */
async function stored (cluster: RedisCluster, keyspace: Keyspace, id: string): Promise<boolean> {
  const client = new Cluster(cluster.startupNodes)
  try {
    const prefix = keyspace.shardPrefixes[keyspace.shardOf('customerio', id)] as string
    const jobs = await client.lrange(`${prefix}:a:wait`, 0, -1)
    for (const job of jobs) {
      if (String(await client.hget(`${prefix}:a:${job}`, 'data')).includes(`"e":"${id}"`)) return true
    }
    return false
  } finally {
    client.disconnect()
  }
}

/**
 * Writes an event while its master's only replica is cut off (asleep, its replication link closed,
 * as a network partition would leave it), then kills the master at once: the replica wakes without
 * the write and is promoted. With `replicasAck`, what did the write answer, and is the event there
 * after the failover?
 */
async function writeThenKill (t: Test, replicasAck: number): Promise<{ answer: string, storedAfterFailover: boolean }> {
  const cluster = await startCluster(t, { nodeTimeoutMs: NODE_TIMEOUT_MS })
  const prefix = `ack${replicasAck}`
  const backend = backendOn(t, cluster, prefix, replicasAck)
  await backend.start()
  const keyspace = new Keyspace(prefix, 8, true)
  const id = `acked-then-lost-${replicasAck}`
  const slot = Number(await cluster.command(cluster.ports[0] as number, 'CLUSTER', 'KEYSLOT', keyspace.shardPrefixes[keyspace.shardOf('customerio', id)] as string))
  const master = await cluster.masterOf(slot)
  const [replica] = await cluster.replicasOf(master.port)
  if (replica === undefined) throw new Error(`master ${master.port} has no replica`)
  // Let the backend learn the replica counts before the replica is put to sleep.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const frozen = await cluster.freeze(replica.port, 2500)
  await cluster.command(master.port, 'CLIENT', 'KILL', 'TYPE', 'replica')
  const answer = await backend.enqueue(eventRequest(id)).then((outcome) => outcome, (error: Error) => `rejected: ${error.message}`)
  await cluster.kill(master.port)
  await frozen.thawed.catch(() => {})
  await cluster.waitForFailover(master)
  return { answer, storedAfterFailover: await stored(cluster, keyspace, id) }
}

t.test('replicas_ack 1: a write its replica did not confirm is not acked, so the master\'s death right after loses nothing acked', async (t) => {
  const { answer, storedAfterFailover } = await writeThenKill(t, 1)
  t.match(answer, /^rejected: only 0 of 1 replicas confirmed the write in time/, 'answered 503: Customer.io sends it again')
  t.equal(storedAfterFailover, false, 'the unconfirmed write died with its master: it was never acked')
})

t.test('replicas_ack 0 (the counter-case): the write is acked and lost with its master', async (t) => {
  const { answer, storedAfterFailover } = await writeThenKill(t, 0)
  t.equal(answer, 'accepted', 'answered 200')
  t.equal(storedAfterFailover, false, 'and gone after the failover: an acked event lost')
})

t.test('replicas_ack 1: acked writes survive the death of their master right after the answers', async (t) => {
  const cluster = await startCluster(t, { nodeTimeoutMs: NODE_TIMEOUT_MS })
  const backend = backendOn(t, cluster, 'survives', 1)
  await backend.start()
  const keyspace = new Keyspace('survives', 8, true)
  const master = await masterOfShard(cluster, 'survives')
  // Events of the shards this master serves: the ones its death could take with it.
  const slotOf = async (shard: number): Promise<number> => Number(await cluster.command(cluster.ports[0] as number, 'CLUSTER', 'KEYSLOT', keyspace.shardPrefixes[shard] as string))
  const served = new Set<number>()
  for (let shard = 0; shard < keyspace.shards; shard++) {
    const slot = await slotOf(shard)
    if (master.slots.some(([first, last]) => slot >= first && slot <= last)) served.add(shard)
  }
  const ids: string[] = []
  for (let n = 0; ids.length < 20; n++) if (served.has(keyspace.shardOf('customerio', `survivor-${n}`))) ids.push(`survivor-${n}`)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const answers = await Promise.all(ids.map(async (id) => await backend.enqueue(eventRequest(id))))
  t.same(answers, ids.map(() => 'accepted'))
  await cluster.kill(master.port)
  await cluster.waitForFailover(master)
  const kept = await Promise.all(ids.map(async (id) => await stored(cluster, keyspace, id)))
  t.same(ids.filter((_id, n) => kept[n] !== true), [], 'every acked event is on the promoted replica')
})
