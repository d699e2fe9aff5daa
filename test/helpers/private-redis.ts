/** A redis-server of the test's own, on a free port, that the test may stop and start at will. */
import { spawn, type ChildProcess } from 'node:child_process'
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
