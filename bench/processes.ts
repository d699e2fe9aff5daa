/**
 * Child processes under test, each in its own process so that its memory is its own: started with a
 * port, waited on until it answers, sampled from /proc for RSS, stopped with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { freePort } from '../test/helpers/private-redis.js'

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat, 100 on Linux. */
const CLOCK_TICKS = 100

export interface MemorySample {
  readonly at: number
  readonly rssMb: number
}

export class BenchProcess {
  private output = ''
  private readonly exited: Promise<number | null>
  private sampler: NodeJS.Timeout | undefined
  readonly samples: MemorySample[] = []

  private constructor (readonly name: string, readonly port: number, readonly managementPort: number, private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => { this.output = (this.output + chunk.toString()).slice(-20_000) })
    child.stderr?.on('data', (chunk: Buffer) => { this.output = (this.output + chunk.toString()).slice(-20_000) })
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  }

  /**
   * Runs `node [nodeArgs] script [args]` with PORT and MANAGEMENT_PORT set, and waits until
   * `readyPath` answers 200 on the port (`readyOn: 'port'`, the default) or on the management port
   * (a gateway worker opens only that one).
   */
  static async start (name: string, options: { nodeArgs?: string[], script: string, args?: string[], env: NodeJS.ProcessEnv, readyPath: string, readyOn?: 'port' | 'management', cwd: string }): Promise<BenchProcess> {
    const [port, managementPort] = [await freePort(), await freePort()]
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])], {
      cwd: options.cwd,
      env: { ...options.env, PORT: String(port), HOST: '127.0.0.1', MANAGEMENT_PORT: String(managementPort), MANAGEMENT_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const running = new BenchProcess(name, port, managementPort, child)
    const readyUrl = `${options.readyOn === 'management' ? running.managementUrl : running.url}${options.readyPath}`
    const deadline = Date.now() + 30_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${running.output}`)
      if (await answers200(readyUrl)) break
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`${name} was not ready within 30 s:\n${running.output}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return running
  }

  get pid (): number {
    return this.child.pid as number
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** A gateway's management listener: /metrics, /readyz. */
  get managementUrl (): string {
    return `http://127.0.0.1:${this.managementPort}`
  }

  /** Current and peak resident set size from /proc/<pid>/status, in MB. */
  memory (): { rssMb: number, peakMb: number } {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8')
      const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
      return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 }
    } catch {
      return { rssMb: NaN, peakMb: NaN }
    }
  }

  /** CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat. */
  cpuSeconds (): number {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8')
      // Fields after the command name (which may hold spaces) start after its closing parenthesis.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
    } catch {
      return NaN
    }
  }

  /** Records RSS every `everyMs` until `stopSampling`. */
  startSampling (everyMs = 250): void {
    this.stopSampling()
    this.sampler = setInterval(() => { this.samples.push({ at: Date.now(), rssMb: this.memory().rssMb }) }, everyMs)
  }

  stopSampling (): void {
    if (this.sampler !== undefined) clearInterval(this.sampler)
    this.sampler = undefined
  }

  /** The largest RSS sampled between two times. */
  rssBetween (from: number, to: number): number {
    return Math.max(0, ...this.samples.filter((sample) => sample.at >= from && sample.at <= to).map((sample) => sample.rssMb))
  }

  /** SIGTERM, then SIGKILL after `graceMs`; answers the exit code. */
  async stop (graceMs = 15_000): Promise<number | null> {
    this.stopSampling()
    if (this.child.exitCode !== null) return this.child.exitCode
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }

  logs (): string {
    return this.output
  }
}

async function answers200 (url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
    await response.arrayBuffer()
    return response.status === 200
  } catch {
    return false
  }
}
