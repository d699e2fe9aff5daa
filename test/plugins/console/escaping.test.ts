/**
 * Every value from an event is escaped (SPEC §12): signed events whose every field carries markup
 * are dead-lettered by BigQuery (the local stand-in rejects each row with an error that echoes the
 * row's markup, as BigQuery's "no such field" does), a body that is not JSON is quarantined, and
 * every console page that shows them — overview, dead letters with their groups and filters,
 * detail, preview, live tail — shows the markup as text. The sink's redact path is masked.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { build, eventually, tempDir, type Built } from '../../helpers/app.js'
import { signedHeaders } from '../../helpers/sign.js'
import { DATASET, PROJECT, startFakeBigQuery } from '../../helpers/bigquery-server.js'
import { ConsoleClient, consoleOf, consoleYaml } from './helpers.js'

const SCRIPT = '<script>alert("id")</script>'
const IMG = '"><img src=x onerror=alert(1)>'
const SVG = "'><svg onload=alert(2)>"
const PRE = '</pre><script>alert(3)</script>'
const EMAIL = 'person@example.com'

const HOSTILE = {
  event_id: `${SCRIPT}${IMG}`,
  object_type: IMG,
  metric: SVG,
  timestamp: 1_750_000_000,
  data: { identifiers: { email: EMAIL }, note: PRE, [IMG]: SVG, campaign_id: 7 }
}

/** The elements the console's pages are made of: an event's markup must never add one. */
const ELEMENTS = new Set([
  'html', 'head', 'meta', 'title', 'link', 'script', 'noscript', 'body', 'header', 'nav', 'main', 'section', 'form', 'input', 'button',
  'label', 'select', 'option', 'span', 'a', 'p', 'h1', 'h2', 'small', 'strong', 'code', 'pre', 'dl', 'dt', 'dd', 'ul', 'li',
  'table', 'thead', 'tbody', 'tr', 'th', 'td', 'details', 'summary', 'svg', 'rect', 'div'
])

async function setup (t: Parameters<typeof build>[0], redis: boolean): Promise<Built> {
  const fake = await startFakeBigQuery(t, tempDir(t, 'bigquery'))
  fake.answerInsert = (request) => ({
    status: 200,
    body: { insertErrors: request.rows.map((_row, index) => ({ index, errors: [{ reason: 'invalid', location: SCRIPT, message: `no such field: ${IMG}` }] })) }
  })
  const built = await build(t, {
    yaml: consoleYaml({
      redis,
      extraSinks: `
  warehouse:
    type: bigquery
    project_id: ${PROJECT}
    dataset: ${DATASET}
    table: events
    create_table: true
    key_file: "${fake.keyFile}"
    api_endpoint: "${fake.url}"
    redact: [data.identifiers.email]
    batch: { max_events: 10, max_wait: 10ms }
    retry: { attempts: 1, initial_delay: 10ms, max_delay: 10ms }`,
      routes: '  - { name: everything, match: {}, sinks: [warehouse] }'
    })
  })
  return built
}

async function send (built: Built, body: string): Promise<string> {
  const response = await built.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  return (response.json() as { status: string }).status
}

/**
 * Escaped text holds no '<', so every '<' of a page opens a tag the console wrote: each must be one
 * of its elements, with no event handler among its attributes (outside their quoted values).
 */
function assertEscaped (t: Test, page: string, url: string): void {
  const tags = [...page.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)]
  const foreign = tags.map((tag) => (tag[2] as string).toLowerCase()).filter((name) => !ELEMENTS.has(name))
  t.same(foreign, [], `${url}: only the console's own elements`)
  const handlers = tags.filter((tag) => /\son[a-z]+\s*=/i.test((tag[3] as string).replace(/"[^"]*"/g, '""'))).map((tag) => tag[0])
  t.same(handlers, [], `${url}: no event handler attribute`)
  const scripts = tags.filter((tag) => tag[1] === '' && tag[2]?.toLowerCase() === 'script').map((tag) => tag[0])
  t.same(scripts, ['<script src="/admin/ui/assets/console.js" defer>'], `${url}: one script, the console's own`)
  t.notOk(page.includes('<!--'), `${url}: no comment opened`)
}

for (const redis of [false, true]) {
  const mode = redis ? 'redis' : 'embedded'
  t.test(`${mode}: markup in every field of an event is shown as text on every page`, async (t) => {
    const built = await setup(t, redis)
    const client = await ConsoleClient.logIn(consoleOf(built))
    t.equal((await client.get('/admin/ui/tail')).statusCode, 200, 'the tail listens from here on')
    t.equal(await send(built, JSON.stringify(HOSTILE)), 'accepted')
    t.equal(await send(built, `${SCRIPT} is not JSON ${IMG}`), 'quarantined')

    const list = await eventually(async () => {
      const response = await client.get('/admin/ui/dead-letters/warehouse')
      return response.body.includes('1 event</strong>') ? response.body : undefined
    }, 10_000, 'the dead letter on the page')
    const escapedId = '&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
    t.ok(list.includes(escapedId), 'the event_id is shown, escaped')
    t.ok(list.includes('insertAll rejected the row (invalid at &lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;): no such field: &quot;&gt;&lt;img src=x onerror=alert(1)&gt;'), 'the error is shown, escaped (in the groups, the filter and the row)')
    t.ok(list.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt; / &#39;&gt;&lt;svg onload=alert(2)&gt;'), 'the type and metric are shown, escaped')

    const ref = /name="ref" value="([^"]+)"/.exec(list)?.[1] as string
    const pages: Array<[string, Promise<Awaited<ReturnType<ConsoleClient['get']>>>]> = [
      ['overview', client.get('/admin/ui')],
      ['dead letters', client.get('/admin/ui/dead-letters')],
      ['list', client.get('/admin/ui/dead-letters/warehouse')],
      ['list filtered by markup', client.get(`/admin/ui/dead-letters/warehouse?${new URLSearchParams({ event_id: IMG, object_type: SCRIPT, metric: SVG, error: PRE, from: SCRIPT, source: IMG })}`)],
      ['detail', client.get(`/admin/ui/dead-letters/warehouse/events/${encodeURIComponent(ref)}`)],
      ['preview by filter', client.get(`/admin/ui/dead-letters/warehouse/confirm?${new URLSearchParams({ action: 'discard', event_id: SCRIPT, metric: SVG })}`)],
      ['preview of a selection', client.post('/admin/ui/dead-letters/warehouse/confirm', { action: 'retry', ref: [ref, `${IMG}:x`] })],
      ['quarantine', client.get('/admin/ui/dead-letters/_quarantine')],
      ['tail', client.get(`/admin/ui/tail?${new URLSearchParams({ object_type: IMG, metric: SCRIPT })}`)],
      ['tail, all', client.get('/admin/ui/tail')]
    ]
    for (const [name, request] of pages) {
      const response = await request
      t.equal(response.statusCode, 200, name)
      assertEscaped(t, response.body, name)
      t.notOk(response.body.includes(EMAIL), `${name}: the redacted email is not shown`)
    }

    const detail = (await client.get(`/admin/ui/dead-letters/warehouse/events/${encodeURIComponent(ref)}`)).body
    t.ok(detail.includes(createHash('sha256').update(EMAIL).digest('hex')), 'the redacted email shows as the sink stores it')
    t.ok(detail.includes('&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;'), 'a value that would close the <pre> is escaped')
    t.ok(detail.includes('&quot;&#39;&gt;&lt;svg onload=alert(2)&gt;&quot;'), 'a key and value in data, escaped')

    const quarantine = await eventually(async () => {
      const body = (await client.get('/admin/ui/dead-letters/_quarantine')).body
      return body.includes('1 event</strong>') ? body : undefined
    }, 10_000, 'the quarantined body')
    const quarantineRef = /name="ref" value="([^"]+)"/.exec(quarantine)?.[1] as string
    const raw = await client.get(`/admin/ui/dead-letters/_quarantine/events/${encodeURIComponent(quarantineRef)}`)
    assertEscaped(t, raw.body, 'quarantined detail')
    t.ok(raw.body.includes('&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt; is not JSON &quot;&gt;&lt;img src=x onerror=alert(1)&gt;'), 'the raw body, escaped')

    const tail = (await client.get('/admin/ui/tail')).body
    t.ok(tail.includes(escapedId), 'the tail shows the event, escaped')
    t.ok(tail.includes(createHash('sha256').update(EMAIL).digest('hex')), 'masked like the sink it is routed to')
  })
}
