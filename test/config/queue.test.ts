/**
 * The `queue` section's Redis connection (SPEC §4, §11): one node, Sentinel or Cluster, exactly one
 * of them; shards only on a cluster; replicas_ack by topology; the byte budget and quarantine bounds.
 */
import t from 'tap'
import { ConfigError, parseConfig } from '../../src/config/load.js'

const REST = `
sources:
  customerio: { type: customerio, secrets: ["k"] }
sinks:
  local: { type: file, path: ./data }
routes:
  - { name: all, match: {}, sinks: [local] }
`

function load (queue: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof parseConfig> {
  return parseConfig(`queue:\n${queue}\n${REST}`, 'routes.yaml', env)
}

function problems (queue: string): string[] {
  try {
    load(queue)
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n')
    throw error
  }
  return []
}

t.test('one Redis node: one shard, no replica wait unless asked', async (t) => {
  const config = load('  redis_url: redis://redis:6379\n  max_bytes: 64mb')
  t.same(config.queue.redis, { kind: 'single', url: 'redis://redis:6379' })
  t.equal(config.queue.shards, 1)
  t.equal(config.queue.replicasAck, 0)
  t.equal(config.queue.maxBytes, 64 * 1024 * 1024)
  t.equal(load('  redis_url: rediss://redis:6380\n  replicas_ack: 2').queue.replicasAck, 2, 'a primary with replicas may be asked to wait for them')
})

t.test('Sentinel: the master set, the sentinels and the passwords; one shard; replicas_ack 1 by default', async (t) => {
  const config = load(`  redis_sentinel:
    name: mymaster
    nodes: ["redis://s0:26379", "redis://s1:26379"]
    password: "\${REDIS_PASSWORD}"
    sentinel_password: sentinel-secret`, { REDIS_PASSWORD: 'p4ss' })
  t.same(config.queue.redis, {
    kind: 'sentinel', name: 'mymaster', nodes: ['redis://s0:26379', 'redis://s1:26379'], password: 'p4ss', username: undefined, sentinelPassword: 'sentinel-secret', tls: false, db: 0
  })
  t.equal(config.queue.shards, 1)
  t.equal(config.queue.replicasAck, 1)
})

t.test('Cluster: shards default and may be set; TLS from rediss:// nodes; replicas_ack 1 by default', async (t) => {
  const config = load('  redis_cluster:\n    nodes: ["rediss://c0:6379"]\n    password: pw')
  t.same(config.queue.redis, { kind: 'cluster', nodes: ['rediss://c0:6379'], password: 'pw', username: undefined, tls: true })
  t.equal(config.queue.shards, 48)
  t.equal(config.queue.replicasAck, 1)
  t.equal(load('  redis_cluster: { nodes: ["redis://c0:6379"] }\n  shards: 16\n  replicas_ack: 0').queue.shards, 16)
  t.equal(load('  redis_cluster: { nodes: ["redis://c0:6379"] }\n  replicas_ack: 0').queue.replicasAck, 0, 'replicas_ack 0 is allowed on purpose')
})

t.test('bad connection settings are config errors with their place, and never echo a value', async (t) => {
  t.same(problems('  redis_url: redis://a:6379\n  redis_cluster: { nodes: ["redis://c0:6379"] }'),
    ['routes.yaml:3:3 queue.redis_cluster: only one of redis_url, redis_sentinel and redis_cluster may be set (found redis_url and redis_cluster)'])
  t.same(problems('  redis_url: redis://a:6379\n  shards: 8'),
    ['routes.yaml:3:3 queue.shards: shards spreads keys over a Redis Cluster: it needs redis_cluster (one node and Sentinel have one shard)'])
  t.same(problems('  replicas_ack: 1'),
    ['routes.yaml:2:3 queue.replicas_ack: replicas_ack needs Redis (redis_url, redis_sentinel or redis_cluster): the embedded queue has no replicas'])
  const secretUrl = problems('  redis_url: "http://user:hunter2@redis:6379"')
  t.same(secretUrl, ['routes.yaml:2:14 queue.redis_url: must be a redis:// or rediss:// URL'])
  t.notMatch(secretUrl.join('\n'), 'hunter2')
  t.match(problems('  redis_sentinel: { nodes: ["redis://s0:26379"] }').join('\n'), /queue\.redis_sentinel: missing required key 'name'/)
  t.match(problems('  redis_cluster: { nodes: [] }').join('\n'), /queue\.redis_cluster\.nodes/)
})

t.test('quarantine bounds resolve with their defaults', async (t) => {
  const config = parseConfig(`quarantine: { max_events: 50 }\n${REST}`, 'routes.yaml', {})
  t.same(config.quarantine, { maxEvents: 50, maxAgeMs: 7 * 24 * 3600_000 })
})
