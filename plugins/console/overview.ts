/**
 * The overview (SPEC §12), what an on-call engineer wants first: is the gateway ready, what each
 * sink holds (events, not jobs) and how old the oldest waiting one is, what was delivered and what
 * failed in the last minutes, the last config reload, and reconciliation gaps when the poller runs.
 * It refreshes itself (console.js; a meta refresh without JavaScript).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { CAUSES, reconcileReport, type ReportRow } from '../../src/commands/reconcile.js'
import { html, type Html } from './html.js'
import { UI, count, duration, page, plural, time } from './layout.js'
import { series, type HistoryView } from './history.js'
import { csrfOf } from './auth.js'
import type { ConsoleContext } from './context.js'
import { QUARANTINE_QUEUE, type EventCounts } from '../queue/backend.js'
import { withTimeout } from '../queue/timeout.js'

const RATE_MS = 5 * 60_000
/** A rate over less than this is noise. */
const MIN_RATE_MS = 20_000
const SPARK_MINUTES = 15
const RECONCILIATION_ROWS = 20
/** The overview shows what it has after this long, not a page that never comes. */
const QUEUE_WAIT_MS = 3000

export async function overviewRoutes (app: FastifyInstance, context: ConsoleContext): Promise<void> {
  const handler = async (request: FastifyRequest): Promise<string> => {
    const config = context.current()
    const [readiness, queues, view] = await Promise.all([
      readinessOf(context),
      Promise.all([...config.sinks.values(), { name: QUARANTINE_QUEUE, type: 'quarantine' }].map(async (sink) => ({
        sink,
        counts: await withTimeout(context.backend.eventCounts(sink.name), QUEUE_WAIT_MS, `no answer in ${QUEUE_WAIT_MS / 1000} s`).catch((error: Error) => error)
      }))),
      context.history.view()
    ])
    return page({
      title: 'Overview',
      section: 'overview',
      csrf: csrfOf(request, config.admin.token),
      warning: context.warning,
      refresh: true,
      body: html`<h1>Overview</h1>
${statusSection(context, readiness)}
<section>
<h2>Sinks</h2>
<p class="hint">Events, not jobs (≈: estimated from a sample of the jobs, which hold groups of events). Rates and errors: this process, ${view.covered(RATE_MS) < MIN_RATE_MS ? 'collecting (they appear within a minute of the start)' : `the last ${duration(view.covered(RATE_MS))}`}.</p>
<table class="sinks">
<thead><tr><th>Sink</th><th>Type</th><th class="n">Waiting</th><th class="n">Delayed</th><th class="n">In delivery</th><th class="n">Dead letters</th><th>Oldest waiting</th><th class="n">Delivered /min</th><th>Last ${SPARK_MINUTES} min</th><th>Errors</th></tr></thead>
<tbody>
${queues.map(({ sink, counts }) => sinkRow(sink.name, sink.type, counts, view))}
</tbody>
</table>
</section>
${ingestSection(view)}
${reconciliationSection(context)}`
    }).text
  }
  for (const path of [UI, `${UI}/`]) {
    app.get(path, async (request, reply) => await reply.type('text/html; charset=utf-8').send(await handler(request)))
  }
}

interface Readiness { ready: boolean, detail: string }

async function readinessOf (context: ConsoleContext): Promise<Readiness> {
  if (context.isClosing()) return { ready: false, detail: 'shutting down' }
  try {
    await withTimeout(context.backend.ping(), QUEUE_WAIT_MS, `the queue did not answer in ${QUEUE_WAIT_MS / 1000} s`)
    return { ready: true, detail: 'config loaded, queue answers' }
  } catch (error) {
    return { ready: false, detail: `queue: ${(error as Error).message}` }
  }
}

function statusSection (context: ConsoleContext, readiness: Readiness): Html {
  const config = context.current()
  const redis = config.queue.redis
  const queue = redis === undefined
    ? 'embedded (in memory, not durable)'
    : `Redis ${redis.kind === 'single' ? 'node' : redis.kind}${config.queue.shards > 1 ? `, ${config.queue.shards} shards` : ''}, prefix ${config.queue.prefix}`
  const reload = context.reloader.lastReload
  return html`<section>
<h2>Status</h2>
<dl class="status">
<dt>Readiness</dt><dd><span class="badge ${readiness.ready ? 'ok' : 'bad'}">${readiness.ready ? 'ready' : 'not ready'}</span> ${readiness.detail}</dd>
<dt>Queue</dt><dd>${queue}</dd>
<dt>Process</dt><dd>role ${context.role}, up ${duration(Date.now() - context.startedAt)}, config ${config.file}</dd>
<dt>Last config reload</dt><dd>${reload === undefined
    ? 'none since the process started'
    : reload.outcome.result === 'success'
      ? html`<span class="badge ok">applied</span> ${time(reload.at)} (${reload.trigger}): sinks added ${list(reload.outcome.summary.sinks.added)}, changed ${list(reload.outcome.summary.sinks.changed)}, removed ${list(reload.outcome.summary.sinks.removed)}; ${plural(reload.outcome.summary.routes, 'route')}`
      : html`<span class="badge bad">refused</span> ${time(reload.at)} (${reload.trigger}), still running the previous configuration:
<ul class="errors">${reload.outcome.errors.slice(0, 10).map((error) => html`<li><code>${error}</code></li>`)}</ul>`}</dd>
</dl>
</section>`
}

function list (names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ')
}

function sinkRow (name: string, type: string, counts: EventCounts | Error, view: HistoryView): Html {
  const deadLetters = html`<a href="${UI}/dead-letters/${encodeURIComponent(name)}">`
  if (counts instanceof Error) {
    return html`<tr><td>${deadLetters}${name}</a></td><td>${type}</td><td colspan="8" class="bad">queue unreachable: ${counts.message}</td></tr>`
  }
  const about = counts.estimated ? '≈ ' : ''
  const covered = view.covered(RATE_MS)
  const delivers = name !== QUARANTINE_QUEUE
  const delivered = covered < MIN_RATE_MS || !delivers ? undefined : view.delta(series.delivered(name), RATE_MS) / covered * 60_000
  const errors = [...view.deltas(series.errors(name), RATE_MS)].sort((a, b) => b[1] - a[1])
  const dead = view.delta(series.deadLettered(name), RATE_MS)
  const age = counts.oldestWaitingAt === undefined ? undefined : Date.now() - counts.oldestWaitingAt
  return html`<tr>
<td>${deadLetters}${name}</a></td><td>${type}</td>
<td class="n">${about}${count(counts.waiting)}</td><td class="n">${about}${count(counts.delayed)}</td><td class="n">${about}${count(counts.active)}</td>
<td class="n${counts.failed > 0 ? ' bad' : ''}">${deadLetters}${about}${count(counts.failed)}</a></td>
<td${age !== undefined && age > 60_000 ? html` class="warn"` : ''}>${age === undefined ? '–' : duration(age)}</td>
<td class="n">${delivered === undefined ? '–' : delivered.toFixed(delivered < 10 ? 1 : 0)}</td>
<td>${delivers ? sparkline(view.perMinute(series.delivered(name), SPARK_MINUTES)) : ''}</td>
<td>${errors.length === 0 && dead === 0
    ? '–'
    : html`${errors.map(([errorType, times]) => html`<span class="badge bad">${errorType} × ${count(times)}</span> `)}${dead > 0 ? html`<span class="badge bad">dead-lettered × ${count(dead)}</span>` : ''}`}</td>
</tr>`
}

/** Bars of events per minute, oldest first; minutes before the process sampled are left blank. */
function sparkline (perMinute: ReadonlyArray<number | undefined>): Html {
  const max = Math.max(1, ...perMinute.map((value) => value ?? 0))
  const width = 6
  const height = 20
  const label = perMinute.map((value) => value === undefined ? '–' : String(value)).join(', ')
  return html`<svg class="spark" width="${perMinute.length * width}" height="${height}" viewBox="0 0 ${perMinute.length * width} ${height}" role="img" aria-label="events delivered per minute: ${label}"><title>per minute: ${label}</title>${perMinute.map((value, index) => {
    const bar = value === undefined || value === 0 ? 0 : Math.max(1, Math.round(value / max * height))
    return html`<rect x="${index * width}" y="${height - bar}" width="${width - 1}" height="${bar}"></rect>`
  })}</svg>`
}

function ingestSection (view: HistoryView): Html {
  const covered = view.covered(RATE_MS)
  const perMinute = (key: string): string => covered < MIN_RATE_MS ? '–' : (view.delta(key, RATE_MS) / covered * 60_000).toFixed(1)
  const refused = [...view.deltas(series.unavailable, RATE_MS)].map(([reason, times]) => html`<span class="badge bad">503 ${reason} × ${count(times)}</span> `)
  const rejected = [...view.deltas(series.rejected, RATE_MS)].map(([reason, times]) => html`<span class="badge warn">${reason} × ${count(times)}</span> `)
  return html`<section>
<h2>Ingest</h2>
<dl class="status">
<dt>Received /min</dt><dd>${perMinute(series.received)} (duplicates ${perMinute(series.duplicate)}, quarantined ${perMinute(series.quarantined)})</dd>
<dt>Answered 503</dt><dd>${refused.length === 0 ? 'none' : refused}</dd>
<dt>Refused (401, 413)</dt><dd>${rejected.length === 0 ? 'none' : rejected}</dd>
</dl>
</section>`
}

function reconciliationSection (context: ConsoleContext): Html {
  const title = html`<h2>Reconciliation</h2>`
  if (context.current().reporting === undefined) return html`<section>${title}<p>Off: no <code>reporting.api_key</code> is configured.</p></section>`
  const collected = context.reconciliation()
  if (collected === undefined) {
    return html`<section>${title}<p>No poll of the App API has run in this process yet${context.role === 'ingest' ? ' (the poller runs in the worker role)' : ''}.
The gap gauges (<code>cio_gateway_reconciliation_gap</code>) and <code>cio-gateway reconcile</code> show them from any process.</p></section>`
  }
  const report = reconcileReport(collected)
  const gaps = report.rows.filter((row) => row.cause !== 'match' && row.cause !== 'window_incomplete')
    .sort((a, b) => Number(report.failing.includes(b)) - Number(report.failing.includes(a)) || Math.abs(b.gap) - Math.abs(a.gap))
  return html`<section>${title}
<p>This process's poll at ${time(collected.window.nowMs)}: ${plural(report.rows.length, 'row')} compared, ${plural(report.failing.length, 'gap')} over the limit
(at least ${report.maxGap.minEvents} events and over ${report.maxGap.percent} % of Customer.io's count) with no setting to explain ${report.failing.length === 1 ? 'it' : 'them'}.
${report.failures.length > 0 ? html`<span class="bad">Not read: ${report.failures.join('; ')}.</span>` : ''}</p>
${gaps.length === 0
    ? html`<p>No gaps on completed days.</p>`
    : html`<table>
<thead><tr><th>Kind</th><th class="n">Id</th><th>Day</th><th>Metric</th><th class="n">Customer.io</th><th class="n">Gateway</th><th class="n">Gap</th><th>Likely cause</th></tr></thead>
<tbody>${gaps.slice(0, RECONCILIATION_ROWS).map((row) => gapRow(row, report.failing.includes(row)))}</tbody>
</table>
${gaps.length > RECONCILIATION_ROWS ? html`<p class="hint">${count(gaps.length - RECONCILIATION_ROWS)} more: <code>cio-gateway reconcile</code> lists them all.</p>` : ''}`}
</section>`
}

function gapRow (row: ReportRow, failing: boolean): Html {
  return html`<tr${failing ? html` class="bad"` : ''}><td>${row.kind}</td><td class="n">${row.id}</td><td>${row.day}</td><td>${row.metric}</td>
<td class="n">${count(row.customerio)}</td><td class="n">${count(row.gateway)}</td><td class="n">${count(row.gap)}</td>
<td title="${CAUSES[row.cause].meaning}">${row.cause}</td></tr>`
}
