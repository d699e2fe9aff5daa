/**
 * Where the gateway's keys live in Redis (SPEC §11).
 *
 * On one node (redis_url) or behind Sentinel there is one shard and every key starts with the
 * configured prefix, as it always has: `cio:<sink>:wait`, `cio:_dedupe:<source>:<key>`.
 *
 * On a Redis Cluster every key that one ingest script touches must hash to one slot, so keys carry a
 * hash tag per shard, `{cio:<k>}`: the shard's BullMQ queues (`{cio:3}:<sink>:wait`, …) and the
 * dedupe marks of the events hashed to it (`{cio:3}:_dedupe:<source>:<key>`). An event's shard is a
 * pure function of (source, dedupe key), so every copy of an event meets its own dedupe mark in the
 * same script. Keys that belong to no shard (the reporting state and schedule, the stored shard count)
 * share the tag `{cio}`.
 */

export class Keyspace {
  /** The BullMQ prefix of each shard's queues. */
  readonly shardPrefixes: readonly string[]
  /** Prefix of the keys outside the shards. */
  readonly globalPrefix: string

  constructor (readonly prefix: string, readonly shards: number, readonly clustered: boolean) {
    if (!clustered && shards !== 1) throw new Error('only a Redis Cluster spreads keys over shards')
    this.shardPrefixes = Array.from({ length: shards }, (_, k) => clustered ? `{${prefix}:${k}}` : prefix)
    this.globalPrefix = clustered ? `{${prefix}}` : prefix
  }

  /** The shard of an event: FNV-1a of `source:dedupeKey`, stable across processes and versions. */
  shardOf (source: string, dedupeKey: string): number {
    if (this.shards === 1) return 0
    let hash = 0x811c9dc5
    for (const text of [source, ':', dedupeKey]) {
      for (let i = 0; i < text.length; i++) {
        hash ^= text.charCodeAt(i)
        hash = Math.imul(hash, 0x01000193)
      }
    }
    return (hash >>> 0) % this.shards
  }

  /** Dedupe marks of shard `k` are `{dedupePrefix}{source}:{key}`; no sink queue can be named `_dedupe`. */
  dedupePrefix (shard: number): string {
    return `${this.shardPrefixes[shard] as string}:_dedupe:`
  }

  /** Facts about the deployment kept in Redis: the shard count a cluster was set up with. */
  get metaKey (): string {
    return `${this.globalPrefix}:_meta`
  }
}
