/**
 * The console's dead-letter actions end to end, on both backends: a webhook sink whose target
 * refuses (400) dead-letters five events; the target heals; then each action is taken the way the
 * pages offer it (re-queue one, a selection after its preview, by filter after its preview, discard
 * after confirmation, export) and what it did is checked at the target, on the pages and in the log.
 */
import t, { type Test } from 'tap'
import { build, eventually, type Built } from '../../helpers/app.js'
import { startReceiver, webhookSinkYaml, type Receiver } from '../../helpers/receiver.js'
import { signedHeaders } from '../../helpers/sign.js'
import { ConsoleClient, consoleOf, consoleYaml, fieldValue } from './helpers.js'

const EVENTS = [
  { event_id: 'A1', object_type: 'email', metric: 'bounced' },
  { event_id: 'A2', object_type: 'email', metric: 'bounced' },
  { event_id: 'A3', object_type: 'email', metric: 'opened' },
  { event_id: 'A4', object_type: 'sms', metric: 'sent' },
  { event_id: 'A5', object_type: 'push', metric: 'delivered' }
]

interface LogLine { msg: string, sink?: string, action?: string, events?: number, chosen?: string, ip?: string, filter?: Record<string, string> }

async function setup (t: Test, redis: boolean): Promise<{ built: Built, receiver: Receiver, client: ConsoleClient, logs: LogLine[] }> {
  const receiver = await startReceiver(t, 400)
  const logs: LogLine[] = []
  const built = await build(t, {
    yaml: consoleYaml({ redis, extraSinks: webhookSinkYaml('hook', receiver, 3), routes: '  - { name: everything, match: {}, sinks: [hook] }' }),
    logs: { write: (line: string) => { logs.push(JSON.parse(line) as LogLine) } }
  })
  for (const event of EVENTS) {
    const body = JSON.stringify({ ...event, timestamp: 1_750_000_000, data: { campaign_id: 1 } })
    const response = await built.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
    t.same(response.json(), { status: 'accepted' })
  }
  const client = await ConsoleClient.logIn(consoleOf(built))
  await eventually(async () => (await client.get('/admin/ui/dead-letters/hook')).body.includes('5 events</strong>') ? true : undefined, 10_000, 'five dead letters')
  receiver.status = 200
  return { built, receiver, client, logs }
}

/** The reference of an event's row on a list page. */
async function refOf (client: ConsoleClient, eventId: string): Promise<string> {
  const page = (await client.get(`/admin/ui/dead-letters/hook?event_id=${eventId}`)).body
  const match = /name="ref" value="([^"]+)" aria-label="select ([^"]+)"/.exec(page)
  if (match === null || match[2] !== eventId) throw new Error(`no row of ${eventId}`)
  return match[1] as string
}

const delivered = (receiver: Receiver): string[] => receiver.delivered.map((event) => String(event.event_id)).sort()

for (const redis of [false, true]) {
  const mode = redis ? 'redis' : 'embedded'

  t.test(`${mode}: re-queue one, then a selection after its preview; the target gets exactly those`, async (t) => {
    const { receiver, client, logs } = await setup(t, redis)
    const one = await client.post('/admin/ui/dead-letters/hook/retry-one', { ref: await refOf(client, 'A1'), back: '/admin/ui/dead-letters/hook?metric=bounced' })
    t.equal(one.statusCode, 303)
    t.equal(one.headers.location, '/admin/ui/dead-letters/hook?metric=bounced&done_action=retry&done=1&expected=1', 'back to the filtered list, with the outcome')
    await eventually(() => delivered(receiver).includes('A1') ? true : undefined, 10_000, 'A1 delivered')
    const after = await client.get(String(one.headers.location))
    t.match(after.body, /<p class="banner ok" role="status">Re-queued 1 event\.<\/p>/)
    t.match(after.body, /<strong>1 event<\/strong> match/, 'A2 is the one bounced left')

    const refs = [await refOf(client, 'A2'), await refOf(client, 'A3')]
    const preview = await client.post('/admin/ui/dead-letters/hook/confirm', { action: 'retry', ref: refs })
    t.equal(preview.statusCode, 200)
    t.match(preview.body, /<h1>Re-queue 2 events of <code>hook<\/code>\?<\/h1>/)
    t.match(preview.body, /<li><code>A2<\/code><\/li><li><code>A3<\/code><\/li>/)
    t.match(preview.body, /full attempt budget \(3 attempts\)/)
    t.same(delivered(receiver), ['A1'], 'a preview does nothing')
    const applied = await client.post('/admin/ui/dead-letters/hook/apply', {
      action: fieldValue(preview.body, 'action'), selection: fieldValue(preview.body, 'selection'), expected: fieldValue(preview.body, 'expected'), ref: refs
    })
    t.equal(applied.headers.location, '/admin/ui/dead-letters/hook?done_action=retry&done=2&expected=2')
    await eventually(() => delivered(receiver).length === 3 ? true : undefined, 10_000, 'three delivered')
    t.same(delivered(receiver), ['A1', 'A2', 'A3'])
    t.match((await client.get('/admin/ui/dead-letters/hook')).body, /<strong>2 events<\/strong> dead-lettered/)

    const actions = logs.filter((line) => line.msg.startsWith('console: dead letters'))
    t.match(actions, [
      { msg: 'console: dead letters re-queued', sink: 'hook', action: 'retry', events: 1, chosen: 'one', ip: '127.0.0.1' },
      { msg: 'console: dead letters re-queued', sink: 'hook', action: 'retry', events: 2, chosen: 'selected', ip: '127.0.0.1' }
    ], 'each action logged with who and how many')
    t.equal(actions.length, 2)
  })

  t.test(`${mode}: by filter after a preview: discard with confirmation, re-queue, export`, async (t) => {
    const { receiver, client, logs } = await setup(t, redis)
    const exported = await client.get('/admin/ui/dead-letters/hook/export.ndjson?metric=bounced')
    t.equal(exported.statusCode, 200)
    t.match(exported.headers['content-type'], /^application\/x-ndjson/)
    t.match(exported.headers['content-disposition'], /^attachment; filename="hook-dead-letters-[0-9T-]+Z\.ndjson"$/)
    const lines = exported.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    t.same(lines.map((line) => line.event_id).sort(), ['A1', 'A2'])
    t.match(lines[0], {
      ref: String, source: 'customerio', object_type: 'email', metric: 'bounced', received_at: /^20/, failed_at: /^20/, attempts: 1,
      error: /answered 400/, event: { object_type: 'email', metric: 'bounced', data: { campaign_id: 1 } }
    })

    const discardPreview = await client.get('/admin/ui/dead-letters/hook/confirm?action=discard&object_type=sms')
    t.match(discardPreview.body, /<h1>Discard 1 event of <code>hook<\/code>\?<\/h1>/)
    t.match(discardPreview.body, /Chosen by filter: object type &quot;sms&quot;/)
    t.match(discardPreview.body, /deleted from the queue for good/)
    const discarded = await client.post('/admin/ui/dead-letters/hook/apply', { action: 'discard', selection: 'filter', object_type: 'sms', expected: '1' })
    t.equal(discarded.headers.location, '/admin/ui/dead-letters/hook?object_type=sms&done_action=discard&done=1&expected=1')
    t.match((await client.get(String(discarded.headers.location))).body, /Discarded 1 event\.[\s\S]*<strong>0 events<\/strong> match/)

    // Counted 4 (A1, A2, A3, A5); one is re-queued by another hand before the confirmation.
    const retryPreview = await client.get('/admin/ui/dead-letters/hook/confirm?action=retry')
    t.match(retryPreview.body, /<h1>Re-queue 4 events of <code>hook<\/code>\?<\/h1>/)
    t.match(retryPreview.body, /Chosen by filter: every dead letter of the sink/)
    await client.post('/admin/ui/dead-letters/hook/retry-one', { ref: await refOf(client, 'A5') })
    const retried = await client.post('/admin/ui/dead-letters/hook/apply', { action: 'retry', selection: 'filter', expected: '4' })
    t.equal(retried.headers.location, '/admin/ui/dead-letters/hook?done_action=retry&done=3&expected=4')
    t.match((await client.get(String(retried.headers.location))).body, /Re-queued 3 of the 4 events previewed: the others changed meanwhile/)
    await eventually(() => delivered(receiver).length === 4 ? true : undefined, 10_000, 'four delivered')
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.same(delivered(receiver), ['A1', 'A2', 'A3', 'A5'], 'the discarded event was never delivered')
    t.match((await client.get('/admin/ui/dead-letters/hook')).body, /<strong>0 events<\/strong> dead-lettered/)

    t.match(logs.filter((line) => line.msg.startsWith('console: dead letters')), [
      { msg: 'console: dead letters exported', sink: 'hook', action: 'export', events: 2, chosen: 'filter', filter: { metric: 'bounced' } },
      { msg: 'console: dead letters discarded', sink: 'hook', action: 'discard', events: 1, chosen: 'filter', filter: { object_type: 'sms' } },
      { msg: 'console: dead letters re-queued', events: 1, chosen: 'one' },
      { msg: 'console: dead letters re-queued', events: 3, chosen: 'filter', filter: {} }
    ])
  })

  t.test(`${mode}: a dead letter in detail, an unknown sink, a reference that is gone`, async (t) => {
    const { client } = await setup(t, redis)
    const ref = await refOf(client, 'A3')
    const detail = await client.get(`/admin/ui/dead-letters/hook/events/${encodeURIComponent(ref)}`)
    t.equal(detail.statusCode, 200)
    t.match(detail.body, /<h1>Dead letter <code class="id">A3<\/code><\/h1>/)
    t.match(detail.body, /<dt>Type \/ metric<\/dt><dd>email \/ opened<\/dd>/)
    t.match(detail.body, /<dt>Failed<\/dt><dd>20[0-9-]+ [0-9:]+ UTC after 1 attempt<\/dd>/)
    t.match(detail.body, /&quot;event_id&quot;: &quot;A3&quot;/)
    const discard = await client.post('/admin/ui/dead-letters/hook/confirm', { action: 'discard', ref })
    t.match(discard.body, /<h1>Discard 1 event of <code>hook<\/code>\?<\/h1>/)
    await client.post('/admin/ui/dead-letters/hook/apply', { action: 'discard', selection: 'refs', ref, expected: '1' })
    const gone = await client.get(`/admin/ui/dead-letters/hook/events/${encodeURIComponent(ref)}`)
    t.equal(gone.statusCode, 404)
    t.match(gone.body, /This dead letter is gone/)
    const unknown = await client.get('/admin/ui/dead-letters/nowhere')
    t.equal(unknown.statusCode, 404)
    t.match(unknown.body, /No sink <code>nowhere<\/code> is configured/)
    t.equal((await client.post('/admin/ui/dead-letters/nowhere/apply', { action: 'retry', selection: 'filter' })).statusCode, 404)
  })
}
