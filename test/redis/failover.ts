/**
 * One failover under steady signed load, judged as SPEC §11 asks: every answer is 200 or 503 with
 * Retry-After (never a 500, never slower than 4 s), ingest answers 200 again within the detection
 * time plus 2 s, and every event answered `accepted` reaches the sink (0 lost), the workers having
 * resumed by themselves.
 */
import type { Test } from 'tap'
import { eventually } from '../helpers/app.js'
import { missingFromFileSink } from '../helpers/request-stream.js'
import { SignedLoad, acceptedIds, answerKinds, type Answer, type GatewayOnRedis } from './helpers.js'

export interface FailoverRun {
  readonly gateway: GatewayOnRedis
  /** The failure (kill -9, DEBUG SLEEP); resolves once it is done. */
  readonly fail: () => Promise<void>
  /** How long the topology takes to notice (cluster-node-timeout, down-after-milliseconds). */
  readonly detectionMs: number
  /** Load before the failure, and after it. */
  readonly beforeMs?: number
  readonly afterMs?: number
  /**
   * Started right after the failure: resolves with the moment the topology itself had failed over
   * (a replica promoted), or with a sentence on why it was not seen.
   */
  readonly promoted?: () => Promise<number | string>
}

const FOUR_SECONDS = 4000
/** What SPEC §11 allows on top of the detection time before ingest answers 200 again. */
const RECOVERY_MARGIN_MS = 2000
/**
 * How long the gateway may take to follow a promotion that came later than the margin allows. Redis
 * promotes a replica about 1.2 s after the node timeout on an idle machine (its election waits 0.5–1 s
 * on purpose); on a starved CI machine its own promotion once came 3 s after the kill, when no client
 * could answer 200 within the margin. The gateway follows in 0.3–0.4 s (it reads the slot map every
 * 250 ms); this is the bound it is held to then.
 */
const FOLLOW_MS = 1000

export async function failUnderLoad (t: Test, run: FailoverRun): Promise<Answer[]> {
  const load = new SignedLoad(run.gateway.url)
  await new Promise((resolve) => setTimeout(resolve, run.beforeMs ?? 2000))
  const failedAt = Date.now()
  await run.fail()
  const promoted = run.promoted?.() ?? Promise.resolve('not watched')
  await new Promise((resolve) => setTimeout(resolve, run.afterMs ?? run.detectionMs + RECOVERY_MARGIN_MS + 4000))
  const answers = await load.stop()
  const promotedAt = await promoted
  const kinds = answerKinds(answers)
  t.comment(`answers: ${JSON.stringify(kinds)}`)

  const refused = answers.filter((answer) => answer.status !== 200)
  t.same(refused.filter((answer) => answer.status !== 503), [], 'every answer is 200 or 503: never a 500, never none')
  t.same(refused.filter((answer) => answer.retryAfter === undefined), [], 'every 503 carries Retry-After')
  const slowest = Math.max(...answers.map((answer) => answer.ms))
  t.ok(slowest < FOUR_SECONDS, `every answer within 4 s (slowest ${slowest} ms)`)
  // The limit is the detection time plus the margin, unless Redis itself promoted later than that
  // allows; then the gateway must follow within FOLLOW_MS of the promotion.
  const specified = failedAt + run.detectionMs + RECOVERY_MARGIN_MS
  const recoveredBy = typeof promotedAt === 'number' ? Math.max(specified, promotedAt + FOLLOW_MS) : specified
  t.comment(typeof promotedAt === 'number' ? `the topology promoted a replica ${promotedAt - failedAt} ms after the failure` : `promotion: ${promotedAt}`)
  const lastRefused = refused.at(-1)
  t.comment(`503s from ${refused.length === 0 ? '-' : refused[0]?.sentAt as number - failedAt} to ${lastRefused === undefined ? '-' : lastRefused.sentAt - failedAt} ms after the failure (allowed until ${recoveredBy - failedAt} ms)`)
  const late = refused.filter((answer) => answer.sentAt >= recoveredBy)
  t.same(late.map((answer) => ({ after: answer.sentAt - failedAt, body: answer.body })), [],
    recoveredBy === specified
      ? `ingest answers 200 again within ${run.detectionMs} + ${RECOVERY_MARGIN_MS} ms of the failure`
      : `Redis promoted late (${(promotedAt as number) - failedAt} ms): ingest answers 200 again within ${FOLLOW_MS} ms of the promotion`)
  if (late.length > 0) t.comment(`why the gateway refused:\n${causes(run.gateway.process.output(), failedAt)}`)
  t.ok(answers.filter((answer) => answer.sentAt >= recoveredBy).length > 20, 'and keeps taking events after it')

  const accepted = acceptedIds(answers)
  const loadEndedAt = Date.now()
  const missing = await eventually(async () => {
    const left = missingFromFileSink(run.gateway.eventsDir, accepted)
    return left.length === 0 ? left : undefined
  }, 60_000, 'every accepted event in the file sink').catch(() => missingFromFileSink(run.gateway.eventsDir, accepted))
  // The workers follow the failover by themselves: how long the last deliveries took shows whether they waited for a timer.
  t.comment(`all accepted events delivered ${Date.now() - loadEndedAt} ms after the load ended`)
  t.same(missing, [], `every one of the ${accepted.length} accepted events is delivered (0 lost)`)
  return answers
}

/** The gateway's log lines about refused events, with their time from the failure (for a failed recovery check). */
function causes (output: string, failedAt: number): string {
  return output.split('\n').flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { time?: number, msg?: string, cause?: string, error?: string }
      if (entry.cause === undefined && entry.error === undefined) return []
      return [`${(entry.time ?? 0) - failedAt} ms: ${entry.msg ?? ''} ${entry.cause ?? entry.error ?? ''}`]
    } catch {
      return []
    }
  }).slice(-40).join('\n')
}
