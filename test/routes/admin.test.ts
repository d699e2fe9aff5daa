/** The admin API (SPEC §3) on the management listener: bearer auth, queue counts, dead letters, replay — on BullMQ and on the embedded queue. */
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, defaultYaml, eventually, type Teardownable } from '../helpers/app.js'
import { startReceiver, webhookSinkYaml, type Receiver } from '../helpers/receiver.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'
import { DEAD_LETTER_MAX_BYTES } from '../../src/routes/admin.js'

const TOKEN = 'admin-token-for-tests-5b0c2f9e41d7a3'
const withToken = (yaml: string, token = TOKEN): string => `\nadmin: { token: "${token}" }\n${yaml}`
const auth = { authorization: `Bearer ${TOKEN}` }

/** A request to the admin API, on the app's management listener. */
async function admin (app: FastifyInstance, method: 'GET' | 'POST', url: string, headers: Record<string, string> = auth): Promise<LightMyRequestResponse> {
  return await app.management.inject({ method, url, headers })
}

async function send (app: FastifyInstance, body: string): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  return (response.json() as { status: string }).status
}

t.test('with no admin.token every /admin path is 404, whatever the Authorization header', async (t) => {
  const { app } = await build(t, { yaml: defaultYaml({ redis: false }) })
  for (const [method, url] of [['GET', '/admin/queues'], ['GET', '/admin/queues/local/failed'], ['POST', '/admin/queues/local/retry'], ['GET', '/admin/nothing']] as const) {
    for (const headers of [{}, { authorization: 'Bearer ' }, auth]) {
      const response = await admin(app, method, url, headers)
      t.equal(response.statusCode, 404, `${method} ${url} ${JSON.stringify(headers)}`)
      t.same(response.json(), { error: 'not_found' })
    }
  }
})

t.test('401 without the token or with a wrong one; the right token in any letter case of "Bearer" passes', async (t) => {
  const { app } = await build(t, { yaml: withToken(defaultYaml({ redis: false })) })
  const refused: Record<string, string>[] = [
    {},
    { authorization: '' },
    { authorization: 'Bearer' },
    { authorization: 'Bearer ' },
    { authorization: 'Bearer wrong-token' },
    { authorization: `Bearer ${TOKEN}x` },
    { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
    { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
    { authorization: TOKEN }
  ]
  for (const [method, url] of [['GET', '/admin/queues'], ['GET', '/admin/queues/local/failed'], ['POST', '/admin/queues/local/retry']] as const) {
    for (const headers of refused) {
      const response = await admin(app, method, url, headers)
      t.equal(response.statusCode, 401, `${method} ${url} with ${JSON.stringify(headers)}`)
      t.same(response.json(), { error: 'unauthorized', message: 'a valid admin bearer token is required' })
      t.equal(response.headers['www-authenticate'], 'Bearer realm="cio-gateway admin"')
    }
  }
  t.equal((await admin(app, 'GET', '/admin/queues')).statusCode, 200)
  t.equal((await admin(app, 'GET', '/admin/queues', { authorization: `bearer ${TOKEN}` })).statusCode, 200)
})

async function setup (t: Teardownable, redis: boolean, attempts = 1): Promise<{ app: FastifyInstance, receiver: Receiver }> {
  const receiver = await startReceiver(t, 400)
  const { app } = await build(t, {
    yaml: withToken(defaultYaml({
      redis,
      extraSinks: webhookSinkYaml('hook', receiver, attempts),
      routes: '  - { name: everything, match: {}, sinks: [local, hook] }'
    }))
  })
  return { app, receiver }
}

type Counts = Record<string, { waiting: number, active: number, delayed: number, failed: number, completed: number }>

async function queues (app: FastifyInstance): Promise<Counts> {
  const response = await admin(app, 'GET', '/admin/queues')
  if (response.statusCode !== 200) throw new Error(`GET /admin/queues answered ${response.statusCode}`)
  return (response.json() as { queues: Counts }).queues
}

for (const redis of [true, false]) {
  const mode = redis ? 'redis' : 'embedded'

  t.test(`${mode}: counts match the queues, dead letters carry their last error, retry delivers them once the sink is healthy`, async (t) => {
    const { app, receiver } = await setup(t, redis)
    const events = [sampleEvent(), sampleEvent({ object_type: 'push', metric: 'opened' }), sampleEvent({ metric: 'bounced' })]
    for (const event of events) t.equal(await send(app, JSON.stringify(event)), 'accepted')
    t.equal(await send(app, 'this is not json'), 'quarantined')
    const ids = events.map((event) => String(event.event_id)).sort()

    const settled = await eventually(async () => {
      const counts = await queues(app)
      return counts.local?.completed === 3 && counts.hook?.failed === 3 && counts._quarantine?.failed === 1 ? counts : undefined
    }, 15_000, 'deliveries to local, dead letters in hook and _quarantine')
    const zero = { waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 }
    t.same(settled, {
      local: { ...zero, completed: 3 },
      hook: { ...zero, failed: 3 },
      _quarantine: { ...zero, failed: 1 }
    }, 'every sink and _quarantine, with all five counts')
    t.same(Object.keys(settled), ['local', 'hook', '_quarantine'])
    const backend = app.queueBackend
    for (const name of ['local', 'hook', '_quarantine']) t.same(settled[name], await backend.counts(name), `${name} as the backend counts it`)

    const failed = await admin(app, 'GET', '/admin/queues/hook/failed?limit=2')
    t.equal(failed.statusCode, 200)
    const body = failed.json() as { sink: string, failed: number, dead_letters: Record<string, unknown>[] }
    t.equal(body.sink, 'hook')
    t.equal(body.failed, 3, 'the total, whatever the limit')
    t.equal(body.dead_letters.length, 2, 'limit=2')
    t.equal((body as { truncated?: boolean }).truncated, false, 'two small letters are far under the byte cap')
    for (const letter of body.dead_letters) {
      const sent = events.find((event) => event.event_id === letter.event_id)
      t.ok(sent, `${String(letter.event_id)} is one of the sent events`)
      t.match(letter, {
        id: String,
        source: 'customerio',
        attempts: 1,
        error: /^PermanentSinkError: .*400/,
        received_at: /^\d{4}-\d\d-\d\dT/,
        failed_at: /^\d{4}-\d\d-\d\dT/
      })
      t.same(letter.event, sent, 'the event as received')
    }
    const all = (await admin(app, 'GET', '/admin/queues/hook/failed')).json() as { dead_letters: { event_id: string }[] }
    t.same(all.dead_letters.map((letter) => letter.event_id).sort(), ids, 'default limit shows all three')

    const quarantined = (await admin(app, 'GET', '/admin/queues/_quarantine/failed')).json() as { failed: number, dead_letters: Record<string, unknown>[] }
    t.equal(quarantined.failed, 1)
    t.match(quarantined.dead_letters[0], { source: 'customerio', error: 'quarantined: not_a_json_object', event: 'this is not json' })

    for (const limit of ['0', '-1', 'abc', '1001', '2.5']) {
      const response = await admin(app, 'GET', `/admin/queues/hook/failed?limit=${limit}`)
      t.equal(response.statusCode, 400, `limit=${limit}`)
      t.same(response.json(), { error: 'invalid_request', message: 'limit must be an integer from 1 to 1000' })
    }
    for (const [method, url] of [['GET', '/admin/queues/nope/failed'], ['POST', '/admin/queues/nope/retry']] as const) {
      const response = await admin(app, method, url)
      t.equal(response.statusCode, 404)
      t.same(response.json(), { error: 'unknown_sink', message: "sink 'nope' is not configured" })
    }

    t.equal(receiver.delivered.length, 0, 'nothing reached the receiver while it answered 400')
    receiver.status = 200
    // curl -X POST -H 'content-type: application/json' sends an empty JSON body: accepted and ignored.
    const retry = await admin(app, 'POST', '/admin/queues/hook/retry', { ...auth, 'content-type': 'application/json' })
    t.equal(retry.statusCode, 200)
    t.same(retry.json(), { sink: 'hook', retried: 3 })
    await eventually(() => receiver.delivered.length >= 3 ? true : undefined, 10_000, 'the replayed events at the receiver')
    t.same(receiver.delivered.map((event) => String(event.event_id)).sort(), ids, 'each dead letter delivered once')
    const after = await eventually(async () => { const counts = await queues(app); return counts.hook?.completed === 3 ? counts : undefined })
    t.same(after.hook, { ...zero, completed: 3 })
    t.same((await admin(app, 'POST', '/admin/queues/hook/retry')).json(), { sink: 'hook', retried: 0 }, 'nothing left to retry')

    // A quarantined body is replayed through routing; still not an event, it goes back to the dead letters.
    const before = quarantined.dead_letters[0]?.failed_at as string
    t.same((await admin(app, 'POST', '/admin/queues/_quarantine/retry')).json(), { sink: '_quarantine', retried: 1 })
    const replayed = await eventually(async () => {
      const letters = ((await admin(app, 'GET', '/admin/queues/_quarantine/failed')).json() as { dead_letters: { failed_at: string, error: string }[] }).dead_letters
      return letters.length === 1 && letters[0]?.failed_at !== before ? letters[0] : undefined
    }, 10_000, 'the quarantined body tried again')
    t.equal(replayed.error, 'quarantined: not_a_json_object')
    t.equal((await queues(app))._quarantine?.failed, 1)
  })

  t.test(`${mode}: the dead-letter list is capped in bytes too, and says when it was cut short`, async (t) => {
    // Email events may carry the rendered message: six events of ~900 KB, refused for good by the target.
    const receiver = await startReceiver(t, 400)
    const { app } = await build(t, {
      yaml: withToken(defaultYaml({ redis, extraSinks: webhookSinkYaml('hook', receiver), routes: '  - { name: hook, match: {}, sinks: [hook] }' }))
        .replace('body_limit: 64kb', 'body_limit: 1mb')
    })
    const content = 'x'.repeat(900_000)
    for (let i = 0; i < 6; i++) t.equal(await send(app, JSON.stringify(sampleEvent({ object_type: 'email', metric: 'sent', data: { content } }))), 'accepted')
    await eventually(async () => (await queues(app)).hook?.failed === 6 ? true : undefined, 15_000, 'six dead letters')

    const response = await admin(app, 'GET', '/admin/queues/hook/failed?limit=6')
    t.equal(response.statusCode, 200)
    t.ok(response.body.length <= DEAD_LETTER_MAX_BYTES + 1024, `${response.body.length} bytes: the cap and a little envelope`)
    const body = response.json() as { sink: string, failed: number, dead_letters: { event: { data: { content: string } } }[], truncated: boolean, message: string }
    t.same({ ...body, dead_letters: body.dead_letters.length }, {
      sink: 'hook',
      failed: 6,
      dead_letters: 4,
      truncated: true,
      message: `4 of the 6 dead letters asked for fit in the ${DEAD_LETTER_MAX_BYTES}-byte answer`
    }, 'four letters of ~900 KB fit in 4 MiB, the fifth would not')
    t.ok(body.dead_letters.every((letter) => letter.event.data.content === content), 'the letters shown are whole')

    const one = (await admin(app, 'GET', '/admin/queues/hook/failed?limit=1')).json() as { dead_letters: unknown[], truncated: boolean }
    t.same([one.dead_letters.length, one.truncated], [1, false], 'under the cap: not truncated')
  })

  t.test(`${mode}: a replayed dead letter gets its whole retry budget again`, async (t) => {
    const { app, receiver } = await setup(t, redis, 2)
    receiver.status = 503
    const event = sampleEvent()
    t.equal(await send(app, JSON.stringify(event)), 'accepted')
    await eventually(async () => (await queues(app)).hook?.failed === 1 ? true : undefined, 10_000, 'a dead letter after two attempts')
    t.equal(receiver.requests.length, 2, 'retry.attempts = 2 attempts')
    const [letter] = ((await admin(app, 'GET', '/admin/queues/hook/failed')).json() as { dead_letters: { attempts: number }[] }).dead_letters
    t.equal(letter?.attempts, 2)

    // After the replay: one more 503, then 200. Only a fresh budget of two attempts gets it through.
    receiver.status = (index) => index === 2 ? 503 : 200
    t.same((await admin(app, 'POST', '/admin/queues/hook/retry')).json(), { sink: 'hook', retried: 1 })
    await eventually(() => receiver.delivered.length === 1 ? true : undefined, 10_000, 'delivery on the second attempt of the replay')
    t.same(receiver.requests.map((request) => request.status), [503, 503, 503, 200])
    t.equal(receiver.delivered[0]?.event_id, event.event_id)
    // The receiver has the event before the worker marks its job completed.
    const settled = await eventually(async () => { const counts = await queues(app); return counts.hook?.completed === 1 ? counts : undefined }, 10_000, 'the replayed job completed')
    t.match(settled.hook, { failed: 0, completed: 1 })
  })
}
