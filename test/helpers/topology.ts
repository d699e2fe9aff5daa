/**
 * Real Redis topologies for tests, from the installed redis-server: a Redis Cluster
 * (startCluster) and a primary with replicas watched by Sentinels (startSentinel). Every server
 * runs on 127.0.0.1 on a port of its own (freeRedisPort), with its own directory, config file and
 * log, nothing saved to disk. stop() runs in the test's teardown; a watchdog (below) kills whatever
 * is left when the test process ends any other way.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { eventually, type Teardownable } from './app.js'
import { freeRedisPort } from './private-redis.js'

/**
 * One watchdog process per test process holds the pids of the servers still running and the
 * topologies' directories, and kills and removes them when its stdin closes, which the kernel does
 * however the test process ends: teardown skipped by an exception, `exit`, the SIGALRM and then
 * SIGKILL with which tap ends a timed-out test, a crash. An 'exit' or SIGALRM listener in this
 * process (as test/helpers/process.ts has) would miss the SIGKILL and the signals Node does not turn
 * into 'exit'. It ignores the terminal's SIGINT and SIGHUP so that Ctrl-C, which reaches the whole
 * process group, still leaves it alive to clean up.
 */
const WATCHDOG = `
const pids = new Set()
const dirs = new Set()
let pending = ''
for (const signal of ['SIGINT', 'SIGHUP']) process.on(signal, () => {})
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  const lines = (pending + chunk).split('\\n')
  pending = lines.pop()
  for (const line of lines) {
    const space = line.indexOf(' ')
    const verb = line.slice(0, space)
    const arg = line.slice(space + 1)
    if (verb === 'pid') pids.add(Number(arg))
    else if (verb === 'exited') pids.delete(Number(arg))
    else if (verb === 'dir') dirs.add(arg)
    else if (verb === 'removed') dirs.delete(arg)
  }
})
process.stdin.on('end', () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
  for (const dir of dirs) require('node:fs').rmSync(dir, { recursive: true, force: true })
})
`
let watchdogInput: NodeJS.WritableStream | undefined

function tellWatchdog (line: string): void {
  if (watchdogInput === undefined) {
    // A clean environment: tap's NODE_OPTIONS (its TypeScript loader) would only slow it down.
    const watchdog = spawn(process.execPath, ['-e', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], env: { PATH: process.env.PATH } })
    // Neither the process nor the pipe to it may keep the test process from ending.
    watchdog.unref()
    if (watchdog.stdin instanceof Socket) watchdog.stdin.unref()
    watchdogInput = watchdog.stdin
  }
  watchdogInput.write(`${line}\n`)
}

/** Spawns a command whose pid the watchdog holds until it exits. */
function spawnWatched (command: string, args: readonly string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  child.once('error', () => { /* ENOENT and the like: reported by the caller's wait */ })
  const pid = child.pid
  if (pid !== undefined) {
    tellWatchdog(`pid ${pid}`)
    child.once('exit', () => tellWatchdog(`exited ${pid}`))
  }
  return child
}

const HOST = '127.0.0.1'

/** One redis-server (a data node or a Sentinel) started from the config file in its directory. */
class RedisServer {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private admin: Redis | undefined

  constructor (readonly port: number, readonly dir: string, readonly sentinel: boolean, private readonly password: string | undefined) {}

  get configFile (): string { return join(this.dir, this.sentinel ? 'sentinel.conf' : 'redis.conf') }
  get logFile (): string { return join(this.dir, 'server.log') }
  get url (): string { return `redis://${HOST}:${this.port}` }
  get pid (): number | undefined { return this.running ? this.child?.pid : undefined }
  get running (): boolean { return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null }

  /** Starts the server and resolves once it answers PING. */
  async start (timeoutMs = 10_000): Promise<void> {
    const child = spawnWatched('redis-server', this.sentinel ? [this.configFile, '--sentinel'] : [this.configFile])
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    await eventually(async () => {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited: ${output}${this.logTail()}`)
      return await this.call('PING').then(() => true, () => undefined)
    }, timeoutMs, `redis-server on port ${this.port} to answer PING`)
  }

  /** SIGKILL, as an OOM kill or a lost machine would; resolves once the process is gone. */
  async kill (): Promise<void> {
    this.dropAdmin()
    if (this.running) this.child?.kill('SIGKILL')
    await this.exited
  }

  /**
   * One command on this server over a connection kept for such calls, with a short timeout so that a
   * frozen or dead server fails the call instead of hanging it. After an error the connection is
   * dropped and the next call opens a fresh one.
   */
  async call (command: string, ...args: string[]): Promise<unknown> {
    const admin = this.admin ?? this.connect({ commandTimeout: 2000 })
    this.admin = admin
    try {
      return await admin.call(command, ...args)
    } catch (error) {
      this.dropAdmin()
      throw error
    }
  }

  /** A connection of its own (not retried), for a caller that disconnects it. */
  connect (options: { commandTimeout?: number } = {}): Redis {
    const client = new Redis({
      host: HOST, port: this.port, password: this.password, lazyConnect: true, connectTimeout: 2000,
      maxRetriesPerRequest: 0, retryStrategy: () => null, ...options
    })
    client.on('error', () => { /* the failed command reports it */ })
    return client
  }

  logTail (lines = 20): string {
    let text: string
    try { text = readFileSync(this.logFile, 'utf8') } catch { text = '(no log file)' }
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n')
    return `\n--- ${this.sentinel ? 'sentinel' : 'redis-server'} ${this.port} (${this.logFile}) ---\n${tail}`
  }

  private dropAdmin (): void {
    this.admin?.disconnect()
    this.admin = undefined
  }
}

/** A node put to sleep with DEBUG SLEEP. */
export interface Frozen {
  readonly port: number
  /** Resolves when the node answers again; rejects if its connection died meanwhile. */
  readonly thawed: Promise<void>
}

interface ServerSettings {
  readonly sentinel: boolean
  readonly password: string | undefined
  /** Config file lines after port, bind, dir and logfile. */
  readonly config: readonly string[]
}

/** The servers of one topology and what tests do to any of them: kill, restart, freeze, stop. */
abstract class Topology {
  protected readonly servers = new Map<number, RedisServer>()
  private readonly root = mkdtempSync(join(tmpdir(), 'cio-gw-topology-'))
  private stopped = false

  constructor () {
    tellWatchdog(`dir ${this.root}`)
  }

  /** Every server started and not killed (pids for the check that teardown leaves none). */
  pids (): number[] {
    return [...this.servers.values()].flatMap((server) => server.pid === undefined ? [] : [server.pid])
  }

  url (port: number): string {
    return this.server(port).url
  }

  /** One command on one server (INFO, DBSIZE, CONFIG SET …), with the topology's password. */
  async command (port: number, command: string, ...args: string[]): Promise<unknown> {
    return await this.server(port).call(command, ...args)
  }

  /** SIGKILL one server; resolves once its process is gone. */
  async kill (port: number): Promise<void> {
    await this.server(port).kill()
  }

  /** Starts a killed server again on its port, from its config file as the server last rewrote it. */
  async restart (port: number): Promise<void> {
    const server = this.server(port)
    if (server.running) throw new Error(`server ${port} is running: kill it before restarting it`)
    await server.start()
  }

  /** Puts a server to sleep for `ms` with DEBUG SLEEP: alive, connected, and answering nothing. */
  async freeze (port: number, ms: number): Promise<Frozen> {
    const client = this.server(port).connect()
    await client.connect()
    // The command is written at once on a ready connection, so the node is asleep when this resolves.
    const thawed = client.call('DEBUG', 'SLEEP', String(ms / 1000)).then(() => undefined).finally(() => client.disconnect())
    thawed.catch(() => { /* the caller awaits `thawed` for the outcome */ })
    return { port, thawed }
  }

  /** Kills every server and removes their directories. Safe to call twice. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await Promise.all([...this.servers.values()].map(async (server) => await server.kill()))
    rmSync(this.root, { recursive: true, force: true })
    tellWatchdog(`removed ${this.root}`)
  }

  /** The last lines of every server's log, for errors that say why a topology did not form or heal. */
  logs (): string {
    return [...this.servers.values()].map((server) => server.logTail()).join('')
  }

  protected server (port: number): RedisServer {
    const server = this.servers.get(port)
    if (server === undefined) throw new Error(`no server of this topology listens on ${port} (ports: ${[...this.servers.keys()].join(', ')})`)
    return server
  }

  protected running (): RedisServer[] {
    return [...this.servers.values()].filter((server) => server.running)
  }

  /** Starts a server on a fresh port; another port is tried if a parallel test took this one meanwhile. */
  protected async launch (settings: ServerSettings): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const port = await freeRedisPort()
      const dir = join(this.root, String(port))
      mkdirSync(dir)
      const server = new RedisServer(port, dir, settings.sentinel, settings.password)
      writeFileSync(server.configFile, [
        `port ${port}`, `bind ${HOST}`, `dir ${dir}`, `logfile ${server.logFile}`, ...settings.config
      ].join('\n') + '\n')
      this.servers.set(port, server)
      try {
        await server.start()
        return server
      } catch (error) {
        if (attempt >= 3 || !server.logTail().includes('Address already in use')) throw error
        this.servers.delete(port)
      }
    }
  }

  /** Polls `check` (which throws to say what is missing) until it returns, or fails with every log's tail. */
  protected async waitFor<T> (what: string, timeoutMs: number, check: () => Promise<T>): Promise<T> {
    let missing = ''
    try {
      return await eventually(async () => {
        try {
          return await check()
        } catch (error) {
          missing = error instanceof Error ? error.message : String(error)
          return undefined
        }
      }, timeoutMs, what)
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; last seen: ${missing}${this.logs()}`)
    }
  }
}

/** Settings every data node shares. */
function dataNodeConfig (password: string | undefined): string[] {
  return [
    'save ""',
    'appendonly no',
    // DEBUG SLEEP freezes a node; Redis 7 refuses DEBUG unless it is enabled, here for loopback only.
    'enable-debug-command local',
    // A replica's first sync would otherwise wait 5 s for more replicas to share the transfer.
    'repl-diskless-sync-delay 0',
    ...(password === undefined ? [] : [`requirepass "${password}"`, `masterauth "${password}"`])
  ]
}

/** The `field:value` lines of INFO or CLUSTER INFO. */
async function infoFields (server: RedisServer, command: string, ...args: string[]): Promise<Record<string, string>> {
  const fields: Record<string, string> = {}
  for (const line of String(await server.call(command, ...args)).split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1)
  }
  return fields
}

async function replicationInfo (server: RedisServer): Promise<Record<string, string>> {
  return await infoFields(server, 'INFO', 'replication')
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster

export interface ClusterOptions {
  /** Masters, each serving an equal share of the 16384 slots (at least 3, as redis-cli requires). */
  masters?: number
  replicasPerMaster?: number
  /** cluster-node-timeout: how long a node may not answer before it is taken for failed. */
  nodeTimeoutMs?: number
  /** requirepass and masterauth of every node. */
  password?: string
  /** How long formation may take before startCluster fails with the servers' logs. */
  formTimeoutMs?: number
}

/** One node as CLUSTER NODES describes it. */
export interface ClusterNode {
  readonly id: string
  readonly port: number
  readonly url: string
  readonly role: 'master' | 'replica'
  /** For a replica, its master's port. */
  readonly masterPort: number | undefined
  /** The slot ranges [first, last] a master serves (none for a replica). */
  readonly slots: ReadonlyArray<readonly [number, number]>
  /** As CLUSTER NODES lists them (master, slave, fail, fail?, …), less `myself`, which depends on who is asked. */
  readonly flags: readonly string[]
}

/** A cluster of masters and replicas; `startupNodes` is what ioredis `new Cluster(…)` takes. */
export class RedisCluster extends Topology {
  constructor (readonly options: Required<Omit<ClusterOptions, 'password'>> & Pick<ClusterOptions, 'password'>) {
    super()
  }

  get ports (): number[] { return [...this.servers.keys()] }
  get urls (): string[] { return this.ports.map((port) => this.url(port)) }
  get startupNodes (): Array<{ host: string, port: number }> { return this.ports.map((port) => ({ host: HOST, port })) }

  /** Starts the servers, joins them with `redis-cli --cluster create`, waits until all agree. */
  async form (): Promise<void> {
    const { masters, replicasPerMaster, nodeTimeoutMs, password } = this.options
    const config = [
      ...dataNodeConfig(password),
      'cluster-enabled yes',
      // Relative to `dir`: a restarted node reads the cluster state it wrote and rejoins as itself.
      'cluster-config-file nodes.conf',
      `cluster-node-timeout ${nodeTimeoutMs}`
    ]
    const servers = await Promise.all(Array.from({ length: masters * (1 + replicasPerMaster) }, async () =>
      await this.launch({ sentinel: false, password, config })))
    const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning']
    const create = spawnWatched('redis-cli', [
      '--cluster', 'create', ...servers.map((server) => `${HOST}:${server.port}`),
      '--cluster-replicas', String(replicasPerMaster), '--cluster-yes', ...auth
    ])
    let output = ''
    create.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    create.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const code = await new Promise<number | null>((resolve) => {
      create.once('error', () => resolve(null))
      create.once('exit', resolve)
    })
    if (code !== 0 || !output.includes('[OK] All 16384 slots covered')) {
      throw new Error(`redis-cli --cluster create failed (exit ${code}):\n${output}${this.logs()}`)
    }
    await this.waitForHealthy(this.options.formTimeoutMs)
  }

  /** The cluster as node `port` (by default the first running one) sees it. */
  async nodes (port?: number): Promise<ClusterNode[]> {
    const server = port === undefined ? this.running()[0] : this.server(port)
    if (server === undefined) throw new Error('no node of the cluster is running')
    return parseClusterNodes(String(await server.call('CLUSTER', 'NODES')))
  }

  async masters (): Promise<ClusterNode[]> {
    return (await this.nodes()).filter((node) => node.role === 'master' && node.slots.length > 0)
  }

  async replicasOf (masterPort: number): Promise<ClusterNode[]> {
    return (await this.nodes()).filter((node) => node.masterPort === masterPort)
  }

  /** The master serving `slot`, as the first running node sees it. */
  async masterOf (slot: number): Promise<ClusterNode> {
    const nodes = await this.nodes()
    const master = nodes.find((node) => node.slots.some(([first, last]) => slot >= first && slot <= last))
    if (master === undefined) throw new Error(`no master serves slot ${slot}`)
    return master
  }

  /**
   * Until every running node says cluster_state:ok, all of them agree on each running node's role,
   * master and slots, every slot is served by a running master, and every running replica is in
   * sync with its master. Killed nodes are left out (the others list them as failed). Resolves with
   * the nodes.
   */
  async waitForHealthy (timeoutMs = 30_000): Promise<ClusterNode[]> {
    return await this.waitFor('a healthy cluster', timeoutMs, async () => {
      const running = this.running()
      const runningPorts = new Set(running.map((server) => server.port))
      let agreed: { port: number, view: string, nodes: ClusterNode[] } | undefined
      for (const server of running) {
        const state = await infoFields(server, 'CLUSTER', 'INFO')
        if (state.cluster_state !== 'ok') throw new Error(`${server.port} says cluster_state:${state.cluster_state}`)
        const nodes = parseClusterNodes(String(await server.call('CLUSTER', 'NODES')))
        const live = nodes.filter((node) => runningPorts.has(node.port))
        if (live.length !== runningPorts.size) throw new Error(`${server.port} knows ${live.length} of the ${runningPorts.size} running nodes`)
        const troubled = live.find((node) => node.flags.some((flag) => ['fail', 'fail?', 'handshake', 'noaddr'].includes(flag)))
        if (troubled !== undefined) throw new Error(`${server.port} sees running node ${troubled.port} as ${troubled.flags.join(',')}`)
        const dead = nodes.find((node) => node.slots.length > 0 && !runningPorts.has(node.port))
        if (dead !== undefined) throw new Error(`${server.port} sees slots served by ${dead.port}, which is not running`)
        const served = live.reduce((sum, node) => sum + node.slots.reduce((count, [first, last]) => count + last - first + 1, 0), 0)
        if (served !== 16384) throw new Error(`${server.port} sees ${served} of the 16384 slots served`)
        // A restarted master learns that it lost its slots before it turns into a replica: roles count too.
        const view = live.map((node) => `${node.port} ${node.role} of ${node.masterPort ?? '-'} ${node.slots.map((range) => range.join('-')).join(',')}`).sort().join('; ')
        if (agreed !== undefined && agreed.view !== view) throw new Error(`${agreed.port} sees ${agreed.view}, but ${server.port} sees ${view}`)
        agreed ??= { port: server.port, view, nodes }
      }
      if (agreed === undefined) throw new Error('no node of the cluster is running')
      for (const node of agreed.nodes) {
        if (node.role !== 'replica' || !runningPorts.has(node.port)) continue
        const replication = await replicationInfo(this.server(node.port))
        if (replication.master_link_status !== 'up') throw new Error(`replica ${node.port} is not in sync with its master (link ${replication.master_link_status})`)
      }
      return agreed.nodes
    })
  }

  /**
   * Until the slots `old` served are served by another node, as every running node but `old` sees
   * it, and that node answers as a master. `old` is a master as listed before it was killed or frozen.
   */
  async waitForFailover (old: ClusterNode, timeoutMs = 30_000): Promise<ClusterNode> {
    const slot = old.slots[0]?.[0]
    if (slot === undefined) throw new Error(`node ${old.port} served no slots`)
    return await this.waitFor(`another master for the slots of ${old.port}`, timeoutMs, async () => {
      let promoted: ClusterNode | undefined
      for (const server of this.running()) {
        if (server.port === old.port) continue
        const nodes = parseClusterNodes(String(await server.call('CLUSTER', 'NODES')))
        const owner = nodes.find((node) => node.slots.some(([first, last]) => slot >= first && slot <= last))
        if (owner === undefined || owner.port === old.port) throw new Error(`${server.port} still sees slot ${slot} on ${owner?.port ?? 'nobody'}`)
        if (promoted !== undefined && promoted.port !== owner.port) throw new Error(`${server.port} sees slot ${slot} on ${owner.port}, others on ${promoted.port}`)
        promoted ??= owner
      }
      if (promoted === undefined) throw new Error('no other node is running')
      const role = await replicationInfo(this.server(promoted.port))
      if (role.role !== 'master') throw new Error(`${promoted.port} serves slot ${slot} but says role:${role.role}`)
      return promoted
    })
  }
}

/** Parses CLUSTER NODES: `<id> <ip:port@bus[,hostname]> <flags> <master id|-> … <link> <slots…>`. */
function parseClusterNodes (text: string): ClusterNode[] {
  const rows = text.trim().split('\n').map((line) => line.trim().split(' '))
  const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':', address.indexOf('@')) + 1, address.indexOf('@')))
  const portById = new Map(rows.map((fields) => [fields[0] as string, portOf(fields[1] as string)]))
  return rows.map((fields) => {
    const flags = (fields[2] as string).split(',').filter((flag) => flag !== 'myself')
    const port = portOf(fields[1] as string)
    const replica = flags.includes('slave')
    // Slots being migrated appear as [slot->-id] or [slot-<-id]; only plain ranges are served.
    const slots = fields.slice(8).filter((field) => !field.startsWith('[')).map((field): readonly [number, number] => {
      const [first, last] = field.split('-').map(Number) as [number, number | undefined]
      return [first, last ?? first]
    })
    return {
      id: fields[0] as string,
      port,
      url: `redis://${HOST}:${port}`,
      role: replica ? 'replica' : 'master',
      masterPort: replica ? portById.get(fields[3] as string) : undefined,
      slots,
      flags
    }
  })
}

/** Starts a cluster (3 masters with a replica each by default), stopped in the test's teardown. */
export async function startCluster (t: Teardownable, options: ClusterOptions = {}): Promise<RedisCluster> {
  const cluster = new RedisCluster({
    masters: options.masters ?? 3,
    replicasPerMaster: options.replicasPerMaster ?? 1,
    nodeTimeoutMs: options.nodeTimeoutMs ?? 1000,
    formTimeoutMs: options.formTimeoutMs ?? 30_000,
    password: options.password
  })
  t.teardown(async () => await cluster.stop())
  await cluster.form()
  return cluster
}

// ---------------------------------------------------------------------------------------------
// Redis Sentinel

export interface SentinelOptions {
  replicas?: number
  sentinels?: number
  /** The name the sentinels monitor the primary under (ioredis `name`). */
  name?: string
  /**
   * down-after-milliseconds: how long the primary may not answer before a sentinel takes it for
   * down. Keep it above 1.5 s: a sentinel reconnects at most once a second, so right after a
   * failover it may not have pinged the new primary within 1 s; with 1000 it then took the new
   * primary for down too and failed over a second time (2 of about 26 failovers with 1000 here,
   * none of 16 each with 1500 and 2000).
   */
  downAfterMs?: number
  /** failover-timeout: bounds each failover step, and how soon a failed attempt is retried (twice it). */
  failoverTimeoutMs?: number
  /** requirepass and masterauth of the primary and replicas; the sentinels' auth-pass. */
  password?: string
  /** requirepass of the sentinels themselves (ioredis `sentinelPassword`). */
  sentinelPassword?: string
  formTimeoutMs?: number
}

/** A primary with replicas and the sentinels that watch it. */
export class RedisSentinel extends Topology {
  private readonly dataPorts: number[] = []
  private readonly sentinelPorts: number[] = []

  constructor (readonly options: Required<Omit<SentinelOptions, 'password' | 'sentinelPassword'>> & Pick<SentinelOptions, 'password' | 'sentinelPassword'>) {
    super()
  }

  get name (): string { return this.options.name }
  /** The primary and the replicas, as started (roles change with failovers: see currentPrimary). */
  get dataNodes (): number[] { return [...this.dataPorts] }
  /** What ioredis takes as `sentinels`. */
  get sentinels (): Array<{ host: string, port: number }> { return this.sentinelPorts.map((port) => ({ host: HOST, port })) }
  get sentinelUrls (): string[] { return this.sentinelPorts.map((port) => this.url(port)) }

  /** Starts the primary, then the replicas once it runs, then the sentinels once the replicas are in sync. */
  async form (): Promise<void> {
    const { replicas, sentinels, password, sentinelPassword, formTimeoutMs } = this.options
    const primary = await this.launch({ sentinel: false, password, config: dataNodeConfig(password) })
    this.dataPorts.push(primary.port)
    const replicaServers = await Promise.all(Array.from({ length: replicas }, async () => await this.launch({
      sentinel: false, password, config: [...dataNodeConfig(password), `replicaof ${HOST} ${primary.port}`]
    })))
    this.dataPorts.push(...replicaServers.map((server) => server.port))
    // A sentinel learns the replicas from the primary's INFO, which it reads at once and then every
    // 10 s: started before the replicas are attached, it could not fail over for those 10 s.
    await this.waitFor('replicas in sync with the primary', formTimeoutMs, async () => {
      const replication = await replicationInfo(primary)
      const online = Object.entries(replication).filter(([key, value]) => /^slave\d+$/.test(key) && value.includes('state=online')).length
      if (online !== replicas) throw new Error(`${online} of ${replicas} replicas online`)
      return online
    })
    const sentinelServers = await Promise.all(Array.from({ length: sentinels }, async () => await this.launch({
      sentinel: true,
      password: sentinelPassword,
      config: this.sentinelConfig(primary.port)
    })))
    this.sentinelPorts.push(...sentinelServers.map((server) => server.port))
    await this.waitForHealthy(formTimeoutMs)
  }

  /** The primary's port, as the first running sentinel names it (SENTINEL get-master-addr-by-name). */
  async currentPrimary (): Promise<number> {
    const sentinel = this.runningSentinels()[0]
    if (sentinel === undefined) throw new Error('no sentinel is running')
    return await this.primaryNamedBy(sentinel)
  }

  /** SIGKILLs the current primary; resolves with its port once it is gone. */
  async killPrimary (): Promise<number> {
    const port = await this.currentPrimary()
    await this.kill(port)
    return port
  }

  /** Freezes the current primary with DEBUG SLEEP (see freeze). */
  async freezePrimary (ms: number): Promise<Frozen> {
    return await this.freeze(await this.currentPrimary(), ms)
  }

  /**
   * Until every running sentinel names a primary other than `oldPort` (the same one) and that node
   * answers role:master. Resolves with its port.
   */
  async waitForFailover (oldPort: number, timeoutMs = 30_000): Promise<number> {
    return await this.waitFor(`a primary other than ${oldPort}`, timeoutMs, async () => {
      const named = await this.agreedPrimary()
      if (named === oldPort) throw new Error(`the sentinels still name ${oldPort}`)
      const role = await replicationInfo(this.server(named))
      if (role.role !== 'master') throw new Error(`the sentinels name ${named}, which says role:${role.role}`)
      return named
    })
  }

  /**
   * Until the running sentinels agree on a primary that answers as master, every other running data
   * node replicates from it in sync, and each sentinel knows those replicas and the other sentinels:
   * ready for the next failover. Resolves with the primary's port.
   */
  async waitForHealthy (timeoutMs = 30_000): Promise<number> {
    return await this.waitFor('a healthy Sentinel setup', timeoutMs, async () => {
      const primary = await this.agreedPrimary()
      const role = await replicationInfo(this.server(primary))
      if (role.role !== 'master') throw new Error(`the sentinels name ${primary}, which says role:${role.role}`)
      const replicas = this.running().filter((server) => !server.sentinel && server.port !== primary)
      for (const replica of replicas) {
        const replication = await replicationInfo(replica)
        if (replication.master_port !== String(primary) || replication.master_link_status !== 'up') {
          throw new Error(`${replica.port} replicates from ${replication.master_port ?? 'nobody'} (link ${replication.master_link_status})`)
        }
      }
      const sentinels = this.runningSentinels()
      for (const sentinel of sentinels) {
        const master = pairs(await sentinel.call('SENTINEL', 'MASTER', this.name))
        if (master.flags !== 'master') throw new Error(`sentinel ${sentinel.port} flags the primary ${master.flags}`)
        if (Number(master['num-other-sentinels']) < sentinels.length - 1) throw new Error(`sentinel ${sentinel.port} knows ${master['num-other-sentinels']} other sentinels`)
        const known = (await sentinel.call('SENTINEL', 'REPLICAS', this.name) as unknown[]).map(pairs)
        for (const replica of replicas) {
          const seen = known.find((entry) => entry.port === String(replica.port))
          if (seen === undefined || seen.flags !== 'slave') throw new Error(`sentinel ${sentinel.port} sees replica ${replica.port} as ${seen?.flags ?? 'unknown'}`)
        }
      }
      return primary
    })
  }

  private sentinelConfig (primaryPort: number): string[] {
    const { name, sentinels, downAfterMs, failoverTimeoutMs, password, sentinelPassword } = this.options
    return [
      `sentinel monitor ${name} ${HOST} ${primaryPort} ${Math.floor(sentinels / 2) + 1}`,
      `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
      `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
      `sentinel parallel-syncs ${name} 1`,
      ...(password === undefined ? [] : [`sentinel auth-pass ${name} "${password}"`]),
      // Sentinels talk to each other too, so with a password of their own they need it as clients.
      ...(sentinelPassword === undefined ? [] : [`requirepass "${sentinelPassword}"`, `sentinel sentinel-pass "${sentinelPassword}"`])
    ]
  }

  private runningSentinels (): RedisServer[] {
    return this.running().filter((server) => server.sentinel)
  }

  private async primaryNamedBy (sentinel: RedisServer): Promise<number> {
    const address = await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name) as [string, string] | null
    if (address === null) throw new Error(`sentinel ${sentinel.port} does not know ${this.name}`)
    return Number(address[1])
  }

  private async agreedPrimary (): Promise<number> {
    const sentinels = this.runningSentinels()
    if (sentinels.length === 0) throw new Error('no sentinel is running')
    const named = await Promise.all(sentinels.map(async (sentinel) => await this.primaryNamedBy(sentinel)))
    if (new Set(named).size !== 1) throw new Error(`the sentinels name different primaries: ${named.join(', ')}`)
    return named[0] as number
  }
}

/** SENTINEL MASTER / REPLICAS replies are flat [field, value, …] lists. */
function pairs (reply: unknown): Record<string, string> {
  const list = reply as string[]
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i] as string] = list[i + 1] as string
  return fields
}

/** Starts a primary with replicas and sentinels (2 and 3 by default), stopped in the test's teardown. */
export async function startSentinel (t: Teardownable, options: SentinelOptions = {}): Promise<RedisSentinel> {
  const topology = new RedisSentinel({
    replicas: options.replicas ?? 2,
    sentinels: options.sentinels ?? 3,
    name: options.name ?? 'cio-gateway',
    downAfterMs: options.downAfterMs ?? 2000,
    failoverTimeoutMs: options.failoverTimeoutMs ?? 5000,
    formTimeoutMs: options.formTimeoutMs ?? 30_000,
    password: options.password,
    sentinelPassword: options.sentinelPassword
  })
  t.teardown(async () => await topology.stop())
  await topology.form()
  return topology
}
