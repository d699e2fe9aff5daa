/**
 * The Redis the benchmark uses: REDIS_URL, else 127.0.0.1:6379, else a private redis-server started
 * for the run (as `npm test` does). Every run writes under its own key prefix and deletes it after.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { eventsOf, type JobData } from '../src/sinks/job.js'
import { freePort } from '../test/helpers/private-redis.js'

export interface BenchRedis {
  readonly url: string
  readonly version: string
  readonly privateServer: boolean
  stop (): void
}

async function answers (url: string): Promise<string | undefined> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, connectTimeout: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    const info = await client.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  } catch {
    return undefined
  } finally {
    client.disconnect()
  }
}

export async function findRedis (): Promise<BenchRedis> {
  const wanted = process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '' ? process.env.REDIS_URL : 'redis://127.0.0.1:6379'
  const version = await answers(wanted)
  if (version !== undefined) return { url: wanted, version, privateServer: false, stop: () => {} }
  if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`no Redis answers at ${wanted} and redis-server is not installed: set REDIS_URL or install the package "redis-server"`)
  }
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'cio-bench-redis-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    const started = await answers(url)
    if (started !== undefined) {
      return { url, version: started, privateServer: true, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) } }
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`redis-server did not start on port ${port}`)
}

/** Deletes every key under `prefix:`; answers how many. */
export async function deleteKeys (url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    let deleted = 0
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000)
      cursor = next
      if (keys.length > 0) deleted += await client.unlink(...keys)
    } while (cursor !== '0')
    return deleted
  } finally {
    client.disconnect()
  }
}

/** Jobs waiting in a BullMQ queue (what an ingest-only gateway leaves behind). */
/** Events waiting in a queue: its jobs hold one event each, or a group of them. */
export async function waitingEvents (url: string, prefix: string, queue: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    const ids = await client.lrange(`${prefix}:${queue}:wait`, 0, -1)
    let events = 0
    for (let i = 0; i < ids.length; i += 500) {
      const pipeline = client.pipeline()
      for (const id of ids.slice(i, i + 500)) pipeline.hget(`${prefix}:${queue}:${id}`, 'data')
      for (const [, data] of (await pipeline.exec()) ?? []) events += eventsOf(JSON.parse(String(data)) as JobData).length
    }
    return events
  } finally {
    client.disconnect()
  }
}

/** CPU seconds the Redis server has used so far (user + system), from INFO. */
export async function redisCpuSeconds (url: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    const info = await client.info('cpu')
    const field = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN)
    return field('used_cpu_user') + field('used_cpu_sys')
  } finally {
    client.disconnect()
  }
}
