/**
 * The one table that says which webhook events make up which App API series, so reconciliation
 * compares like with like.
 *
 * Series names are those of `metric.series` in the published App API spec (campaign, newsletter and
 * broadcast metrics: attempted, sent, delivered, opened, human_opened, prefetch_opened, clicked,
 * human_clicked, machine_clicked, suppressed, …; https://docs.customer.io/integrations/api/app/). Webhook
 * metrics and flags are those of the published reporting-webhook spec
 * (https://docs.customer.io/files/journeys-webhooks.json): `dropped` is "did not send an email because
 * it was addressed to a person who was suppressed", which the API counts as `suppressed`.
 *
 * Opens and clicks are split the way the API splits them:
 * - an open with `prefetched: true` ("opened by Gmail, Apple Privacy Protection, or a user agent
 *   identified as a machine") is a machine open, counted in `prefetch_opened`; every other open is
 *   a human open, counted in `human_opened`. `proxied` (fetched through a proxy that hides the
 *   person) and `synthetic` (inferred from a click; "does not necessarily mean that the open was
 *   machine-oriented") do not make an open a machine open: the spec says a person may be behind both.
 * - a click with `machine: true` is counted in `machine_clicked`, every other one in `human_clicked`.
 * When Customer.io attributes an open or click differently, the total still matches and only the
 * split differs; the report names that cause (`machine_flags`).
 */

export interface ComparedMetric {
  /**
   * The name reports and gauges use: the webhook's metric (`dropped`, not `suppressed`), or for a
   * part of a webhook metric's events the API's name for that part (`human_opened`, …).
   */
  readonly metric: string
  /** The App API series counting the same events. */
  readonly series: string
  /** The webhook metric whose events are counted. */
  readonly webhookMetric: string
  /** Which of those events count (all when absent), from the event's `data`. */
  readonly only?: (data: Readonly<Record<string, unknown>>) => boolean
  /** For a part of opens or clicks: the row of their total. */
  readonly partOf?: string
  /** Opens and clicks: Customer.io counts one per delivery, the webhook can send every one. */
  readonly engagement: boolean
}

const machineOpen = (data: Readonly<Record<string, unknown>>): boolean => data.prefetched === true
const machineClick = (data: Readonly<Record<string, unknown>>): boolean => data.machine === true

const same = (metric: string): ComparedMetric => ({ metric, series: metric, webhookMetric: metric, engagement: false })

export const COMPARED_METRICS: readonly ComparedMetric[] = [
  same('drafted'),
  same('attempted'),
  same('sent'),
  same('delivered'),
  { metric: 'opened', series: 'opened', webhookMetric: 'opened', engagement: true },
  { metric: 'human_opened', series: 'human_opened', webhookMetric: 'opened', only: (data) => !machineOpen(data), partOf: 'opened', engagement: true },
  { metric: 'prefetch_opened', series: 'prefetch_opened', webhookMetric: 'opened', only: machineOpen, partOf: 'opened', engagement: true },
  { metric: 'clicked', series: 'clicked', webhookMetric: 'clicked', engagement: true },
  { metric: 'human_clicked', series: 'human_clicked', webhookMetric: 'clicked', only: (data) => !machineClick(data), partOf: 'clicked', engagement: true },
  { metric: 'machine_clicked', series: 'machine_clicked', webhookMetric: 'clicked', only: machineClick, partOf: 'clicked', engagement: true },
  same('converted'),
  same('unsubscribed'),
  same('bounced'),
  { metric: 'dropped', series: 'suppressed', webhookMetric: 'dropped', engagement: false },
  same('spammed'),
  same('failed'),
  same('undeliverable'),
  same('deferred'),
  same('replied')
]

const BY_WEBHOOK_METRIC = new Map<string, ComparedMetric[]>()
for (const row of COMPARED_METRICS) {
  const rows = BY_WEBHOOK_METRIC.get(row.webhookMetric)
  if (rows === undefined) BY_WEBHOOK_METRIC.set(row.webhookMetric, [row])
  else rows.push(row)
}

const BY_METRIC = new Map(COMPARED_METRICS.map((row) => [row.metric, row]))

/** The rows an accepted webhook event counts in: none for a metric the API has no series of. */
export function rowsCounting (webhookMetric: string, data: Readonly<Record<string, unknown>>): ComparedMetric[] {
  return (BY_WEBHOOK_METRIC.get(webhookMetric) ?? []).filter((row) => row.only === undefined || row.only(data))
}

export function comparedMetric (metric: string): ComparedMetric | undefined {
  return BY_METRIC.get(metric)
}
