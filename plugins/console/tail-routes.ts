/**
 * The live tail's page and stream (SPEC §12). The page shows the events kept (so it works without
 * JavaScript, reloading); console.js then follows the stream, a Server-Sent Events response of
 * `tail` events (one masked event each) and `skipped` events (how many a slow connection missed).
 */
import type { FastifyInstance } from 'fastify'
import { html, query, type Html } from './html.js'
import { UI, page, plural, time } from './layout.js'
import { SECURITY_HEADERS, csrfOf } from './auth.js'
import type { ConsoleContext } from './context.js'
import { TAIL_KEPT, type TailEntry, type TailFilter } from './tail.js'

type Input = Record<string, unknown>

export async function tailRoutes (app: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { tail, current } = context

  app.get<{ Querystring: Input }>(`${UI}/tail`, async (request, reply) => {
    const filter = tailFilterOf(request.query)
    const entries = tail.viewed(filter)
    const sources = [...current().sources.keys()]
    const stream = `${UI}/tail/events${query({ source: filter.source, object_type: filter.objectType, metric: filter.metric })}`
    return await reply.type('text/html; charset=utf-8').send(page({
      title: 'Live tail',
      section: 'tail',
      csrf: csrfOf(request, current().admin.token),
      warning: context.warning,
      body: html`<h1>Live tail</h1>
<p class="hint">Events as this process accepts them (duplicates and quarantined bodies are not shown), masked like the sinks they are routed to. The last ${TAIL_KEPT} are kept while someone watches.</p>
<form method="get" action="${UI}/tail" class="filters">
<label>Source <select name="source"><option value="">any</option>${sources.map((source) => html`<option${source === filter.source ? html` selected` : ''}>${source}</option>`)}</select></label>
<label>Object type <input name="object_type" value="${filter.objectType}" size="10" placeholder="email"></label>
<label>Metric <input name="metric" value="${filter.metric}" size="10" placeholder="delivered"></label>
<button type="submit">Filter</button> <a href="${UI}/tail">Clear</a>
</form>
<p class="tail-status" data-tail-status>${plural(entries.length, 'event')} kept. <span class="hint">Reload to see newer ones (with JavaScript they appear by themselves).</span></p>
<table class="tail" data-stream="${stream}">
<thead><tr><th>Received</th><th>Source</th><th>event_id</th><th>Type / metric</th><th>Sinks</th><th>Event</th></tr></thead>
<tbody>${entries.map(tailRow)}</tbody>
</table>`
    }).text)
  })

  app.get<{ Querystring: Input }>(`${UI}/tail/events`, async (request, reply) => {
    if (tail.full) return await reply.code(503).send({ error: 'too_many_tails', message: 'too many live tails are open on this process; close one' })
    reply.hijack()
    // Hijacked: the hooks that add these to every answer do not run.
    reply.raw.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' })
    reply.raw.write('retry: 3000\n\n')
    tail.stream(reply.raw, tailFilterOf(request.query))
    request.log.info({ ip: request.ip }, 'console: live tail opened')
  })
}

function tailFilterOf (input: Input): TailFilter {
  const text = (value: unknown): string | undefined => typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
  return { source: text(input.source), objectType: text(input.object_type), metric: text(input.metric) }
}

/** The same row console.js builds for a streamed event. */
function tailRow (entry: TailEntry): Html {
  return html`<tr><td>${time(entry.receivedAt)}</td><td>${entry.source}</td><td class="id">${entry.eventId}</td><td>${entry.objectType} / ${entry.metric}</td>
<td>${entry.sinks.join(', ')}</td><td><details><summary>JSON</summary><pre class="event">${JSON.stringify(JSON.parse(entry.json), null, 2)}</pre></details></td></tr>`
}
