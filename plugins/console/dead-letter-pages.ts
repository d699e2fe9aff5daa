/**
 * The dead letters pages' HTML: a sink's dead letters grouped by error and listed with filters and
 * pages, one dead letter in detail, and the preview that every bulk action and discard goes through.
 * Every value that comes from an event (ids, types, errors, bodies) goes through `html`'s escaping.
 */
import { html, query, type Html } from './html.js'
import { UI, count, plural, time } from './layout.js'
import {
  FILTER_FIELDS, PAGE_SIZES, describeFilter, type Action, type FilterParams, type Notice, type Paging
} from './dead-letter-params.js'
import type { DeadLetterDetail, DeadLetterListing, DeadLetterRow } from '../queue/dead-letter-book.js'
import type { EventCounts } from '../queue/backend.js'

export function sinkPath (sink: string): string {
  return `${UI}/dead-letters/${encodeURIComponent(sink)}`
}

export function eventPath (sink: string, ref: string): string {
  return `${sinkPath(sink)}/events/${encodeURIComponent(ref)}`
}

const ACTION_WORDS: Readonly<Record<Action, { verb: string, done: string }>> = {
  retry: { verb: 'Re-queue', done: 'Re-queued' },
  discard: { verb: 'Discard', done: 'Discarded' }
}

export function queueIndex (queues: ReadonlyArray<{ name: string, type: string, counts: EventCounts | Error }>): Html {
  return html`<h1>Dead letters</h1>
<table>
<thead><tr><th>Sink</th><th>Type</th><th class="n">Dead letters</th></tr></thead>
<tbody>${queues.map(({ name, type, counts }) => html`<tr><td><a href="${sinkPath(name)}">${name}</a></td><td>${type}</td>
<td class="n">${counts instanceof Error ? html`<span class="bad">${counts.message}</span>` : `${counts.estimated ? '≈ ' : ''}${count(counts.failed)}`}</td></tr>`)}</tbody>
</table>`
}

export interface ListPage {
  readonly sink: string
  readonly type: string
  readonly sinks: readonly string[]
  readonly csrf: string
  readonly listing: DeadLetterListing
  readonly params: FilterParams
  readonly problems: readonly string[]
  readonly paging: Paging
  readonly notice: Notice | undefined
  /** This page's own URL (where an action returns to). */
  readonly self: string
}

export function listPage (options: ListPage): Html {
  const { sink, listing, params, paging } = options
  const base = sinkPath(sink)
  const filtered = FILTER_FIELDS.some((field) => params[field] !== undefined)
  const firstRow = (paging.page - 1) * paging.size
  const pages = Math.max(1, Math.ceil(listing.total / paging.size))
  const pageLink = (page: number, label: string): Html =>
    html`<a href="${base}${query({ ...params, per_page: paging.size === 100 ? undefined : paging.size, page: page === 1 ? undefined : page })}">${label}</a>`
  return html`<h1>Dead letters of <code>${sink}</code> <small>${options.type}</small></h1>
<nav class="sinks">${options.sinks.map((name) => html`<a href="${sinkPath(name)}"${name === sink ? html` aria-current="page"` : ''}>${name}</a>`)}</nav>
${options.notice === undefined ? '' : noticeBanner(options.notice)}
${options.problems.map((problem) => html`<p class="banner error" role="alert">${problem}</p>`)}
${listing.complete ? '' : html`<p class="banner warning">This sink holds more dead letters than a page reads: the newest ${count(listing.scanned)} are listed and grouped here. Actions and exports by filter take every match.</p>`}
<section>
<h2>By error</h2>
${listing.groups.length === 0
    ? html`<p>No dead letters${filtered ? ' match the other filters' : ''}.</p>`
    : html`<table class="groups">
<thead><tr><th>Error</th><th class="n">Events</th><th>First seen</th><th>Last seen</th></tr></thead>
<tbody>${listing.groups.map((group) => html`<tr${group.error === params.error ? html` class="chosen"` : ''}>
<td><a href="${base}${query({ ...params, error: group.error })}" class="error-text">${group.error === '' ? '(no error text)' : group.error}</a></td>
<td class="n">${count(group.events)}</td><td class="time">${time(group.firstFailedAt)}</td><td class="time">${time(group.lastFailedAt)}</td></tr>`)}</tbody>
</table>`}
</section>
<section>
<h2>Events</h2>
<form method="get" action="${base}" class="filters">
<label>Error <select name="error"><option value="">any</option>${listing.groups.map((group) => html`<option value="${group.error}"${group.error === params.error ? html` selected` : ''}>${truncate(group.error, 80)}</option>`)}</select></label>
<label>Source <input name="source" value="${params.source}" size="12"></label>
<label>Object type <input name="object_type" value="${params.object_type}" size="10" placeholder="email"></label>
<label>Metric <input name="metric" value="${params.metric}" size="10" placeholder="bounced"></label>
<label>event_id <input name="event_id" value="${params.event_id}" size="20" placeholder="part of it"></label>
<label>Failed from <input type="datetime-local" name="from" value="${params.from}"></label>
<label>to <input type="datetime-local" name="to" value="${params.to}"></label>
<label>Per page <select name="per_page">${PAGE_SIZES.map((size) => html`<option${size === paging.size ? html` selected` : ''}>${size}</option>`)}</select></label>
<button type="submit">Filter</button> <a href="${base}">Clear</a>
</form>
<p class="summary"><strong>${plural(listing.total, 'event')}</strong> ${filtered ? 'match' : 'dead-lettered'}${listing.total > 0 ? html`; showing ${count(Math.min(listing.total, firstRow + 1))}–${count(Math.min(listing.total, firstRow + paging.size))}` : ''}.
Times are UTC.</p>
${listing.total === 0
    ? ''
    : html`<p class="actions">
<a class="button" href="${base}/confirm${query({ ...params, action: 'retry' })}">Re-queue ${filtered ? 'the' : 'all'} ${plural(listing.total, 'event')}…</a>
<a class="button danger" href="${base}/confirm${query({ ...params, action: 'discard' })}">Discard ${filtered ? 'the' : 'all'} ${plural(listing.total, 'event')}…</a>
<a class="button" href="${base}/export.ndjson${query(params)}" download>Export NDJSON</a>
</p>
<form id="one" method="post" action="${base}/retry-one"><input type="hidden" name="_csrf" value="${options.csrf}"><input type="hidden" name="back" value="${options.self}"></form>
<form id="selection" method="post" action="${base}/confirm"><input type="hidden" name="_csrf" value="${options.csrf}"></form>
<table class="letters">
<thead><tr><th><input type="checkbox" class="select-all" aria-label="select every event of the page"></th><th>event_id</th><th>Type / metric</th><th>Source</th><th>Received</th><th>Failed</th><th class="n">Attempts</th><th>Error</th><th></th></tr></thead>
<tbody>${listing.rows.map((row) => letterRow(sink, row))}</tbody>
</table>
<p class="actions">
<button type="submit" form="selection" name="action" value="retry">Re-queue selected…</button>
<button type="submit" form="selection" name="action" value="discard" class="danger">Discard selected…</button>
</p>
<nav class="pages">${paging.page > 1 ? pageLink(paging.page - 1, '← newer') : ''} page ${count(paging.page)} of ${count(pages)} ${paging.page < pages ? pageLink(paging.page + 1, 'older →') : ''}</nav>`}
</section>`
}

function letterRow (sink: string, row: DeadLetterRow): Html {
  return html`<tr>
<td><input type="checkbox" form="selection" name="ref" value="${row.ref}" aria-label="select ${row.eventId}"></td>
<td><a href="${eventPath(sink, row.ref)}" class="id">${row.eventId}</a></td>
<td>${row.objectType === undefined ? html`<span class="hint">not an event</span>` : html`${row.objectType} / ${row.metric}`}</td>
<td>${row.source}</td><td class="time">${time(row.receivedAt)}</td><td class="time">${time(row.failedAt)}</td><td class="n">${row.attempts}</td>
<td class="error-text" title="${row.error}">${truncate(row.error, 120)}</td>
<td><button type="submit" form="one" name="ref" value="${row.ref}">Re-queue</button></td>
</tr>`
}

function noticeBanner (notice: Notice): Html {
  const words = ACTION_WORDS[notice.action]
  if (notice.expected === undefined || notice.expected === notice.done) {
    return html`<p class="banner ok" role="status">${words.done} ${plural(notice.done, 'event')}.</p>`
  }
  return html`<p class="banner warning" role="status">${words.done} ${count(notice.done)} of the ${plural(notice.expected, 'event')} previewed: the others changed meanwhile (re-queued, discarded or dead-lettered again by someone else).</p>`
}

export function detailPage (sink: string, detail: DeadLetterDetail, masked: unknown, csrf: string): Html {
  const back = sinkPath(sink)
  return html`<p><a href="${back}">← dead letters of ${sink}</a></p>
<h1>Dead letter <code class="id">${detail.eventId}</code></h1>
<dl class="status">
<dt>Sink</dt><dd>${sink}</dd>
<dt>Source</dt><dd>${detail.source}</dd>
<dt>Type / metric</dt><dd>${detail.objectType === undefined ? 'not an event (quarantined body)' : `${detail.objectType} / ${detail.metric ?? ''}`}</dd>
<dt>Received</dt><dd>${time(detail.receivedAt)}</dd>
<dt>Failed</dt><dd>${time(detail.failedAt)} after ${plural(detail.attempts, 'attempt')}</dd>
<dt>Error</dt><dd class="error-text">${detail.error}</dd>
</dl>
<div class="actions">
<form method="post" action="${back}/retry-one"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="back" value="${back}"><button type="submit" name="ref" value="${detail.ref}">Re-queue</button></form>
<form method="post" action="${back}/confirm"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="ref" value="${detail.ref}"><button type="submit" name="action" value="discard" class="danger">Discard…</button></form>
</div>
<h2>Event</h2>
<p class="hint">As received${typeof masked === 'string' ? ' (not JSON)' : ''}; values at the sink's <code>redact</code> paths are shown as the sink stores them (digests).</p>
<pre class="event">${typeof masked === 'string' ? masked : JSON.stringify(masked, null, 2)}</pre>`
}

export interface ConfirmPage {
  readonly sink: string
  readonly action: Action
  readonly csrf: string
  readonly events: number
  readonly attempts: number
  /** What is chosen: references (selected rows), or a filter. */
  readonly selection: { readonly refs: readonly string[], readonly eventIds: readonly string[] } | { readonly params: FilterParams }
}

export function confirmPage (options: ConfirmPage): Html {
  const { sink, action, events, selection } = options
  const base = sinkPath(sink)
  const words = ACTION_WORDS[action]
  const chosen = 'params' in selection
    ? html`<p>Chosen by filter: ${describeFilter(selection.params)}. Counted just now; the action takes the events that match when it runs.</p>`
    : html`<p>Chosen by hand:</p><ul class="chosen">${selection.eventIds.slice(0, 50).map((id) => html`<li><code>${id}</code></li>`)}${selection.eventIds.length > 50 ? html`<li>and ${count(selection.eventIds.length - 50)} more</li>` : ''}</ul>`
  const hidden = 'params' in selection
    ? html`<input type="hidden" name="selection" value="filter">${FILTER_FIELDS.map((field) => selection.params[field] === undefined ? '' : html`<input type="hidden" name="${field}" value="${selection.params[field]}">`)}`
    : html`<input type="hidden" name="selection" value="refs">${selection.refs.map((ref) => html`<input type="hidden" name="ref" value="${ref}">`)}`
  const back = `${base}${'params' in selection ? query(selection.params) : ''}`
  if (events === 0) {
    return html`<h1>${words.verb} dead letters of <code>${sink}</code></h1>${chosen}<p>No dead letter matches now: nothing to do.</p><p><a href="${back}">Back</a></p>`
  }
  return html`<h1>${words.verb} ${plural(events, 'event')} of <code>${sink}</code>?</h1>
${chosen}
${action === 'retry'
    ? html`<p>Each goes back to the sink's queue with its full attempt budget (${plural(options.attempts, 'attempt')}); the ones that fail again come back here.</p>`
    : html`<p class="banner warning">Discarded events are deleted from the queue for good. <a href="${base}/export.ndjson${'params' in selection ? query(selection.params) : ''}" download>Export</a> them first if they may be needed.</p>`}
<form method="post" action="${base}/apply" class="confirm">
<input type="hidden" name="_csrf" value="${options.csrf}">
<input type="hidden" name="action" value="${action}">
<input type="hidden" name="expected" value="${events}">
${hidden}
<button type="submit"${action === 'discard' ? html` class="danger"` : ''}>${words.verb} ${plural(events, 'event')}</button>
<a href="${back}">Cancel</a>
</form>`
}

function truncate (text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`
}
