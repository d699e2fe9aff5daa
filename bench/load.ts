/** One bounded autocannon run against a loopback target, every request a fresh signed event. */
import autocannon from 'autocannon'
import type { EventSource } from './events.js'

export interface LoadOptions {
  readonly url: string
  readonly path: string
  readonly events: EventSource
  readonly connections: number
  readonly seconds: number
  /** Requests per second over all connections; unset: as fast as answers come. */
  readonly rate?: number
}

export interface LoadResult {
  readonly seconds: number
  readonly requests: number
  readonly ok: number
  readonly requestsPerSecond: number
  readonly latencyMs: { readonly p50: number, readonly p99: number, readonly p999: number, readonly max: number }
  /** Connection errors and timeouts, plus every non-2xx answer. */
  readonly errors: number
  readonly non2xx: number
  readonly startedAt: number
  readonly finishedAt: number
}

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  if (!options.url.startsWith('http://127.0.0.1:')) throw new Error(`the benchmark only targets 127.0.0.1, not ${options.url}`)
  const startedAt = Date.now()
  const result = await autocannon({
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
    non2xx: result.non2xx,
    startedAt,
    finishedAt
  }
}
