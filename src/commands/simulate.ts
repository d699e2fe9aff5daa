/**
 * `cio-gateway simulate --url U --secret S [--count N] [--rate R]` (SPEC §9): sends realistic signed
 * events (src/simulate/events.ts) to a running gateway, paced at `rate` per second, and prints what
 * it sent and what came back. Every event is expected `accepted` (or `unrouted`, when no route takes
 * it) and every duplicate `duplicate`; the exit code is 1 when any answer was not. It sends to the
 * given URL only. `--source-type customerio_pipelines` sends Data Pipelines batches instead
 * (simulate-pipelines.ts).
 */
import { cioSignature } from '../../plugins/verifier/signature.js'
import { customerioPipelinesSource } from '../../plugins/sources/customerio-pipelines/definition.js'
import { planSimulation, seededRandom, type PlannedSend, type SendKind } from '../simulate/events.js'
import { DEFAULT_SOURCE_TYPE, type SourceType } from '../sources/registry.js'
import type { Output } from './output.js'

export interface SimulateOptions {
  readonly url: string
  readonly secret: string
  readonly count: number
  /** Events per second. */
  readonly rate: number
  readonly seed: number
  readonly json: boolean
  readonly verbose: boolean
  /** What to send: reporting webhooks (`customerio`, the default) or Data Pipelines batches. */
  readonly sourceType?: SourceType
}

export const SIMULATE_DEFAULTS = { count: 100, rate: 50 } as const

/** Where a URL without a path posts, per source type: the source names of the docs' examples. */
export const DEFAULT_WEBHOOK_PATHS: Readonly<Record<SourceType, string>> = { customerio: '/webhooks/customerio', customerio_pipelines: '/webhooks/pipelines' }

/** Requests in flight at most, whatever the rate: a slow gateway is not buried. */
const MAX_IN_FLIGHT = 32
const REQUEST_TIMEOUT_MS = 10_000

interface Answered {
  readonly send: PlannedSend
  /** `200 accepted`, `401 invalid_signature`, `no answer: …` */
  readonly answer: string
  readonly asIntended: boolean
}

function urlNeeded (defaultPath: string): string {
  return `--url needs a whole URL with its scheme (http:// or https://) and host, e.g. http://127.0.0.1:8080${defaultPath} ` +
    `(the path is /webhooks/<source>; a URL without one posts to ${defaultPath})`
}

/** The webhook URL to post to: a bare gateway URL gets the default source's path (its type's, for simulate). */
export function webhookUrl (given: string, defaultPath = DEFAULT_WEBHOOK_PATHS.customerio): URL {
  // `127.0.0.1:8080` is no URL, and `localhost:8080` is one with the scheme `localhost:`.
  if (!URL.canParse(given)) throw new Error(urlNeeded(defaultPath))
  const url = new URL(given)
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw new Error(urlNeeded(defaultPath))
  if (url.pathname === '/' || url.pathname === '') url.pathname = defaultPath
  return url
}

export async function simulate (options: SimulateOptions, io: Output): Promise<number> {
  if (options.sourceType === customerioPipelinesSource.type) return await (await import('./simulate-pipelines.js')).simulatePipelines(options, io)
  const url = webhookUrl(options.url)
  const plan = planSimulation({ count: options.count, random: seededRandom(options.seed) })
  if (!options.json) io.out(`cio-gateway simulate: ${plan.sends.length} events to ${url.href} at up to ${options.rate}/s (seed ${options.seed})\n`)

  const answered: Answered[] = new Array(plan.sends.length)
  const started = Date.now()
  await sendPaced(plan.sends, {
    rate: options.rate,
    // A duplicate goes out once its original has been answered, as Customer.io's retry would.
    after: (send) => send.duplicateOf === undefined ? [] : [send.duplicateOf],
    send: async (send, index) => {
      const timestamp = String(Math.floor(Date.now() / 1000))
      const answer = answerText(await post(url, { 'x-cio-timestamp': timestamp, 'x-cio-signature': cioSignature(options.secret, timestamp, send.body) }, send.body))
      answered[index] = { send, answer, asIntended: intended(send.kind, answer) }
      if (options.verbose) io.out(`  #${index + 1} ${send.kind === 'original' ? '' : `(${send.kind.replace('_', ' ')}) `}${send.objectType}/${send.metric} ${send.eventId} → ${answer}\n`)
    }
  })
  const summary = summarize(url, plan.coversCatalog, answered, (Date.now() - started) / 1000)
  io.out(options.json ? JSON.stringify(summary, null, 2) + '\n' : report(summary))
  warnUnauthorized(answered.filter(({ answer }) => answer.startsWith('401')).length, DEFAULT_SOURCE_TYPE, io)
  return summary.not_as_intended === 0 ? 0 : 1
}

/**
 * What to do about 401 answers: sign with one of the source's secrets. Only the reporting-webhook
 * source of the default routes.yaml falls back to the development key.
 */
export function warnUnauthorized (unauthorized: number, sourceType: SourceType, io: Output): void {
  if (unauthorized === 0) return
  const devKey = sourceType === DEFAULT_SOURCE_TYPE ? ' (a gateway started from the default routes.yaml without CIO_WEBHOOK_SECRET uses the development key dev-signing-key)' : ''
  io.err(`${unauthorized} answer${unauthorized === 1 ? '' : 's'} 401: the gateway did not accept the signature. Sign with one of the source's secrets: ` +
    `--secret KEY, or $CIO_WEBHOOK_SECRET${devKey}\n`)
}

export interface PacedSends<T> {
  /** Events per second over all requests. */
  readonly rate: number
  /** Events a request carries (1 when absent): the next request waits that much longer. */
  readonly events?: (item: T) => number
  /** Indexes of the requests this one waits for: it goes out once they are answered. */
  readonly after: (item: T) => readonly number[]
  readonly send: (item: T, index: number) => Promise<void>
}

/** Sends `items` in order, paced at `rate` events per second, at most MAX_IN_FLIGHT at once. */
export async function sendPaced<T> (items: readonly T[], options: PacedSends<T>): Promise<void> {
  const finished: Promise<void>[] = []
  const inFlight = new Set<Promise<void>>()
  const started = Date.now()
  let events = 0
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as T
    const wait = started + events * 1000 / options.rate - Date.now()
    events += options.events?.(item) ?? 1
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight)
    const before = options.after(item).map((earlier) => finished[earlier])
    const request = (async () => {
      await Promise.all(before)
      await options.send(item, index)
    })()
    finished[index] = request
    inFlight.add(request)
    void request.finally(() => inFlight.delete(request))
  }
  await Promise.all(finished)
}

/** The answer to one request: its status and JSON body, or why there was none. */
export type PostAnswer = { readonly status: number, readonly json: unknown } | { readonly failed: string }

/** POSTs a signed body (JSON) to the gateway; never throws. */
export async function post (url: URL, signature: Record<string, string>, body: string): Promise<PostAnswer> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signature },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    })
    const text = await response.text()
    let json: unknown
    try { json = JSON.parse(text) } catch { /* not JSON: the status code says enough */ }
    return { status: response.status, json }
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code
    return { failed: `no answer: ${cause ?? (error as Error).message}` }
  }
}

/** `200 accepted`, `401 invalid_signature`, `503 store_unavailable`, `no answer: ECONNREFUSED`. */
export function answerText (answer: PostAnswer): string {
  if ('failed' in answer) return answer.failed
  const json = answer.json as { status?: unknown, error?: unknown } | undefined
  const word = String(json?.status ?? json?.error ?? '')
  return `${answer.status}${word === '' ? '' : ` ${word}`}`
}

function intended (kind: SendKind, answer: string): boolean {
  return kind === 'duplicate' ? answer === '200 duplicate' : answer === '200 accepted' || answer === '200 unrouted'
}

export interface SimulationSummary {
  url: string
  sent: number
  distinct: number
  duplicates: number
  unknown_metrics: number
  covers_catalog: boolean
  seconds: number
  answers: Record<string, number>
  not_as_intended: number
  by_object_type_and_metric: { object_type: string, metric: string, sent: number, answers: Record<string, number> }[]
  events: { event_id: string, object_type: string, metric: string, kind: SendKind, answer: string }[]
}

function summarize (url: URL, coversCatalog: boolean, answered: readonly Answered[], seconds: number): SimulationSummary {
  const answers: Record<string, number> = {}
  const byPair = new Map<string, SimulationSummary['by_object_type_and_metric'][number]>()
  for (const { send, answer } of answered) {
    answers[answer] = (answers[answer] ?? 0) + 1
    const key = `${send.objectType}\u0000${send.metric}`
    let row = byPair.get(key)
    if (row === undefined) {
      row = { object_type: send.objectType, metric: send.metric, sent: 0, answers: {} }
      byPair.set(key, row)
    }
    row.sent++
    row.answers[answer] = (row.answers[answer] ?? 0) + 1
  }
  const duplicates = answered.filter(({ send }) => send.kind === 'duplicate').length
  return {
    url: url.href,
    sent: answered.length,
    distinct: answered.length - duplicates,
    duplicates,
    unknown_metrics: answered.filter(({ send }) => send.kind === 'unknown_metric').length,
    covers_catalog: coversCatalog,
    seconds: Math.round(seconds * 100) / 100,
    answers,
    not_as_intended: answered.filter(({ asIntended }) => !asIntended).length,
    by_object_type_and_metric: [...byPair.values()].sort((a, b) => a.object_type.localeCompare(b.object_type) || b.sent - a.sent || a.metric.localeCompare(b.metric)),
    events: answered.map(({ send, answer }) => ({ event_id: send.eventId, object_type: send.objectType, metric: send.metric, kind: send.kind, answer }))
  }
}

function report (summary: SimulationSummary): string {
  const lines = [
    `sent ${summary.sent} in ${summary.seconds} s: ${summary.distinct} distinct events` +
      `${summary.covers_catalog ? ' (every object type and metric of the catalogue)' : ' (too few to cover every object type and metric)'}, ` +
      `${summary.duplicates} duplicate${summary.duplicates === 1 ? '' : 's'}, ${summary.unknown_metrics} unknown metric`,
    'answers:',
    ...Object.entries(summary.answers).sort(([, a], [, b]) => b - a).map(([answer, count]) => `  ${answer.padEnd(28)} ${String(count).padStart(6)}`),
    'sent by object type and metric, and the answers:'
  ]
  for (const row of summary.by_object_type_and_metric) {
    const answers = Object.entries(row.answers).map(([answer, count]) => `${count} ${answer}`).join(', ')
    lines.push(`  ${row.object_type.padEnd(9)} ${row.metric.padEnd(38)} ${String(row.sent).padStart(5)}  → ${answers}`)
  }
  lines.push(summary.not_as_intended === 0
    ? 'every answer as intended: events accepted (or unrouted), duplicates answered duplicate'
    : `${summary.not_as_intended} answer${summary.not_as_intended === 1 ? '' : 's'} not as intended (see above)`)
  return lines.join('\n') + '\n'
}
