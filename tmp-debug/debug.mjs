import { pino } from 'pino'
const { RedisBackend } = await import('/work/wt-redis/dist/plugins/queue/redis-backend.js')
const { RedisTopology } = await import('/work/wt-redis/dist/plugins/queue/redis-topology.js')
const { Keyspace } = await import('/work/wt-redis/dist/plugins/queue/keyspace.js')
const keyspace = new Keyspace('dbg', 8, true)
const backend = new RedisBackend({ topology: new RedisTopology({ kind: 'cluster', nodes: ['redis://127.0.0.1:7102'], tls: false }), keyspace, dedupeWindowMs: 60000, replicasAck: 1, queues: ['a'], logger: pino({ level: 'debug' }) })
await backend.start()
await new Promise(r => setTimeout(r, 2500))
for (let i = 0; i < 16; i++) {
  const id = 'x' + Date.now() + i
  const t0 = Date.now()
  try {
    const r = await backend.enqueue({ source: 's', dedupeKey: id, payload: { s: 's', r: Date.now(), b: '{}', e: id }, sinks: [{ name: 'a', retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 } }] })
    console.log(keyspace.shardOf('s', id), r, Date.now() - t0)
  } catch (e) { console.log(keyspace.shardOf('s', id), 'ERR', e.message, Date.now() - t0) }
}
await backend.close()
