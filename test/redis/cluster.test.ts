/**
 * The gateway on a real Redis Cluster (3 masters, 3 replicas, on loopback), healthy (SPEC §11):
 * dedupe of concurrent copies, the key layout the cluster enforces, the stored shard count, and
 * everything that reads queues across shards (counts, dead letters, replay, the high-water mark).
 */
import t, { type Test } from 'tap'
import pino from 'pino'
import { Cluster } from 'ioredis'
import { Agent } from 'undici'
import { startCluster, type RedisCluster } from '../helpers/topology.js'
import { eventually, readLines, tempDir } from '../helpers/app.js'
import { missingFromFileSink } from '../helpers/request-stream.js'
import { startReceiver, webhookSinkYaml } from '../helpers/receiver.js'
import { sampleEvent } from '../helpers/sign.js'
import { Keyspace } from '../../plugins/queue/keyspace.js'
import { MergedEnqueue } from '../../plugins/queue/merged-enqueue.js'
import { RedisBackend } from '../../plugins/queue/redis-backend.js'
import { RedisSetupError } from '../../plugins/queue/redis-checks.js'
import { RedisTopology, waitForConnection } from '../../plugins/queue/redis-topology.js'
import { INGEST_BATCH_LUA } from '../../plugins/queue/ingest-script.js'
import type { EnqueueRequest } from '../../plugins/queue/backend.js'
import { gatewayOn, sendEvent } from './helpers.js'

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
const ADMIN_TOKEN = 'cluster-test-admin-token-0123456789abcdef'

let cluster: RedisCluster
t.before(async () => { cluster = await startCluster(t) })

function topology (): RedisTopology {
  return new RedisTopology({ kind: 'cluster', nodes: cluster.urls, password: undefined, username: undefined, tls: false })
}

function backend (t: Test, prefix: string, shards = 8): RedisBackend {
  const created = new RedisBackend({ topology: topology(), keyspace: new Keyspace(prefix, shards, true), dedupeWindowMs: 60_000, replicasAck: 1, queues: ['a'], logger })
  t.teardown(async () => await created.close())
  return created
}

function eventRequest (id: string): EnqueueRequest {
  const body = JSON.stringify({ event_id: id, object_type: 'email', metric: 'sent', data: {} })
  return { source: 'customerio', dedupeKey: id, payload: { s: 'customerio', r: Date.now(), b: body, e: id }, sinks: [{ name: 'a', retry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 1000 } }] }
}

t.test('50 concurrent copies of one event: 1 accepted, 49 duplicate, 1 delivery', async (t) => {
  const gateway = await gatewayOn(t, tempDir(t), `  redis_cluster: { nodes: ${JSON.stringify(cluster.urls.slice(0, 1))} }`)
  const dispatcher = new Agent({ connections: 50 })
  t.teardown(async () => await dispatcher.close())
  const event = sampleEvent()
  const answers = await Promise.all(Array.from({ length: 50 }, async () => await sendEvent(gateway.url, dispatcher, event)))
  const statuses = answers.map((answer) => `${answer.status} ${(JSON.parse(answer.body) as { status: string }).status}`).sort()
  t.same(statuses, ['200 accepted', ...Array(49).fill('200 duplicate')])
  await eventually(() => missingFromFileSink(gateway.eventsDir, [String(event.event_id)]).length === 0 ? true : undefined, 10_000, 'the delivery')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(readLines(gateway.eventsDir).filter((line) => line.event_id === event.event_id).length, 1, 'delivered once')
  gateway.process.signal('SIGTERM')
  t.equal(await gateway.process.exited, 0, 'SIGTERM: a graceful shutdown, exit 0')
})

t.test('the high-water mark holds over all shards, and one shard may hold at most twice its share', async (t) => {
  const keyspace = new Keyspace('marks', 4, true)
  const queues = backend(t, 'marks', 4)
  await queues.start()
  const inShard = (shard: number, count: number): string[] => {
    const ids: string[] = []
    for (let n = 0; ids.length < count; n++) if (keyspace.shardOf('customerio', `mark-${n}`) === shard) ids.push(`mark-${n}`)
    return ids
  }
  // No worker runs: what is written waits. A mark of 40 over 4 shards lets one shard hold 20.
  const written = await Promise.all(inShard(0, 20).map(async (id) => await queues.enqueue(eventRequest(id))))
  t.same(written, Array(20).fill('accepted'))
  const admit = (id: string): string | undefined => queues.admit({ sinks: ['a'], source: 'customerio', dedupeKey: id, highWaterMark: 40, maxBytes: 1 << 30 })
  const [nextInShard0] = inShard(0, 21).slice(20)
  const [inShard1] = inShard(1, 1)
  await eventually(() => admit(nextInShard0 as string) === 'high_water_mark' ? true : undefined, 5000, 'shard 0 refused once it holds twice its share')
  t.equal(admit(inShard1 as string), undefined, 'another shard still takes events: 20 waiting in all is under the mark of 40')
  t.equal((await queues.counts('a')).waiting, 1, 'the 20 events share one job (one write): the mark counts events, not jobs')
})

/** CLUSTER SLOTS calls the whole cluster has served so far. */
async function slotMapReads (): Promise<number> {
  const counts = await Promise.all(cluster.ports.map(async (port) => {
    const stats = String(await cluster.command(port, 'INFO', 'commandstats'))
    return Number(/^cmdstat_cluster\|slots:calls=(\d+)/m.exec(stats)?.[1] ?? 0)
  }))
  return counts.reduce((sum, calls) => sum + calls, 0)
}

/** Clients of the whole cluster whose last command was `command` (e.g. the workers' blocking reads). */
async function clientsOn (command: string): Promise<number> {
  const lists = await Promise.all(cluster.ports.map(async (port) => String(await cluster.command(port, 'CLIENT', 'LIST'))))
  return lists.join('\n').split('\n').filter((line) => line.includes(` cmd=${command} `)).length
}

t.test('idle workers on 48 shards do not read the slot map on a timer of seconds (each read is a new connection)', async (t) => {
  const prefix = 'idle'
  const queues = new RedisBackend({ topology: topology(), keyspace: new Keyspace(prefix, 48, true), dedupeWindowMs: 60_000, replicasAck: 1, queues: ['a', 'b'], logger })
  t.teardown(async () => await queues.close())
  await queues.start()
  const windowMs = 6000
  const readsWithin = async (): Promise<number> => {
    const before = await slotMapReads()
    await new Promise((resolve) => setTimeout(resolve, windowMs))
    return await slotMapReads() - before
  }
  // The backend's own connections (producer, state) read it several times a second: that is the baseline.
  const baseline = await readsWithin()
  const blockedBefore = await clientsOn('bzpopmin')
  const retry = { attempts: 3, initialDelayMs: 100, maxDelayMs: 1000 }
  for (const queue of ['a', 'b']) queues.runWorker(queue, { concurrency: 4, retry }, async () => {})
  const workers = 2 * 48
  await eventually(async () => await clientsOn('bzpopmin') - blockedBefore >= workers ? true : undefined, 20_000, `${workers} workers blocked on their markers`)
  const withWorkers = await readsWithin()
  t.comment(`slot map reads in ${windowMs} ms: ${baseline} without workers, ${withWorkers} with ${workers} idle workers`)
  // Every 5 s per worker connection (as before) would add about 115 reads here.
  t.ok(withWorkers - baseline < workers / 4, `the ${workers} workers add fewer than ${workers / 4} reads (added ${withWorkers - baseline})`)
})

t.test('every key of a shard carries its hash tag: a wrongly tagged key is refused by the cluster', async (t) => {
  // A keyspace whose dedupe marks lost their tag: `wrong:_dedupe:…` hashes to another slot than the shard's queue keys.
  class Untagged extends Keyspace {
    override dedupePrefix (): string { return 'wrong:_dedupe:' }
  }
  const keyspace = new Untagged('tagging', 8, true)
  const producer = topology().client('producer')
  const reader = backend(t, 'tagging')
  t.teardown(() => producer.disconnect())
  await waitForConnection(producer)
  const writes = new MergedEnqueue({
    client: async () => producer,
    keyspace,
    queue: (name, shard) => reader.shardQueues(name)[shard] as never,
    jobOptions: () => ({ attempts: 1 }),
    dedupeTtlMs: 60_000,
    timeoutMs: 1500
  })
  const refused = await writes.enqueue(eventRequest('untagged')).then(() => undefined, (error: Error) => error)
  t.match(refused?.message, /CROSSSLOT|same slot/, `refused loudly: ${refused?.message ?? 'accepted'}`)
})

t.test('the ingest script refuses to reach a key it did not declare, even on its own node (the #!lua shebang)', async (t) => {
  const client = new Cluster(cluster.startupNodes)
  t.teardown(() => client.disconnect())
  // Two keys of different slots on one master: without the shebang a script touching both "works by luck".
  const master = (await cluster.masters())[0]
  if (master === undefined) throw new Error('no master')
  const [first, last] = master.slots[0] as readonly [number, number]
  const keysOnMaster: string[] = []
  for (let n = 0; keysOnMaster.length < 2; n++) {
    const slot = Number(await cluster.command(master.port, 'CLUSTER', 'KEYSLOT', `probe-${n}`))
    if (slot >= first && slot <= last && (keysOnMaster.length === 0 || slot !== Number(await cluster.command(master.port, 'CLUSTER', 'KEYSLOT', keysOnMaster[0] as string)))) keysOnMaster.push(`probe-${n}`)
  }
  const [declared, undeclared] = keysOnMaster as [string, string]
  const body = `redis.call('SET', KEYS[1], '1'); return redis.call('GET', ARGV[1])`
  const node = client.nodes('master').find((candidate) => candidate.options.port === master.port)
  if (node === undefined) throw new Error('no connection to the master')
  t.equal(await node.eval(body, 1, declared, undeclared), null, 'without a shebang the undeclared key of another slot is read')
  await t.rejects(node.eval(`#!lua\n${body}`, 1, declared, undeclared), /cross.?slot|same slot|undeclared/i, 'with it, Redis refuses')
  t.ok(INGEST_BATCH_LUA.startsWith('#!lua\n'), 'and the ingest script carries it')
})

t.test('the shard count is stored at first start; another one refuses to start, saying why', async (t) => {
  await backend(t, 'stored-shards', 8).start()
  const other = backend(t, 'stored-shards', 16)
  const error = await other.start().then(() => undefined, (caught: unknown) => caught)
  t.type(error, RedisSetupError)
  t.match((error as Error).message, /queue\.shards is 16, but this cluster's keys \(prefix stored-shards\) were laid out in 8 shards at the first start/)
  await t.rejects(other.enqueue(eventRequest('after-refusal')), RedisSetupError, 'and it writes nothing')
  await backend(t, 'stored-shards', 8).start()
  t.pass('the stored count starts again')
})

t.test('dead letters, counts and replay across shards, through the admin API', async (t) => {
  const receiver = await startReceiver(t, 400)
  const gateway = await gatewayOn(t, tempDir(t), `  redis_cluster: { nodes: ${JSON.stringify(cluster.urls.slice(0, 1))} }\n  shards: 8`, {
    yaml: `admin: { token: "${ADMIN_TOKEN}" }\n`,
    sinks: webhookSinkYaml('hook', receiver),
    routes: '  - { name: all, match: {}, sinks: [hook] }'
  })
  const dispatcher = new Agent()
  t.teardown(async () => await dispatcher.close())
  const events = Array.from({ length: 40 }, () => sampleEvent())
  for (const event of events) t.equal((await sendEvent(gateway.url, dispatcher, event)).status, 200)
  const admin = async (method: string, path: string): Promise<Record<string, unknown>> => {
    const response = await fetch(`${gateway.process.management}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    return await response.json() as Record<string, unknown>
  }
  await eventually(async () => {
    const queues = await admin('GET', '/admin/queues') as { queues: { hook: { failed: number } } }
    return queues.queues.hook.failed >= 1 ? true : undefined
  }, 20_000, 'dead letters')
  const shards = new Keyspace(gateway.prefix, 8, true)
  const used = new Set(events.map((event) => shards.shardOf('customerio', String(event.event_id))))
  t.ok(used.size > 3, `the events fell in ${used.size} of 8 shards`)
  const failed = await eventually(async () => {
    const answer = await admin('GET', '/admin/queues/hook/failed?limit=1000') as { dead_letters: Array<{ event_id: string }> }
    return answer.dead_letters.length === events.length ? answer : undefined
  }, 20_000, 'every event dead-lettered')
  t.same(failed.dead_letters.map((letter) => letter.event_id).sort(), events.map((event) => String(event.event_id)).sort(), 'the dead letters of every shard')
  receiver.status = 200
  t.same(await admin('POST', '/admin/queues/hook/retry'), { sink: 'hook', retried: events.length }, 'replay walks every shard')
  await eventually(() => receiver.delivered.length >= events.length ? true : undefined, 20_000, 'the replayed events delivered')
})

t.test('a cluster that requires a password, given as ${VAR}: events stored and delivered, the password in no log', async (t) => {
  const secured = await startCluster(t, { password: 'cluster-nodes-secret' })
  const gateway = await gatewayOn(t, tempDir(t), `  redis_cluster: { nodes: ${JSON.stringify(secured.urls.slice(0, 1))}, password: "\${REDIS_PASSWORD}" }`,
    { env: { REDIS_PASSWORD: 'cluster-nodes-secret' } })
  const dispatcher = new Agent()
  t.teardown(async () => await dispatcher.close())
  const answer = await sendEvent(gateway.url, dispatcher)
  t.equal(answer.status, 200, answer.body)
  await eventually(() => missingFromFileSink(gateway.eventsDir, [answer.id]).length === 0 ? true : undefined, 10_000, 'the event delivered')
  t.notMatch(gateway.process.output(), /cluster-nodes-secret/, 'no password in the logs or the banner')
})
