/**
 * What the gateway says of the Redis it starts on (issue 18, SPEC §11): a warning when Redis keeps
 * nothing on disk or may evict keys, none when it is set up as the guarantees need; and, from
 * CLUSTER NODES, how many healthy replicas each master has (what replicas_ack may wait for).
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { PrivateRedis } from '../../helpers/private-redis.js'
import { healthyReplicasByPrimary } from '../../../plugins/queue/redis-checks.js'
import { redisBackend, uniquePrefix } from '../../helpers/redis.js'

/** The warnings a backend logs when it starts on `url`. */
async function startupWarnings (t: Test, url: string): Promise<string[]> {
  const lines: string[] = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => { lines.push(String((JSON.parse(line) as { msg: string }).msg)) } })
  const backend = redisBackend({ prefix: uniquePrefix('checks'), url, queues: [], logger })
  t.teardown(async () => await backend.close())
  await backend.start()
  return lines
}


t.test('a Redis without persistence and with an evicting policy is warned about, naming the setting', async (t) => {
  const redis = await PrivateRedis.start()
  t.teardown(async () => await redis.stop())
  await redis.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
  const warnings = await startupWarnings(t, redis.url)
  t.match(warnings.join('\n'), /Redis evicts keys under memory pressure \(maxmemory-policy allkeys-lru\).*Set maxmemory-policy noeviction/)
  t.match(warnings.join('\n'), /Redis keeps nothing on disk \(appendonly no, no save points\).*every queued event is lost, acked ones included/)
})

t.test('a Redis with an append-only file and noeviction starts without a warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cio-gw-aof-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const redis = await PrivateRedis.start({ aofDir: dir })
  t.teardown(async () => await redis.stop())
  t.same(await startupWarnings(t, redis.url), [])
})

t.test('healthy replicas per master, as CLUSTER NODES says (failing or handshaking replicas do not count)', async (t) => {
  const nodes = [
    'a1 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460',
    'a2 10.0.0.2:6379@16379 slave a1 0 0 1 connected',
    'a3 10.0.0.3:6379@16379 slave a1 0 0 1 connected',
    'b1 10.0.0.4:6379@16379,redis-b.example master - 0 0 2 connected 5461-10922',
    'b2 10.0.0.5:6379@16379 slave,fail b1 0 0 2 disconnected',
    'c1 10.0.0.6:6379@16379 master - 0 0 3 connected 10923-16383',
    'c2 10.0.0.7:6379@16379 slave c1 0 0 3 disconnected',
    'd1 10.0.0.8:6379@16379 master,fail - 0 0 4 disconnected'
  ].join('\n')
  t.same(Object.fromEntries(healthyReplicasByPrimary(nodes)), {
    '10.0.0.1:6379': 2,
    '10.0.0.4:6379': 0,
    'redis-b.example:6379': 0,
    '10.0.0.6:6379': 0
  }, 'a failed master is no primary; an announced hostname names the same master')
})
