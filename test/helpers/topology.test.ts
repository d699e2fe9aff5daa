/**
 * The topology helper against real servers: a cluster and a Sentinel setup form, fail over when a
 * master is killed or frozen, take the old one back as a replica, and leave no process behind.
 * The timings each test prints (t.comment) are for choosing timeouts, not assertions.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { Cluster, Redis } from 'ioredis'
import { eventually } from './app.js'
import { startCluster, startSentinel, type ClusterNode, type RedisCluster } from './topology.js'

/** Whether a process with this pid runs (signal 0 checks without signalling). */
function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // The servers of a test process that died are orphans; killed, each stays a zombie until PID 1
  // reaps it, which the PID 1 of some containers never does. A zombie runs nothing.
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return !existsSync('/proc')
  }
}

/** A key that hashes to one of the slots `master` serves, asked from the cluster itself. */
async function keyServedBy (cluster: RedisCluster, master: ClusterNode): Promise<string> {
  for (let i = 0; ; i++) {
    const slot = Number(await cluster.command(master.port, 'CLUSTER', 'KEYSLOT', `topology:${i}`))
    if (master.slots.some(([first, last]) => slot >= first && slot <= last)) return `topology:${i}`
  }
}

/** Resolves once `write` succeeds, retrying after each failure, with the ms since `since`. */
async function firstSuccess (write: () => Promise<unknown>, since: number): Promise<number> {
  let lastError = ''
  await eventually(async () => await write().then(() => true, (error: Error) => { lastError = error.message }), 30_000, 'a successful write')
    .catch((error: Error) => { throw new Error(`${error.message}; last error: ${lastError}`) })
  return Date.now() - since
}

/**
 * Disconnects an ioredis Cluster that refreshes its slots on a timer. ioredis 5.11 arms that timer
 * again when a refresh under way at disconnect() ends (about 1 in 10 disconnects with a 20 ms
 * interval), and the timer then keeps the process alive until tap times it out. A second
 * disconnect once such a refresh is over (slotsRefreshTimeout, 1 s by default) clears it.
 */
async function disconnectRefreshingCluster (client: Cluster): Promise<void> {
  client.disconnect()
  await new Promise((resolve) => setTimeout(resolve, 1100))
  client.disconnect()
}

/** A client for a server that wants a password, sent nothing but the command, not retried. */
function clientWithoutPassword (t: Test, url: string): Redis {
  const client = new Redis(url, { lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => { /* the command's rejection is what the test checks */ })
  t.teardown(() => client.disconnect())
  return client
}

t.test('a 3-master, 3-replica cluster serves keys on every master; a killed master is replaced by its replica and rejoins as its replica', async (t) => {
  const formStart = Date.now()
  const cluster = await startCluster(t, { masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1000 })
  const formMs = Date.now() - formStart

  const nodes = await cluster.nodes()
  const masters = nodes.filter((node) => node.role === 'master')
  t.equal(masters.length, 3, '3 masters')
  t.same(masters.flatMap((master) => master.slots).sort((a, b) => a[0] - b[0]), [[0, 5460], [5461, 10922], [10923, 16383]], 'that share the 16384 slots')
  t.same(masters.map((master) => nodes.filter((node) => node.masterPort === master.port).length), [1, 1, 1], 'each with one replica')
  t.equal(cluster.urls.length, 6)
  t.match(cluster.urls[0], /^redis:\/\/127\.0\.0\.1:\d+$/)

  // Default options: a refused connection and MOVED make the client refresh its slot map.
  const client = new Cluster(cluster.startupNodes)
  client.on('error', () => { /* node errors during the failover: the writes below report what matters */ })
  t.teardown(() => client.disconnect())
  const keys = Array.from({ length: 300 }, (_, i) => `topology:key:${i}`)
  await Promise.all(keys.map(async (key, i) => await client.set(key, String(i))))
  const counts = await Promise.all(masters.map(async (master) => Number(await cluster.command(master.port, 'DBSIZE'))))
  t.ok(counts.every((count) => count > 0), `keys on every master: ${counts.join(', ')}`)
  t.equal(counts.reduce((sum, count) => sum + count, 0), 300)

  const victim = masters[0] as ClusterNode
  const replica = nodes.find((node) => node.masterPort === victim.port) as ClusterNode
  t.equal(await cluster.masterOf(victim.slots[0]?.[0] as number).then((node) => node.port), victim.port, 'masterOf names the master of a slot')
  // Replication is asynchronous: let the replica catch up so that the check below can ask for every key.
  await eventually(async () => await cluster.command(replica.port, 'DBSIZE') === await cluster.command(victim.port, 'DBSIZE') ? true : undefined)
  const key = await keyServedBy(cluster, victim)

  const killedAt = Date.now()
  await cluster.kill(victim.port)
  t.equal(cluster.pids().length, 5, 'the killed node has no process')
  const promoted = await cluster.waitForFailover(victim, 15_000)
  const promotedMs = Date.now() - killedAt
  t.equal(promoted.port, replica.port, 'its replica serves its slots')
  t.same(promoted.slots, victim.slots)
  const clientMs = await firstSuccess(async () => await client.set(key, 'after the failover'), killedAt)
  t.same(await Promise.all(keys.map(async (key) => await client.get(key))), keys.map((_, i) => String(i)), 'every key survived')

  const restartAt = Date.now()
  await cluster.restart(victim.port)
  const healed = await cluster.waitForHealthy(30_000)
  const rejoinMs = Date.now() - restartAt
  const rejoined = healed.find((node) => node.port === victim.port)
  t.equal(rejoined?.role, 'replica', 'the restarted node rejoined as a replica')
  t.equal(rejoined?.masterPort, promoted.port, 'of the node that took its place')
  t.comment(`cluster: formed in ${formMs} ms; kill → replica promoted ${promotedMs} ms, ioredis Cluster writes again ${clientMs} ms; restart → healthy ${rejoinMs} ms`)
})

t.test('a cluster master frozen with DEBUG SLEEP is replaced by its replica and becomes its replica when it wakes', async (t) => {
  const cluster = await startCluster(t)
  const [victim] = await cluster.masters() as [ClusterNode]
  const replica = (await cluster.replicasOf(victim.port))[0] as ClusterNode
  // A command timeout and the periodic slot refresh are what move this client off a node that
  // keeps its connections open and answers nothing.
  const client = new Cluster(cluster.startupNodes, { slotsRefreshInterval: 1000, redisOptions: { commandTimeout: 1000 } })
  client.on('error', () => { /* see the writes */ })
  t.teardown(async () => await disconnectRefreshingCluster(client))
  const key = await keyServedBy(cluster, victim)
  await client.set(key, 'before')

  // Longer than a failover takes with the 1 s node timeout (about 2.5 s), with room for a busy machine.
  const frozenAt = Date.now()
  const frozen = await cluster.freeze(victim.port, 8000)
  let awake = false
  frozen.thawed.then(() => { awake = true }, () => { awake = true })
  t.equal(await cluster.command(replica.port, 'PING'), 'PONG', 'the other nodes still answer')
  const promoted = await cluster.waitForFailover(victim, 15_000)
  const promotedMs = Date.now() - frozenAt
  t.equal(promoted.port, replica.port, 'its replica serves its slots')
  const clientMs = await firstSuccess(async () => await client.set(key, 'during the freeze'), frozenAt)
  t.notOk(awake, 'the client wrote to the new master while the old one still slept')

  await frozen.thawed
  const healed = await cluster.waitForHealthy(30_000)
  const woken = healed.find((node) => node.port === victim.port)
  t.equal(woken?.role, 'replica', 'the woken node is a replica')
  t.equal(woken?.masterPort, promoted.port)
  t.equal(await client.get(key), 'during the freeze', 'what was written during the freeze is kept')
  t.comment(`cluster freeze: replica promoted ${promotedMs} ms after the freeze began, ioredis Cluster writes again ${clientMs} ms`)
})

t.test('a primary with 2 replicas and 3 sentinels: a killed primary is replaced, clients follow, and it returns as a replica', async (t) => {
  const formStart = Date.now()
  const setup = await startSentinel(t, { replicas: 2, sentinels: 3, downAfterMs: 2000, failoverTimeoutMs: 5000 })
  const formMs = Date.now() - formStart
  const [first, ...replicas] = setup.dataNodes
  t.equal(await setup.currentPrimary(), first, 'the sentinels name the primary')
  t.equal(setup.sentinels.length, 3)
  t.equal(setup.sentinelUrls.length, 3)

  // No failoverDetector here: a client whose primary died is reconnecting anyway, and ioredis 5.11
  // ends a client for good (status 'end') when +switch-master arrives in the middle of a reconnect.
  const client = new Redis({ sentinels: setup.sentinels, name: setup.name })
  client.on('error', () => { /* reconnects during the failover */ })
  t.teardown(() => client.disconnect())
  await client.set('topology:before', 'kept')
  t.equal(await client.wait(2, 1000), 2, 'both replicas acknowledged the write')

  const killedAt = Date.now()
  const killed = await setup.killPrimary()
  t.equal(killed, first)
  const next = await setup.waitForFailover(killed, 15_000)
  const failoverMs = Date.now() - killedAt
  t.ok(replicas.includes(next), `a former replica is the primary (${next})`)
  const clientMs = await firstSuccess(async () => await client.set('topology:after', 'written'), killedAt)
  t.match(await client.info('server'), `tcp_port:${next}\r\n`, 'the client writes to the new primary')
  t.equal(await client.get('topology:before'), 'kept', 'an acknowledged write survived')

  const restartAt = Date.now()
  await setup.restart(killed)
  t.equal(await setup.waitForHealthy(60_000), next, 'the primary stays')
  const rejoinMs = Date.now() - restartAt
  t.match(String(await setup.command(killed, 'ROLE')), new RegExp(`^slave,127\\.0\\.0\\.1,${next},connected`), 'the old primary came back as its replica')
  t.comment(`sentinel: formed in ${formMs} ms; kill → sentinels name the new primary ${failoverMs} ms, ioredis writes again ${clientMs} ms; restart → its replica, healthy ${rejoinMs} ms`)
})

t.test('a primary frozen with DEBUG SLEEP is failed over, clients with failoverDetector follow, and it wakes as a replica', async (t) => {
  const setup = await startSentinel(t)
  const client = new Redis({ sentinels: setup.sentinels, name: setup.name, failoverDetector: true })
  client.on('error', () => { /* see the writes */ })
  t.teardown(() => client.disconnect())
  await client.set('topology:before', 'kept')

  // Longer than a failover takes with down-after 2 s (about 4.5 s), with room for a busy machine.
  const frozenAt = Date.now()
  const frozen = await setup.freezePrimary(10_000)
  const next = await setup.waitForFailover(frozen.port, 15_000)
  const failoverMs = Date.now() - frozenAt
  t.not(next, frozen.port)
  // failoverDetector: the client hears +switch-master and reconnects, instead of waiting for the
  // old primary to wake up and take writes that its demotion will then throw away.
  const clientMs = await firstSuccess(async () => {
    await client.set('topology:during', 'written')
    const info = await client.info('server')
    if (!info.includes(`tcp_port:${next}\r\n`)) throw new Error('written to the old primary')
  }, frozenAt)

  await frozen.thawed
  t.equal(await setup.waitForHealthy(60_000), next, 'the primary stays')
  t.match(String(await setup.command(frozen.port, 'ROLE')), new RegExp(`^slave,127\\.0\\.0\\.1,${next},`), 'the woken primary is its replica')
  t.equal(await client.get('topology:during'), 'written')
  t.comment(`sentinel freeze: sentinels name the new primary ${failoverMs} ms after the freeze began, ioredis (failoverDetector) writes there ${clientMs} ms`)
})

t.test('passwords: nodes refuse clients without them; sentinels use them to watch, talk to each other and fail over', async (t) => {
  const cluster = await startCluster(t, { masters: 3, replicasPerMaster: 0, password: 'node-secret' })
  await t.rejects(clientWithoutPassword(t, cluster.urls[0] as string).ping(), /NOAUTH/, 'a cluster node wants the password')
  const clusterClient = new Cluster(cluster.startupNodes, { redisOptions: { password: 'node-secret' } })
  t.teardown(() => clusterClient.disconnect())
  await clusterClient.set('topology:auth', 'ok')
  t.equal(await clusterClient.get('topology:auth'), 'ok', 'a cluster client with the password works')

  const setup = await startSentinel(t, { replicas: 1, sentinels: 3, password: 'data-secret', sentinelPassword: 'sentinel-secret' })
  await t.rejects(clientWithoutPassword(t, setup.sentinelUrls[0] as string).ping(), /NOAUTH/, 'a sentinel wants its own password')
  await t.rejects(clientWithoutPassword(t, setup.url(setup.dataNodes[0] as number)).ping(), /NOAUTH/, 'so does the primary')
  const client = new Redis({ sentinels: setup.sentinels, name: setup.name, password: 'data-secret', sentinelPassword: 'sentinel-secret' })
  client.on('error', () => { /* reconnects during the failover */ })
  t.teardown(() => client.disconnect())
  await client.set('topology:auth', 'ok')
  const killed = await setup.killPrimary()
  const next = await setup.waitForFailover(killed, 15_000)
  t.equal(next, setup.dataNodes[1], 'the replica took over')
  await firstSuccess(async () => await client.set('topology:auth', 'after'), Date.now())
  t.equal(await client.get('topology:auth'), 'after', 'a Sentinel client with both passwords follows')
})

t.test('teardown kills every server the topologies started', async (t) => {
  let pids: number[] = []
  await t.test('a test that starts a cluster and a Sentinel setup', async (t) => {
    const cluster = await startCluster(t, { masters: 3, replicasPerMaster: 0 })
    const setup = await startSentinel(t, { replicas: 1, sentinels: 1 })
    pids = [...cluster.pids(), ...setup.pids()]
    t.equal(pids.length, 3 + 2 + 1)
    t.ok(pids.every(alive), 'all running')
  })
  t.same(pids.filter(alive), [], 'none left after its teardown')
})

t.test('a test process killed with SIGKILL leaves no server behind', async (t) => {
  // A child test process (with this one's TypeScript loader) starts a Sentinel setup, says its pids,
  // and is killed before any teardown can run: only the watchdog can clean up.
  const script = `
    import { startSentinel } from ${JSON.stringify(new URL('./topology.ts', import.meta.url).href)}
    const setup = await startSentinel({ teardown () {} }, { replicas: 1, sentinels: 1 })
    console.log(JSON.stringify(setup.pids()))
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const pids = await eventually(() => output.includes('\n') ? JSON.parse(output) as number[] : undefined, 30_000, 'the child to start its servers')
  t.equal(pids.length, 3)
  t.ok(pids.every(alive), 'its servers run')
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  await eventually(() => pids.some(alive) ? undefined : true, 5000, 'the servers to be gone')
  t.same(pids.filter(alive), [], 'none left')
})
