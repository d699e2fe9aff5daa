/**
 * `cio-gateway simulate --source-type customerio_pipelines`: realistic Data Pipelines batches
 * (src/simulate/pipelines.ts) signed with X-Signature, paced at `rate` events per second. A batch is
 * as intended when it is answered 200 with every new event accepted (or unrouted) and every event
 * an earlier batch carried duplicate; the exit code is 1 when any batch was not.
 */
import { customerioPipelinesSource } from '../../plugins/sources/customerio-pipelines/definition.js'
import { pipelinesSignature } from '../../plugins/sources/customerio-pipelines/signature.js'
import { seededRandom } from '../simulate/events.js'
import { planPipelinesSimulation, type PlannedBatch } from '../simulate/pipelines.js'
import type { IngestCounts } from '../ingest.js'
import { DEFAULT_WEBHOOK_PATHS, answerText, post, sendPaced, warnUnauthorized, webhookUrl, type SimulateOptions } from './simulate.js'
import type { Output } from './output.js'

interface AnsweredBatch {
  readonly batch: PlannedBatch
  /** `200`, `401 invalid_signature`, `no answer: …` */
  readonly answer: string
  readonly counts: IngestCounts | undefined
  readonly asIntended: boolean
}

export interface PipelinesSummary {
  url: string
  sent: number
  batches: number
  batch_sizes: { min: number, max: number, mean: number }
  distinct: number
  duplicates: number
  seconds: number
  answers: Record<string, number>
  counts: IngestCounts
  not_as_intended: number
  by_type_and_event: { type: string, event: string | null, sent: number }[]
  requests: { events: number, duplicates: number, answer: string, counts: IngestCounts | null }[]
}

export async function simulatePipelines (options: SimulateOptions, io: Output): Promise<number> {
  const url = webhookUrl(options.url, DEFAULT_WEBHOOK_PATHS.customerio_pipelines)
  const plan = planPipelinesSimulation({ count: options.count, random: seededRandom(options.seed) })
  if (!options.json) {
    io.out(`cio-gateway simulate: ${plan.events} Data Pipelines events in ${plan.batches.length} batches to ${url.href} at up to ${options.rate} events/s (seed ${options.seed})\n`)
  }
  const answered: AnsweredBatch[] = new Array(plan.batches.length)
  const started = Date.now()
  await sendPaced(plan.batches, {
    rate: options.rate,
    events: (batch) => batch.events.length,
    // A batch that repeats events goes out once the batches that carried them are answered, as a retry would.
    after: (batch) => batch.after,
    send: async (batch, index) => {
      const answer = await post(url, { 'x-signature': pipelinesSignature(options.secret, batch.body) }, batch.body)
      const counts = 'status' in answer && answer.status === 200 ? countsOf(answer.json) : undefined
      const text = counts === undefined ? answerText(answer) : '200'
      answered[index] = { batch, answer: text, counts, asIntended: counts !== undefined && intended(batch, counts) }
      if (options.verbose) {
        io.out(`  #${index + 1} ${batch.events.length} events (${batch.duplicates} sent before) → ${text}${counts === undefined ? '' : ` ${JSON.stringify(counts)}`}\n`)
      }
    }
  })
  const summary = summarize(url, plan.duplicates, answered, (Date.now() - started) / 1000)
  io.out(options.json ? JSON.stringify(summary, null, 2) + '\n' : report(summary))
  warnUnauthorized(answered.filter(({ answer }) => answer.startsWith('401')).length, customerioPipelinesSource.type, io)
  return summary.not_as_intended === 0 ? 0 : 1
}

function countsOf (json: unknown): IngestCounts | undefined {
  const counts = json as Partial<IngestCounts> | undefined
  const keys = ['accepted', 'duplicate', 'unrouted', 'quarantined'] as const
  return keys.every((key) => typeof counts?.[key] === 'number') ? counts as IngestCounts : undefined
}

/** Every new event stored (or unrouted), every repeated one a duplicate, nothing quarantined. */
function intended (batch: PlannedBatch, counts: IngestCounts): boolean {
  return counts.accepted + counts.unrouted === batch.events.length - batch.duplicates && counts.duplicate === batch.duplicates && counts.quarantined === 0
}

function summarize (url: URL, duplicates: number, answered: readonly AnsweredBatch[], seconds: number): PipelinesSummary {
  const answers: Record<string, number> = {}
  const counts: IngestCounts = { accepted: 0, duplicate: 0, unrouted: 0, quarantined: 0 }
  const byPair = new Map<string, PipelinesSummary['by_type_and_event'][number]>()
  const seen = new Set<string>()
  for (const { batch, answer, counts: batchCounts } of answered) {
    answers[answer] = (answers[answer] ?? 0) + 1
    for (const key of Object.keys(counts) as (keyof IngestCounts)[]) counts[key] += batchCounts?.[key] ?? 0
    for (const event of batch.events) {
      if (seen.has(event.messageId)) continue
      seen.add(event.messageId)
      const key = `${event.type}\u0000${event.event ?? ''}`
      const row = byPair.get(key) ?? { type: event.type, event: event.event ?? null, sent: 0 }
      row.sent++
      byPair.set(key, row)
    }
  }
  const sizes = answered.map(({ batch }) => batch.events.length)
  const sent = sizes.reduce((sum, size) => sum + size, 0)
  return {
    url: url.href,
    sent,
    batches: answered.length,
    batch_sizes: { min: Math.min(...sizes), max: Math.max(...sizes), mean: Math.round(sent / Math.max(1, sizes.length)) },
    distinct: seen.size,
    duplicates,
    seconds: Math.round(seconds * 100) / 100,
    answers,
    counts,
    not_as_intended: answered.filter(({ asIntended }) => !asIntended).length,
    by_type_and_event: [...byPair.values()].sort((a, b) => b.sent - a.sent || a.type.localeCompare(b.type) || String(a.event).localeCompare(String(b.event))),
    requests: answered.map(({ batch, answer, counts: batchCounts }) => ({ events: batch.events.length, duplicates: batch.duplicates, answer, counts: batchCounts ?? null }))
  }
}

function report (summary: PipelinesSummary): string {
  const { min, max, mean } = summary.batch_sizes
  const lines = [
    `sent ${summary.sent} events in ${summary.batches} batches (${min}–${max} events, ${mean} on average) in ${summary.seconds} s: ` +
      `${summary.distinct} distinct, ${summary.duplicates} sent again in a later batch`,
    'answers:',
    ...Object.entries(summary.answers).sort(([, a], [, b]) => b - a).map(([answer, count]) => `  ${answer.padEnd(28)} ${String(count).padStart(6)} batches`),
    `events: ${summary.counts.accepted} accepted, ${summary.counts.duplicate} duplicate, ${summary.counts.unrouted} unrouted, ${summary.counts.quarantined} quarantined`,
    'sent by type and event:',
    ...summary.by_type_and_event.map((row) => `  ${row.type.padEnd(9)} ${(row.event ?? '').padEnd(24)} ${String(row.sent).padStart(6)}`)
  ]
  lines.push(summary.not_as_intended === 0
    ? 'every answer as intended: new events accepted (or unrouted), events sent before answered duplicate'
    : `${summary.not_as_intended} batch${summary.not_as_intended === 1 ? '' : 'es'} not answered as intended (see above)`)
  return lines.join('\n') + '\n'
}
