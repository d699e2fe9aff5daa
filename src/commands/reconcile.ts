/**
 * `cio-gateway reconcile [--days N] [--max-gap PCT%[,MIN]] [--json] [--config F]`: compares
 * Customer.io's own daily counts (App API) with the webhooks the gateway accepted, per campaign,
 * newsletter and API-triggered broadcast, day and metric, and names the likely cause of each gap.
 * The exit code is 1 when a completed day has a gap over the limit that no setting explains, so the
 * command can run as a CronJob alert; 2 when the report could not be made (or not in full).
 *
 * `reconcileReport` is pure: it takes what `collect` read and returns the rows; the operator
 * console builds its view from it too. `reconcile` does the I/O around it.
 */
import { Registry } from 'prom-client'
import { pino } from 'pino'
import { loadConfigFile } from '../config/load.js'
import type { GatewayConfig } from '../config/types.js'
import { GatewayMetrics } from '../../plugins/metrics/metrics.js'
import { AppApiClient } from '../../plugins/reporting/app-api.js'
import { collect, reportWindow, type Collected } from '../../plugins/reporting/collect.js'
import { EASTERN_TIME_ZONE } from '../../plugins/reporting/days.js'
import { comparedMetric } from '../../plugins/reporting/metric-map.js'
import { RequestPacer } from '../../plugins/reporting/pacer.js'
import { compareDay, type Comparison } from '../../plugins/reporting/reconciliation.js'
import { openReportingState, retentionFor } from '../../plugins/reporting/state.js'
import { dayEndMs, type TargetKind } from '../../plugins/reporting/targets.js'
import type { Output } from './output.js'
import { RedisTopology } from '../../plugins/queue/redis-topology.js'

export type Cause =
  | 'match' | 'window_incomplete' | 'not_subscribed' | 'machine_flags' | 'every_time_setting'
  | 'missing_webhooks' | 'extra_webhooks'

/** What each cause means, and whether a gap with it over the limit fails the run (a setting does not). */
export const CAUSES: Readonly<Record<Cause, { readonly fails: boolean, readonly meaning: string }>> = {
  match: { fails: false, meaning: 'the gateway received what Customer.io counted' },
  window_incomplete: { fails: false, meaning: 'the day has not ended (or ended less than an hour ago): events are still arriving' },
  not_subscribed: { fails: false, meaning: 'no webhook of this metric arrived in the whole window while others did: the reporting webhook is probably not subscribed to it' },
  machine_flags: { fails: false, meaning: 'the total of opens or clicks matches, only the split differs: Customer.io attributed some of them to people or machines differently from the webhook flags (prefetched, machine)' },
  every_time_setting: { fails: false, meaning: 'more opens or clicks than Customer.io counts: the reporting webhook is set to send them "every time", Customer.io counts each message once' },
  missing_webhooks: { fails: true, meaning: 'Customer.io counted events the gateway did not accept: webhooks failed, are still being retried, were refused (signature) or went elsewhere' },
  extra_webhooks: { fails: true, meaning: 'the gateway accepted more events than Customer.io counted: copies that arrived further apart than dedupe.window, or another workspace sending to this gateway' }
}

/** One row of the report; the JSON output is exactly this object, in this key order. */
export interface ReportRow {
  readonly kind: TargetKind
  readonly id: number
  readonly day: string
  /** The webhook's metric name (`dropped`, not the API's `suppressed`), or a part of opens or clicks (`human_opened`, …). */
  readonly metric: string
  readonly customerio: number
  readonly gateway: number
  /** customerio − gateway: positive when webhooks are missing. */
  readonly gap: number
  readonly cause: Cause
}

/** A gap fails when it is at least `minEvents` events and more than `percent` % of Customer.io's count. */
export interface MaxGap {
  readonly percent: number
  readonly minEvents: number
}

export const DEFAULT_MAX_GAP: MaxGap = { percent: 0.5, minEvents: 5 }

/** A day's counts are final an hour after it ends: webhooks of its last minutes are still on their way before that. */
export const SETTLE_MS = 3_600_000

/** The CLI's request rate: 4/s, so a poller running at the same time keeps the account under Customer.io's 10/s. */
const RECONCILE_PACE = { limit: 4, perMs: 1000 }

export interface ReconcileReport {
  readonly rows: readonly ReportRow[]
  /** Rows of completed days over the limit whose cause is not a setting: each one makes the exit code 1. */
  readonly failing: readonly ReportRow[]
  readonly maxGap: MaxGap
  /** What could not be read: the rows do not cover it. */
  readonly failures: readonly string[]
}

/** `PCT%`, `PCT%,MIN` or `MIN,PCT%`; undefined when it does not read. */
export function parseMaxGap (text: string): MaxGap | undefined {
  let percent = DEFAULT_MAX_GAP.percent
  let minEvents = DEFAULT_MAX_GAP.minEvents
  const parts = text.split(',').map((part) => part.trim())
  if (parts.length > 2) return undefined
  let seen = ''
  for (const part of parts) {
    const pct = /^([0-9]+(?:\.[0-9]+)?)\s*%$/.exec(part)
    if (pct !== null && !seen.includes('%')) {
      percent = Number(pct[1])
      seen += '%'
    } else if (/^[0-9]+$/.test(part) && !seen.includes('n')) {
      minEvents = Number(part)
      seen += 'n'
    } else {
      return undefined
    }
  }
  return { percent, minEvents }
}

export function exceeds (row: Pick<ReportRow, 'customerio' | 'gap'>, maxGap: MaxGap): boolean {
  const size = Math.abs(row.gap)
  return size >= maxGap.minEvents && size > (maxGap.percent / 100) * row.customerio
}

/**
 * Every (target, day, metric) Customer.io or the gateway counted anything for, with its likely
 * cause; rows in kind, id, day and metric-table order.
 */
export function reconcileReport (collected: Pick<Collected, 'window' | 'targets' | 'received' | 'failures'>, options: { maxGap?: MaxGap } = {}): ReconcileReport {
  const maxGap = options.maxGap ?? DEFAULT_MAX_GAP
  const { window } = collected
  const received = receivedMetrics(collected)
  const rows: ReportRow[] = []
  for (const target of collected.targets) {
    for (const day of window.days.get(target.kind) ?? []) {
      const comparisons = compareDay(target, day, collected.received.get(day))
      const complete = dayEndMs(target.kind, day) + SETTLE_MS <= window.nowMs
      for (const comparison of comparisons) {
        if (comparison.customerio === 0 && comparison.gateway === 0) continue
        const cause = causeOf(comparison, comparisons, complete, received)
        rows.push({ kind: target.kind, id: target.id, day, metric: comparison.metric, customerio: comparison.customerio, gateway: comparison.gateway, gap: comparison.gap, cause })
      }
    }
  }
  const failing = rows.filter((row) => CAUSES[row.cause].fails && exceeds(row, maxGap))
  return { rows, failing, maxGap, failures: collected.failures }
}

interface ReceivedMetrics {
  /** Webhook metrics the gateway counted at least once in the window. */
  readonly webhookMetrics: ReadonlySet<string>
}

function receivedMetrics (collected: Pick<Collected, 'received'>): ReceivedMetrics {
  const webhookMetrics = new Set<string>()
  for (const counts of collected.received.values()) {
    for (const [field, count] of counts) {
      const metric = field.slice(field.lastIndexOf(':') + 1)
      const row = comparedMetric(metric)
      if (row !== undefined && count > 0) webhookMetrics.add(row.webhookMetric)
    }
  }
  return { webhookMetrics }
}

function causeOf (comparison: Comparison, sameDay: readonly Comparison[], complete: boolean, received: ReceivedMetrics): Cause {
  if (comparison.gap === 0) return 'match'
  if (!complete) return 'window_incomplete'
  const row = comparedMetric(comparison.metric)
  if (row === undefined) return comparison.gap > 0 ? 'missing_webhooks' : 'extra_webhooks'
  if (comparison.gap > 0 && received.webhookMetrics.size > 0 && !received.webhookMetrics.has(row.webhookMetric)) return 'not_subscribed'
  if (row.partOf !== undefined && sameDay.find((other) => other.metric === row.partOf)?.gap === 0) return 'machine_flags'
  if (row.engagement && comparison.gap < 0) return 'every_time_setting'
  return comparison.gap > 0 ? 'missing_webhooks' : 'extra_webhooks'
}

export function formatJsonLines (report: ReconcileReport): string {
  return report.rows.map((row) => JSON.stringify({
    kind: row.kind, id: row.id, day: row.day, metric: row.metric, customerio: row.customerio, gateway: row.gateway, gap: row.gap, cause: row.cause
  }) + '\n').join('')
}

export function formatTable (report: ReconcileReport): string {
  const header = ['kind', 'id', 'day', 'metric', 'customer.io', 'gateway', 'gap', 'cause']
  const cells = report.rows.map((row) => [row.kind, String(row.id), row.day, row.metric, String(row.customerio), String(row.gateway), String(row.gap), row.cause])
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => (line[column] as string).length)))
  const numeric = new Set([4, 5, 6])
  const line = (values: readonly string[]): string => values.map((value, column) =>
    numeric.has(column) ? value.padStart(widths[column] as number) : value.padEnd(widths[column] as number)).join('  ').trimEnd() + '\n'
  const limit = `gap of at least ${report.maxGap.minEvents} event${report.maxGap.minEvents === 1 ? '' : 's'} and over ${report.maxGap.percent} % of Customer.io's count`
  let text = `Campaign days are UTC days; newsletter and broadcast days are ${EASTERN_TIME_ZONE} days (UTC-05:00 all year), as the App API counts them.\n\n`
  text += report.rows.length === 0 ? 'Nothing to compare: no counts on either side in the window.\n' : line(header) + cells.map(line).join('')
  const causes = [...new Set(report.rows.map((row) => row.cause))].filter((cause) => cause !== 'match')
  if (causes.length > 0) text += '\n' + causes.map((cause) => `${cause}: ${CAUSES[cause].meaning}.\n`).join('')
  text += report.failing.length === 0
    ? `\nNo completed day has an unexplained ${limit}.\n`
    : `\n${report.failing.length} row${report.failing.length === 1 ? '' : 's'} of completed days with an unexplained ${limit}.\n`
  return text
}

export interface ReconcileArgs {
  /** `--days`: days ending today, today included; default and maximum `reporting.lookback`. */
  readonly days?: string
  /** `--max-gap`: PCT%[,MIN]. */
  readonly maxGap?: string
  readonly json: boolean
}

/** The CLI's entry: loads the config file; a config that does not load is exit code 2, like any report that cannot be made. */
export async function runReconcile (configFile: string, args: ReconcileArgs, io: Output): Promise<number> {
  let config: GatewayConfig
  try {
    config = await loadConfigFile(configFile)
  } catch (error) {
    io.err(`${(error as Error).message}\n`)
    return 2
  }
  return await reconcile(config, args, io)
}

export async function reconcile (config: GatewayConfig, args: ReconcileArgs, io: Output, options: { now?: () => number } = {}): Promise<number> {
  const reporting = config.reporting
  if (reporting === undefined) {
    io.err(`reconcile needs the App API: ${config.file} has no reporting.api_key\n`)
    return 2
  }
  const redis = config.queue.redis
  if (redis === undefined) {
    io.err(`reconcile needs the gateway's webhook counts in Redis, and ${config.file} configures none (queue.redis_url, redis_sentinel or redis_cluster): ` +
      'in embedded mode they live inside the running gateway, whose cio_gateway_reconciliation_gap gauges show them.\n')
    return 2
  }
  const days = args.days === undefined ? reporting.lookbackDays : Number(args.days)
  if (!Number.isInteger(days) || days < 1 || days > reporting.lookbackDays) {
    io.err(`--days must be a whole number from 1 to ${reporting.lookbackDays} (reporting.lookback: the gateway keeps its counts that long)\n`)
    return 2
  }
  const maxGap = args.maxGap === undefined ? DEFAULT_MAX_GAP : parseMaxGap(args.maxGap)
  if (maxGap === undefined) {
    io.err(`--max-gap must read PCT% or PCT%,MIN (a percentage of Customer.io's count and a number of events), like 0.5%,5; got '${args.maxGap ?? ''}'\n`)
    return 2
  }

  const logger = pino({ level: 'silent' })
  const state = openReportingState(config.queue, retentionFor(reporting.lookbackDays))
  const client = new AppApiClient({
    baseUrl: reporting.baseUrl,
    apiKey: reporting.apiKey,
    timeoutMs: reporting.requestTimeoutMs,
    metrics: new GatewayMetrics(new Registry(), { defaultMetrics: false }),
    logger,
    pacer: new RequestPacer(RECONCILE_PACE)
  })
  try {
    try {
      await state.ready()
    } catch (error) {
      io.err(`cio-gateway reconcile: cannot reach ${new RedisTopology(redis).describe()}: ${(error as Error).message}\n`)
      return 2
    }
    const collected = await collect(client, state, reportWindow((options.now ?? Date.now)(), days), logger)
    const report = reconcileReport(collected, { maxGap })
    io.out(args.json ? formatJsonLines(report) : formatTable(report))
    if (report.failures.length > 0) io.err(`cio-gateway reconcile: not compared, the App API did not answer for good: ${report.failures.join(', ')}\n`)
    return report.failing.length > 0 ? 1 : report.failures.length > 0 ? 2 : 0
  } catch (error) {
    io.err(`cio-gateway reconcile: ${(error as Error).message}\n`)
    return 2
  } finally {
    await client.close()
    await state.close()
  }
}
