/**
 * The dead letters routes (SPEC §12): per sink, `_quarantine` included, grouped by error and
 * listed with filters; one in detail, masked like its sink; re-queue one at once; re-queue or
 * discard the selected or the filtered ones after a preview of how many; export as NDJSON. Every
 * action goes through the queue backend's dead-letter book (full attempt budget, split groups'
 * history cleared) and is logged with who asked (client address) and how many it took.
 * Registered as a plugin of its own: its hook (the queue must answer) is for these routes only.
 */
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { html, query } from './html.js'
import { UI, page } from './layout.js'
import { csrfOf, safeNext } from './auth.js'
import type { ConsoleContext } from './context.js'
import { actionOf, noticeOf, parseFilter, parsePaging, refsOf, type Action, type FilterParams } from './dead-letter-params.js'
import { confirmPage, detailPage, listPage, queueIndex, sinkPath } from './dead-letter-pages.js'
import { QUARANTINE_QUEUE, QUARANTINE_SETTINGS } from '../queue/backend.js'
import type { DeadLetterSelection } from '../queue/dead-letter-book.js'
import { withTimeout } from '../queue/timeout.js'

interface SinkParams { sink: string }
const QUEUE_WAIT_MS = 3000
const EXPORT_CHUNK = 64 * 1024
type Input = Record<string, unknown>

export async function deadLetterRoutes (app: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { backend, current } = context
  const book = backend.deadLetterBook
  // A page or an action never waits on a queue that is away: it fails at once, saying so (index.ts's error page).
  app.addHook('preHandler', async () => { await withTimeout(backend.ping(), QUEUE_WAIT_MS, `the queue did not answer in ${QUEUE_WAIT_MS / 1000} s`) })

  /** The queues whose dead letters the console shows: every configured sink, then the quarantine. */
  const queues = (): Array<{ name: string, type: string }> =>
    [...[...current().sinks.values()].map((sink) => ({ name: sink.name, type: sink.type })), { name: QUARANTINE_QUEUE, type: 'quarantine' }]
  const queueOf = (name: string): { name: string, type: string } | undefined => queues().find((queue) => queue.name === name)
  /** A re-queued event's attempts: the sink's whole `retry.attempts` as configured now. */
  const attemptsOf = (name: string): number => current().sinks.get(name)?.retry.attempts ?? QUARANTINE_SETTINGS.retry.attempts

  const send = async (request: FastifyRequest, reply: FastifyReply, title: string, body: ReturnType<typeof html>, status = 200): Promise<FastifyReply> =>
    await reply.code(status).type('text/html; charset=utf-8').send(page({ title, section: 'dead-letters', csrf: csrfOf(request, current().admin.token), warning: context.warning, body }).text)
  const unknown = async (request: FastifyRequest, reply: FastifyReply, sink: string): Promise<FastifyReply> =>
    await send(request, reply, 'Not found', html`<h1>Not found</h1><p>No sink <code>${sink}</code> is configured.</p><p><a href="${UI}/dead-letters">Dead letters</a></p>`, 404)

  app.get(`${UI}/dead-letters`, async (request, reply) => {
    const listed = await Promise.all(queues().map(async (queue) => ({ ...queue, counts: await backend.eventCounts(queue.name).catch((error: Error) => error) })))
    return await send(request, reply, 'Dead letters', queueIndex(listed))
  })

  app.get<{ Params: SinkParams, Querystring: Input }>(`${UI}/dead-letters/:sink`, async (request, reply) => {
    const queue = queueOf(request.params.sink)
    if (queue === undefined) return await unknown(request, reply, request.params.sink)
    const { filter, params, problems } = parseFilter(request.query)
    const paging = parsePaging(request.query)
    const listing = await book.list(queue.name, filter, (paging.page - 1) * paging.size, paging.size)
    return await send(request, reply, `Dead letters of ${queue.name}`, listPage({
      sink: queue.name,
      type: queue.type,
      sinks: queues().map((entry) => entry.name),
      csrf: csrfOf(request, current().admin.token),
      listing,
      params,
      problems,
      paging,
      notice: noticeOf(request.query),
      self: request.url
    }))
  })

  app.get<{ Params: SinkParams & { ref: string } }>(`${UI}/dead-letters/:sink/events/:ref`, async (request, reply) => {
    const { sink, ref } = request.params
    if (queueOf(sink) === undefined) return await unknown(request, reply, sink)
    const detail = await book.get(sink, ref)
    if (detail === undefined) {
      return await send(request, reply, 'Not found', html`<h1>Not found</h1><p>This dead letter is gone: re-queued, discarded or delivered since.</p><p><a href="${sinkPath(sink)}">Dead letters of ${sink}</a></p>`, 404)
    }
    return await send(request, reply, `Dead letter ${detail.eventId}`, detailPage(sink, detail, context.masks.forQueue(sink, detail.event), csrfOf(request, current().admin.token)))
  })

  app.post<{ Params: SinkParams, Body: Input }>(`${UI}/dead-letters/:sink/retry-one`, async (request, reply) => {
    const { sink } = request.params
    if (queueOf(sink) === undefined) return await unknown(request, reply, sink)
    const refs = refsOf(request.body.ref).slice(0, 1)
    const retried = await book.retry(sink, { refs }, attemptsOf(sink))
    logAction(request, 'retry', sink, retried, 'one')
    return await reply.redirect(withNotice(safeNext(request.body.back, sinkPath(sink)), 'retry', retried, 1), 303)
  })

  /** The preview: of the filtered ones (GET, from the list's links) or of the selected ones (POST, from its checkboxes). */
  const preview = async (request: FastifyRequest, reply: FastifyReply, sink: string, input: Input): Promise<FastifyReply> => {
    const action = actionOf(input.action)
    if (queueOf(sink) === undefined) return await unknown(request, reply, sink)
    if (action === undefined) return await reply.redirect(sinkPath(sink), 303)
    const csrf = csrfOf(request, current().admin.token)
    if (request.method === 'POST') {
      const refs = refsOf(input.ref)
      const shown = await Promise.all(refs.slice(0, 50).map(async (ref) => await book.get(sink, ref)))
      const events = await book.count(sink, { refs })
      const eventIds = shown.filter((detail) => detail !== undefined).map((detail) => detail.eventId)
      return await send(request, reply, 'Confirm', confirmPage({ sink, action, csrf, events, attempts: attemptsOf(sink), selection: { refs, eventIds } }))
    }
    const { filter, params } = parseFilter(input)
    const events = await book.count(sink, { filter })
    return await send(request, reply, 'Confirm', confirmPage({ sink, action, csrf, events, attempts: attemptsOf(sink), selection: { params } }))
  }
  app.get<{ Params: SinkParams, Querystring: Input }>(`${UI}/dead-letters/:sink/confirm`, async (request, reply) => await preview(request, reply, request.params.sink, request.query))
  app.post<{ Params: SinkParams, Body: Input }>(`${UI}/dead-letters/:sink/confirm`, async (request, reply) => await preview(request, reply, request.params.sink, request.body))

  app.post<{ Params: SinkParams, Body: Input }>(`${UI}/dead-letters/:sink/apply`, async (request, reply) => {
    const { sink } = request.params
    const action = actionOf(request.body.action)
    if (queueOf(sink) === undefined) return await unknown(request, reply, sink)
    if (action === undefined) return await reply.redirect(sinkPath(sink), 303)
    const byFilter = request.body.selection === 'filter'
    const { filter, params } = parseFilter(byFilter ? request.body : {})
    const selection: DeadLetterSelection = byFilter ? { filter } : { refs: refsOf(request.body.ref) }
    const done = action === 'retry' ? await book.retry(sink, selection, attemptsOf(sink)) : await book.discard(sink, selection)
    const expected = Number(request.body.expected)
    logAction(request, action, sink, done, byFilter ? 'filter' : 'selected', byFilter ? params : undefined)
    return await reply.redirect(withNotice(`${sinkPath(sink)}${byFilter ? query(params) : ''}`, action, done, Number.isSafeInteger(expected) ? expected : undefined), 303)
  })

  app.get<{ Params: SinkParams, Querystring: Input }>(`${UI}/dead-letters/:sink/export.ndjson`, async (request, reply) => {
    const { sink } = request.params
    if (queueOf(sink) === undefined) return await unknown(request, reply, sink)
    const { filter, params } = parseFilter(request.query)
    const masks = context.masks
    let exported = 0
    async function * lines (): AsyncIterable<string> {
      // Written in chunks of lines: a stream write per line would cost more than making the line.
      let chunk = ''
      try {
        for await (const letter of book.export(sink, filter)) {
          exported++
          chunk += JSON.stringify({
            ref: letter.ref,
            event_id: letter.eventId,
            source: letter.source,
            object_type: letter.objectType ?? null,
            metric: letter.metric ?? null,
            received_at: new Date(letter.receivedAt).toISOString(),
            failed_at: letter.failedAt === undefined ? null : new Date(letter.failedAt).toISOString(),
            attempts: letter.attempts,
            error: letter.error,
            event: masks.forQueue(sink, letter.event)
          }) + '\n'
          if (chunk.length >= EXPORT_CHUNK) {
            yield chunk
            chunk = ''
          }
        }
        if (chunk !== '') yield chunk
      } finally {
        logAction(request, 'export', sink, exported, 'filter', params)
      }
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return await reply.type('application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="${sink.replace(/[^A-Za-z0-9_-]/g, '_')}-dead-letters-${stamp}.ndjson"`)
      .send(Readable.from(lines()))
  })
}

const LOGGED: Readonly<Record<Action | 'export', string>> = {
  retry: 'console: dead letters re-queued',
  discard: 'console: dead letters discarded',
  export: 'console: dead letters exported'
}

function logAction (request: FastifyRequest, action: Action | 'export', sink: string, events: number, chosen: 'one' | 'selected' | 'filter', filter?: FilterParams): void {
  request.log.info({ ip: request.ip, sink, action, events, chosen, filter }, LOGGED[action])
}

/** `path` (a console URL) with the outcome of an action in its query, replacing an earlier one. */
function withNotice (path: string, action: Action, done: number, expected: number | undefined): string {
  const url = new URL(path, 'http://console.invalid')
  for (const key of ['done_action', 'done', 'expected']) url.searchParams.delete(key)
  url.searchParams.set('done_action', action)
  url.searchParams.set('done', String(done))
  if (expected !== undefined) url.searchParams.set('expected', String(expected))
  return `${url.pathname}${url.search}`
}
