/** Bounded autocannon runs against a loopback target, every request a fresh signed event. */
import autocannon from 'autocannon'
import type { EventSource } from './events.js'

export interface LoadOptions {
  readonly url: string
  readonly path: string
  /** Gives each request its signed body and headers. */
  readonly events: Pick<EventSource, 'next'>
  readonly connections: number
  readonly seconds: number
  /** Requests per second over all connections; unset: as fast as answers come. */
  readonly rate?: number
}

export interface Latencies {
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

export interface LoadResult {
  readonly seconds: number
  readonly requests: number
  /** 2xx answers. */
  readonly ok: number
  readonly requestsPerSecond: number
  /** In ms. At a fixed rate, autocannon's own figures, corrected for coordinated omission. */
  readonly latencyMs: Latencies
  /** Connection errors and timeouts, plus every non-2xx answer. */
  readonly errors: number
  readonly startedAt: number
  readonly finishedAt: number
}

interface RawRun extends LoadResult {
  /** Every 2xx answer's latency in ms, for merging rounds. */
  readonly samples: number[]
}

async function run (options: LoadOptions): Promise<RawRun> {
  if (!options.url.startsWith('http://127.0.0.1:')) throw new Error(`the benchmark only targets 127.0.0.1, not ${options.url}`)
  const startedAt = Date.now()
  const samples: number[] = []
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: options.url,
      connections: options.connections,
      duration: options.seconds,
      ...(options.rate === undefined ? {} : { overallRate: options.rate }),
      timeout: 10,
      requests: [{
        method: 'POST',
        path: options.path,
        setupRequest: (request) => {
          const { body, headers } = options.events.next()
          return { ...request, body, headers }
        }
      }]
    }, (error, finished) => { if (error === null || error === undefined) resolve(finished); else reject(error) })
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) samples.push(responseTime)
    })
  })
  const finishedAt = Date.now()
  const ok = result['2xx']
  return {
    seconds: result.duration,
    requests: result.requests.total,
    ok,
    requestsPerSecond: ok / result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, p999: result.latency.p99_9, max: result.latency.max },
    errors: result.errors + result.non2xx,
    startedAt,
    finishedAt,
    samples
  }
}

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const { samples: _samples, ...result } = await run(options)
  return result
}

/**
 * Runs the same load against several targets in alternating rounds (A B A B …), so that a change in
 * what else the machine runs affects every target alike; answers each target's rounds merged.
 */
export async function runAlternating (targets: readonly { name: string, url: string }[], options: Omit<LoadOptions, 'url'>, rounds: number,
  hooks: { before?: (name: string) => Promise<void>, after?: (name: string, result: LoadResult) => Promise<void> } = {}): Promise<Record<string, LoadResult>> {
  const runs = new Map<string, RawRun[]>(targets.map((target) => [target.name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      await hooks.before?.(target.name)
      const result = await run({ ...options, url: target.url, seconds: options.seconds / rounds })
      runs.get(target.name)?.push(result)
      await hooks.after?.(target.name, result)
    }
  }
  const merged: Record<string, LoadResult> = {}
  for (const [name, list] of runs) {
    const samples = list.flatMap((one) => one.samples).sort((a, b) => a - b)
    const at = (p: number): number => round2(samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? NaN)
    const seconds = list.reduce((sum, one) => sum + one.seconds, 0)
    const ok = list.reduce((sum, one) => sum + one.ok, 0)
    merged[name] = {
      seconds,
      requests: list.reduce((sum, one) => sum + one.requests, 0),
      ok,
      requestsPerSecond: ok / seconds,
      latencyMs: { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: round2(samples.at(-1) ?? NaN) },
      errors: list.reduce((sum, one) => sum + one.errors, 0),
      startedAt: Math.min(...list.map((one) => one.startedAt)),
      finishedAt: Math.max(...list.map((one) => one.finishedAt))
    }
  }
  return merged
}

function round2 (value: number): number {
  return Math.round(value * 100) / 100
}
