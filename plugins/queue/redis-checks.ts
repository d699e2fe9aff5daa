/**
 * What the gateway checks of the Redis it is given, at start and then every second:
 *   - at start, every primary runs Redis 7 or newer (the ingest script's `#!lua` shebang needs it);
 *   - at start, a cluster's shard count matches the one stored at its first start (keyspace.ts): a
 *     different count would put an event's copies in another shard than its dedupe mark;
 *   - at start, warnings an operator needs: no persistence (a Redis restart loses every queued event,
 *     the acks included) and a `maxmemory-policy` other than `noeviction` (Redis would evict queued
 *     jobs and dedupe marks under memory pressure, which BullMQ does not survive);
 *   - every second, how many replicas each primary has online, so that `replicas_ack` waits for no
 *     more than there are (just after a failover, the promoted replica may have none).
 */
import type { Cluster, Redis } from 'ioredis'
import type { Logger } from '../../src/logger.js'
import type { Keyspace } from './keyspace.js'
import type { ReplicaRequirement } from './merged-enqueue.js'
import type { RedisClient } from './redis-topology.js'
import { withTimeout } from './timeout.js'

/** Raised when the gateway must not run on this Redis; the message says why and what to do. */
export class RedisSetupError extends Error {
  override readonly name = 'RedisSetupError'
}

const MINIMUM_MAJOR_VERSION = 7

/** The primaries: every master of a cluster, or the one node a client talks to. */
export function primariesOf (client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client]
}

export function isCluster (client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true
}

/** A Cluster says `connect` once its slot map is known (or `ready` after its ready check); a single connection says `ready`. */
export function isConnected (client: RedisClient): boolean {
  return client.status === 'ready' || (isCluster(client) && client.status === 'connect')
}

function nodeName (node: Redis): string {
  return `${node.options.host ?? 'localhost'}:${node.options.port ?? 6379}`
}

/** `field:value` lines of an INFO answer. */
export function infoFields (text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1))
  }
  return fields
}

export async function verifyRedis (client: RedisClient, keyspace: Keyspace, logger: Logger): Promise<void> {
  for (const node of primariesOf(client)) {
    const info = infoFields(await node.info())
    const name = nodeName(node)
    const version = info.get('redis_version') ?? '0'
    if (Number(version.split('.')[0]) < MINIMUM_MAJOR_VERSION) {
      throw new RedisSetupError(`Redis at ${name} runs ${version}; cio-gateway needs Redis ${MINIMUM_MAJOR_VERSION}.0 or newer (or Valkey 7.2+): its ingest script uses Redis 7 script flags`)
    }
    const policy = info.get('maxmemory_policy')
    if (policy !== undefined && policy !== 'noeviction') {
      logger.warn({ redis: name, maxmemory_policy: policy }, `Redis evicts keys under memory pressure (maxmemory-policy ${policy}): queued events and dedupe marks may vanish. Set maxmemory-policy noeviction (BullMQ requires it)`)
    }
    if (info.get('aof_enabled') === '0' && (await savePoints(node)) === '') {
      logger.warn({ redis: name }, 'Redis keeps nothing on disk (appendonly no, no save points): if it restarts, every queued event is lost, acked ones included. Enable appendonly (appendfsync everysec) or rely on replicas with replicas_ack')
    }
  }
  if (keyspace.clustered) await checkShardCount(client, keyspace)
}

/** The `save` setting, or undefined where CONFIG is not allowed (managed Redis renames it). */
async function savePoints (node: Redis): Promise<string | undefined> {
  try {
    const answer = await node.config('GET', 'save') as string[]
    return answer[1] ?? ''
  } catch {
    return undefined
  }
}

async function checkShardCount (client: RedisClient, keyspace: Keyspace): Promise<void> {
  await client.hsetnx(keyspace.metaKey, 'shards', String(keyspace.shards))
  const stored = Number(await client.hget(keyspace.metaKey, 'shards'))
  if (stored !== keyspace.shards) {
    throw new RedisSetupError(`queue.shards is ${keyspace.shards}, but this cluster's keys (prefix ${keyspace.prefix}) were laid out in ${stored} shards at the first start. ` +
      `Changing it would put new copies of events in other shards than their dedupe marks for a whole dedupe window. Set queue.shards: ${stored}, or start on a new queue.prefix once the old queues are drained`)
  }
}

/**
 * How many healthy replicas each primary of a cluster has, so that a write waits (replicas_ack) for
 * no more than exist: just after a failover the promoted replica may have none, and waiting for one
 * would refuse every write to its shards until the old primary comes back. "Healthy" is the
 * cluster's own verdict, not the replication link of the moment: a replica that CLUSTER NODES does
 * not flag as failing counts even while its link is down (the write then waits and is refused, safe);
 * it stops counting once the cluster declares it failed (after cluster-node-timeout).
 *
 * On one node or behind Sentinel every write waits for replicas_ack, however many replicas are
 * online: there a primary with none may be one that was frozen, replaced and woke up, whose writes
 * Sentinel throws away when it demotes it. Refused writes (503) make the sentinel follower move the
 * connection to the real primary (sentinel-follow.ts).
 */
/** How long a write may wait for the replicas of a primary it has not seen before to be read. */
const FRESH_READ_MS = 300
/** How long one master may take to describe the cluster before the others' answers are used. */
const NODES_READ_MS = 500

export class ReplicaWatch {
  /** Primary (`host:port`) → healthy replicas. */
  private readonly replicas = new Map<string, number>()
  private shardSlots: number[] | undefined
  private refreshing: Promise<void> | undefined

  /** `client` reads the topology; `router` is the connection writes go through, whose slot map says where a shard is now. */
  constructor (private readonly client: RedisClient, private readonly router: RedisClient, private readonly keyspace: Keyspace, private readonly replicasAck: number) {}

  /** Reads the replicas again; calls made while one read runs share it. */
  async refresh (): Promise<void> {
    this.refreshing ??= this.read().finally(() => { this.refreshing = undefined })
    await this.refreshing
  }

  private async read (): Promise<void> {
    if (!isConnected(this.client)) return
    if (isCluster(this.client) && this.shardSlots === undefined) {
      const cluster = this.client
      this.shardSlots = await Promise.all(this.keyspace.shardPrefixes.map(async (prefix) => Number(await cluster.cluster('KEYSLOT', prefix))))
    }
    if (this.replicasAck === 0 || !isCluster(this.client)) return
    const cluster = this.client
    // Every master is asked and the first answer taken: one of them may be the primary that froze.
    const answer = await Promise.any(cluster.nodes('master').map(async (node) =>
      String(await withTimeout(node.cluster('NODES'), NODES_READ_MS, 'no answer to CLUSTER NODES'))))
    const counts = healthyReplicasByPrimary(answer)
    this.replicas.clear()
    for (const [address, count] of counts) this.replicas.set(address, count)
  }

  /**
   * The WAIT a write to `shard` needs: replicas_ack, or fewer when its primary has fewer healthy
   * replicas. A primary not read yet (one just promoted) is read first, briefly: a WAIT for replicas
   * it may not have would hold the write until the WAIT times out.
   */
  async requirement (shard: number): Promise<ReplicaRequirement> {
    if (this.replicasAck === 0 || !isCluster(this.router)) return { wait: this.replicasAck, degraded: false }
    const primary = this.primaryOfShard(shard)
    let replicas = this.replicas.get(primary)
    if (replicas === undefined) {
      // Asked of the primary itself: it knows it was promoted before the other masters hear of it.
      await withTimeout(this.readFrom(primary), FRESH_READ_MS, 'replicas not read in time').catch(() => {})
      replicas = this.replicas.get(primary)
    }
    if (replicas === undefined || replicas >= this.replicasAck) return { wait: this.replicasAck, degraded: false }
    return { wait: replicas, degraded: true }
  }

  /** Reads CLUSTER NODES from one primary, through the write path's connection to it, and keeps what it says. */
  private async readFrom (primary: string): Promise<void> {
    if (!isCluster(this.router)) return
    const node = this.router.nodes('master').find((candidate) => nodeName(candidate) === primary)
    if (node === undefined) return
    for (const [address, count] of healthyReplicasByPrimary(String(await node.cluster('NODES')))) this.replicas.set(address, count)
  }

  private primaryOfShard (shard: number): string {
    return this.nodeOf(shard) ?? 'unknown'
  }

  /** The primary (`host:port`) that serves a shard as the write path sees it now; undefined when not known or not a cluster. */
  nodeOf (shard: number): string | undefined {
    if (!isCluster(this.router)) return undefined
    const slot = this.shardSlots?.[shard]
    return slot === undefined ? undefined : (this.router.slots as string[][])[slot]?.[0]
  }
}

/** Flags of CLUSTER NODES that mean a node is not (or not yet) a working member. */
const UNHEALTHY_FLAGS = new Set(['fail', 'fail?', 'handshake', 'noaddr'])

/**
 * From CLUSTER NODES (`<id> <ip:port@bus[,hostname]> <flags> <master id|-> … <link-state> <slots…>`):
 * each master's address (and `hostname:port`, when the cluster announces one) → its healthy replicas.
 */
export function healthyReplicasByPrimary (text: string): Map<string, number> {
  const rows = text.trim().split('\n').map((line) => line.trim().split(' '))
  const addressesById = new Map<string, string[]>()
  for (const fields of rows) {
    const [address = '', hostname] = (fields[1] ?? '').split(',')
    const hostPort = address.split('@')[0] ?? ''
    const port = hostPort.slice(hostPort.lastIndexOf(':') + 1)
    addressesById.set(fields[0] ?? '', hostname === undefined || hostname === '' ? [hostPort] : [hostPort, `${hostname}:${port}`])
  }
  const counts = new Map<string, number>()
  for (const fields of rows) {
    const flags = (fields[2] ?? '').split(',')
    if (!flags.includes('master') || flags.some((flag) => UNHEALTHY_FLAGS.has(flag))) continue
    for (const address of addressesById.get(fields[0] ?? '') ?? []) counts.set(address, 0)
  }
  for (const fields of rows) {
    const flags = (fields[2] ?? '').split(',')
    if (!flags.includes('slave') || flags.some((flag) => UNHEALTHY_FLAGS.has(flag)) || fields[7] !== 'connected') continue
    for (const address of addressesById.get(fields[3] ?? '') ?? []) {
      if (counts.has(address)) counts.set(address, (counts.get(address) ?? 0) + 1)
    }
  }
  return counts
}
