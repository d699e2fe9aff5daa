/** A redis-server of the test's own, on a free port, that the test may stop and start at will. */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** A cluster node also listens on its port + 10000 (the cluster bus). */
const CLUSTER_BUS_OFFSET = 10_000
const handedOut = new Set<number>()

/**
 * A port p for a redis-server that a test may kill and start again on the same port, with p and
 * p + 10000 (a cluster node's bus port) both free on 127.0.0.1 and neither handed out before by
 * this process. Unlike freePort() it draws from below the kernel's ephemeral range (both p and its
 * bus port): an ephemeral port that a killed server gave up is soon the local end of some outgoing
 * connection, and the server could not bind it again. Ports are drawn at random so that test
 * processes running side by side rarely try the same one; the bind check catches the rest.
 */
export async function freeRedisPort (): Promise<number> {
  const ephemeralStart = Number(readProcFile('/proc/sys/net/ipv4/ip_local_port_range')?.trim().split(/\s+/)[0] ?? 32768)
  const lowest = 10_000
  const highest = ephemeralStart - CLUSTER_BUS_OFFSET - 1
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = lowest + Math.floor(Math.random() * (highest - lowest + 1))
    const bus = port + CLUSTER_BUS_OFFSET
    if (handedOut.has(port) || handedOut.has(bus)) continue
    if (!(await canListen(port)) || !(await canListen(bus))) continue
    handedOut.add(port)
    handedOut.add(bus)
    return port
  }
  throw new Error(`no free port pair p, p + ${CLUSTER_BUS_OFFSET} found in ${lowest}-${highest} on 127.0.0.1`)
}

function readProcFile (path: string): string | undefined {
  try { return readFileSync(path, 'utf8') } catch { return undefined }
}

async function canListen (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

export interface PrivateRedisOptions {
  /** Keep an append-only file with `appendfsync always` in this directory, so a killed server loses nothing. */
  aofDir?: string
}

export class PrivateRedis {
  private child: ChildProcess | undefined
  constructor (readonly port: number, private readonly options: PrivateRedisOptions = {}) {}

  static async start (options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options)
    await redis.start()
    return redis
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start (): Promise<void> {
    const persistence = this.options.aofDir === undefined
      ? ['--appendonly', 'no']
      : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.options.aofDir]
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' })
    this.child.once('error', () => { /* reported by the ping loop below */ })
    const deadline = Date.now() + 5000
    for (;;) {
      const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => { /* refused while the server boots: retried below */ })
      try {
        await client.connect()
        await client.ping()
        return
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port} (is the redis-server package installed?)`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      } finally {
        client.disconnect()
      }
    }
  }

  /** Runs one command on this server (CLIENT PAUSE, INFO …). */
  async command (...args: string[]): Promise<unknown> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 0 })
    try {
      return await client.call(args[0] as string, ...args.slice(1))
    } finally {
      client.disconnect()
    }
  }

  async stop (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null) return
    this.child = undefined
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
  }
}
