/**
 * The `queue` and `quarantine` sections: which Redis (one node, Sentinel or Cluster, SPEC §11) or the
 * embedded queue, and the limits ingest holds writes to.
 */
import { parseDuration, parseSize } from '../units.js'
import type { RawConfig } from './schema.js'
import type { ConfigProblem, Locator } from './problems.js'
import type { QuarantineConfig, QueueConfig, RedisConnectionConfig } from './types.js'

/**
 * Hash-tag shards of a cluster when `shards` is not set. Enough that the tags spread evenly over the
 * masters of a usual cluster (the slots of `{cio:0}`…`{cio:47}` fall 13/18/17 on three masters that
 * split the slots evenly); few enough that a worker's BullMQ workers (one per sink and shard) stay
 * cheap. docs/redis.md has the measurements.
 */
export const DEFAULT_CLUSTER_SHARDS = 48

type RawQueue = NonNullable<RawConfig['queue']>

/** Runs on whatever the file holds (the schema's own errors are reported beside these). */
export function checkQueue (raw: RawConfig, locator: Locator): ConfigProblem[] {
  const queue = raw.queue
  if (queue === null || typeof queue !== 'object') return []
  const problems: ConfigProblem[] = []
  const chosen = connectionKeys(queue)
  if (chosen.length > 1) {
    problems.push(locator.problem(['queue', chosen[1] as string], `only one of redis_url, redis_sentinel and redis_cluster may be set (found ${chosen.join(' and ')})`, { key: true }))
  }
  if (queue.shards !== undefined && queue.redis_cluster === undefined) {
    problems.push(locator.problem(['queue', 'shards'], 'shards spreads keys over a Redis Cluster: it needs redis_cluster (one node and Sentinel have one shard)', { key: true }))
  }
  if (typeof queue.replicas_ack === 'number' && queue.replicas_ack > 0 && chosen.length === 0) {
    problems.push(locator.problem(['queue', 'replicas_ack'], 'replicas_ack needs Redis (redis_url, redis_sentinel or redis_cluster): the embedded queue has no replicas', { key: true }))
  }
  if (typeof queue.redis_url === 'string' && queue.redis_url !== '' && !/^rediss?:\/\//.test(queue.redis_url)) {
    problems.push(locator.problem(['queue', 'redis_url'], 'must be a redis:// or rediss:// URL'))
  }
  return problems
}

/** The connection keys set, in the order they are checked. */
function connectionKeys (queue: RawQueue): string[] {
  const keys: string[] = []
  if (typeof queue.redis_url === 'string' && queue.redis_url !== '') keys.push('redis_url')
  if (queue.redis_sentinel !== undefined) keys.push('redis_sentinel')
  if (queue.redis_cluster !== undefined) keys.push('redis_cluster')
  return keys
}

export function resolveQueue (queue: RawQueue | undefined): QueueConfig {
  const redis = resolveConnection(queue)
  return {
    redis,
    prefix: queue?.prefix ?? 'cio',
    shards: redis?.kind === 'cluster' ? queue?.shards ?? DEFAULT_CLUSTER_SHARDS : 1,
    replicasAck: queue?.replicas_ack ?? (redis === undefined || redis.kind === 'single' ? 0 : 1),
    highWaterMark: queue?.high_water_mark ?? 100_000,
    maxBytes: parseSize(queue?.max_bytes ?? '512mb'),
    lockDurationMs: parseDuration(queue?.lock_duration ?? '30s')
  }
}

export function resolveQuarantine (quarantine: RawConfig['quarantine']): QuarantineConfig {
  return {
    maxEvents: quarantine?.max_events ?? 10_000,
    maxAgeMs: parseDuration(quarantine?.max_age ?? '7d')
  }
}

function resolveConnection (queue: RawQueue | undefined): RedisConnectionConfig | undefined {
  if (queue?.redis_sentinel !== undefined) {
    const sentinel = queue.redis_sentinel
    return {
      kind: 'sentinel',
      name: sentinel.name,
      nodes: sentinel.nodes,
      password: nonEmpty(sentinel.password),
      username: nonEmpty(sentinel.username),
      sentinelPassword: nonEmpty(sentinel.sentinel_password),
      tls: sentinel.tls ?? false,
      db: sentinel.db ?? 0
    }
  }
  if (queue?.redis_cluster !== undefined) {
    const cluster = queue.redis_cluster
    return {
      kind: 'cluster',
      nodes: cluster.nodes,
      password: nonEmpty(cluster.password),
      username: nonEmpty(cluster.username),
      tls: (cluster.tls ?? false) || cluster.nodes.some((node) => node.startsWith('rediss://'))
    }
  }
  const url = queue?.redis_url ?? ''
  return url === '' ? undefined : { kind: 'single', url }
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
