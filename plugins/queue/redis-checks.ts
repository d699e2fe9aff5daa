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

/** How many replicas are online per primary, and so how many a write can wait for (replicas_ack). */
export class ReplicaWatch {
  private readonly online = new Map<string, number>()
  private shardSlots: number[] | undefined
  private refreshing: Promise<void> | undefined

  /** `client` reads the replicas; `router` is the connection writes go through, whose slot map says where a shard is now. */
  constructor (private readonly client: RedisClient, private readonly router: RedisClient, private readonly keyspace: Keyspace, private readonly replicasAck: number) {}

  /** Reads every primary's replicas; calls made while one runs share it. */
  async refresh (): Promise<void> {
    this.refreshing ??= this.read().finally(() => { this.refreshing = undefined })
    await this.refreshing
  }

  private async read (): Promise<void> {
    if (this.replicasAck === 0 || !isConnected(this.client)) return
    if (isCluster(this.client) && this.shardSlots === undefined) {
      const cluster = this.client
      this.shardSlots = await Promise.all(this.keyspace.shardPrefixes.map(async (prefix) => Number(await cluster.cluster('KEYSLOT', prefix))))
    }
    // Each node on its own: one that does not answer (the primary that just died) must not keep the others stale.
    await Promise.allSettled(primariesOf(this.client).map(async (node) => {
      const info = infoFields(await node.info('replication'))
      let online = 0
      for (const [field, value] of info) if (/^slave[0-9]+$/.test(field) && value.includes('state=online')) online++
      this.online.set(this.nodeKeyOf(node), online)
    }))
  }

  /** The WAIT a write to `shard` needs: replicas_ack, or fewer when fewer replicas are online. */
  requirement (shard: number): ReplicaRequirement {
    if (this.replicasAck === 0) return { wait: 0, degraded: false }
    const online = this.online.get(this.nodeOfShard(shard))
    if (online === undefined) {
      // A primary not read yet (one just promoted): read it now; this write waits for replicas_ack.
      void this.refresh().catch(() => {})
      return { wait: this.replicasAck, degraded: false }
    }
    if (online >= this.replicasAck) return { wait: this.replicasAck, degraded: false }
    return { wait: online, degraded: true }
  }

  private nodeKeyOf (node: Redis): string {
    return isCluster(this.client) ? nodeName(node) : 'primary'
  }

  private nodeOfShard (shard: number): string {
    if (!isCluster(this.router)) return 'primary'
    const slot = this.shardSlots?.[shard]
    const owners = slot === undefined ? undefined : (this.router.slots as string[][])[slot]
    return owners?.[0] ?? 'unknown'
  }
}
