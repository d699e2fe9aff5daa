/** Per-sink PII redaction (SPEC §6): the rules of src/sinks/redact.ts, then end to end through two file sinks. */
import t from 'tap'
import { createHash, createHmac } from 'node:crypto'
import { join } from 'node:path'
import { redactor } from '../../src/sinks/redact.js'
import { build, defaultYaml, eventually, readLines } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex')
const hmac = (key: string, text: string): string => createHmac('sha256', key).update(text, 'utf8').digest('hex')

function redact (paths: string[], event: Record<string, unknown>, key?: string): Record<string, unknown> {
  const apply = redactor(paths, key)
  if (apply === undefined) throw new Error('no redactor for a non-empty path list')
  return apply(event)
}

t.test('no paths: no redactor, so the sink gets the bytes as received', async (t) => {
  t.equal(redactor([], undefined), undefined)
  t.equal(redactor([], 'key'), undefined)
})

t.test('strings become the SHA-256 hex of their UTF-8 bytes, on a copy', async (t) => {
  const event = { event_id: 'E1', data: { identifiers: { id: '42', email: 'zoë@example.com' }, recipient: 'zoë@example.com', subject: 'Hi' } }
  const original = structuredClone(event)
  const out = redact(['data.identifiers.email', 'data.recipient'], event)
  t.same(out, { event_id: 'E1', data: { identifiers: { id: '42', email: sha256('zoë@example.com') }, recipient: sha256('zoë@example.com'), subject: 'Hi' } })
  t.match(out.data, { recipient: /^[0-9a-f]{64}$/ })
  t.same(event, original, 'the event handed in is not changed (other sinks share it)')
})

t.test('with redact_key the digest is HMAC-SHA256 keyed with it', async (t) => {
  const out = redact(['data.recipient'], { data: { recipient: 'person@example.com' } }, 'k3y')
  t.same(out, { data: { recipient: hmac('k3y', 'person@example.com') } })
  t.not((out.data as { recipient: string }).recipient, sha256('person@example.com'), 'not the dictionary-reversible plain digest')
})

t.test('other scalars are digested as their JSON text: 42 and "42" give one digest', async (t) => {
  const out = redact(['data.customer_id', 'data.flag', 'data.n'], { data: { customer_id: 42, flag: false, n: 1.5 } })
  t.same(out, { data: { customer_id: sha256('42'), flag: sha256('false'), n: sha256('1.5') } })
  t.same(redact(['data.customer_id'], { data: { customer_id: '42' } }), { data: { customer_id: sha256('42') } })
})

t.test('an object at the path is digested whole, as its JSON text', async (t) => {
  const identifiers = { id: '42', email: 'person@example.com' }
  t.same(redact(['data.identifiers'], { data: { identifiers } }), { data: { identifiers: sha256(JSON.stringify(identifiers)) } })
})

t.test('an array at the path keeps its shape: each element is redacted, nulls stay', async (t) => {
  t.same(redact(['data.emails'], { data: { emails: ['a@example.com', null, 7, ['b@example.com']] } }),
    { data: { emails: [sha256('a@example.com'), null, sha256('7'), [sha256('b@example.com')]] } })
})

t.test('an array on the way is walked element by element, or by index when the segment is a number', async (t) => {
  const event = { data: { recipients: [{ device_id: 'tok-1', platform: 'ios' }, { device_id: 'tok-2' }, 'not-an-object', { other: 1 }] } }
  t.same(redact(['data.recipients.device_id'], event), {
    data: { recipients: [{ device_id: sha256('tok-1'), platform: 'ios' }, { device_id: sha256('tok-2') }, 'not-an-object', { other: 1 }] }
  }, 'every element that has the field, no field added to the others')
  t.same(redact(['data.recipients.1.device_id'], event), {
    data: { recipients: [{ device_id: 'tok-1', platform: 'ios' }, { device_id: sha256('tok-2') }, 'not-an-object', { other: 1 }] }
  }, 'only the element at that index')
  t.same(redact(['data.list.0', 'data.list.5'], { data: { list: ['first', 'second'] } }), { data: { list: [sha256('first'), 'second'] } }, 'an index past the end is ignored')
})

t.test('missing paths, null and scalars on the way leave the event as it is', async (t) => {
  const event = { event_id: 'E2', data: { identifiers: null, recipient: null, subject: 'Hi', nested: 'text' } }
  t.same(redact(['data.identifiers.email', 'data.recipient', 'data.nowhere.deep', 'data.nested.inner', 'absent'], event), event)
  t.notOk(Object.hasOwn(redact(['data.absent'], { data: {} }).data as object, 'absent'), 'no field is added')
})

t.test('paths follow own properties only, so they never reach Object.prototype', async (t) => {
  const toString = Object.prototype.toString
  const out = redact(['constructor.name', '__proto__.toString', 'data.__proto__.valueOf', 'toString'], { data: {} })
  t.equal(Object.prototype.toString, toString, 'Object.prototype.toString untouched')
  t.equal(typeof Object.prototype.valueOf, 'function')
  t.same(out, { data: {} })
  // A key named __proto__ that the JSON itself carries is an own property, and is redacted like any other.
  const parsed = JSON.parse('{"data":{"__proto__":{"email":"p@example.com"}}}') as Record<string, unknown>
  const redacted = redact(['data.__proto__.email'], parsed)
  t.same(JSON.parse(JSON.stringify(redacted)), JSON.parse(`{"data":{"__proto__":{"email":"${sha256('p@example.com')}"}}}`))
})

t.test('end to end: the redacting file sink gets digests, the other sink the original values', async (t) => {
  const { app, dir } = await build(t, {
    yaml: defaultYaml({
      redis: true,
      extraSinks: `
  private:
    type: file
    path: "{{dir}}/private"
    batch: { max_events: 50, max_wait: 20ms }
    redact: [data.identifiers.email, data.recipient]
  keyed:
    type: file
    path: "{{dir}}/keyed"
    batch: { max_events: 50, max_wait: 20ms }
    redact: [data.identifiers.email, data.recipient]
    redact_key: "pepper-for-tests"`,
      routes: '  - { name: everything, match: {}, sinks: [local, private, keyed] }'
    })
  })
  const email = 'person.one@example.com'
  const phone = '+15555550123'
  const events = [
    sampleEvent({ data: { campaign_id: 5, delivery_id: 'D-R1', identifiers: { id: '42', email }, recipient: email, subject: 'Hello' } }),
    sampleEvent({ object_type: 'sms', metric: 'sent', data: { campaign_id: 8, delivery_id: 'D-R2', identifiers: { id: '77', email: null }, recipient: phone } })
  ]
  for (const event of events) {
    const body = JSON.stringify(event)
    const response = await app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
    t.same(response.json(), { status: 'accepted' })
  }
  const linesOf = async (name: string): Promise<Map<string, Record<string, unknown>>> => {
    const lines = await eventually(() => { const found = readLines(join(dir, name)); return found.length >= 2 ? found : undefined }, 10_000, `two lines in ${name}`)
    return new Map(lines.map((line) => [String(line.event_id), line]))
  }
  const original = await linesOf('events')
  const privateLines = await linesOf('private')
  const keyedLines = await linesOf('keyed')
  const [first, second] = events.map((event) => String(event.event_id)) as [string, string]

  t.match(original.get(first), { data: { identifiers: { id: '42', email }, recipient: email, subject: 'Hello' } }, 'the plain sink keeps the values')
  t.match(original.get(second), { data: { identifiers: { id: '77', email: null }, recipient: phone } })

  t.same(privateLines.get(first)?.data, { campaign_id: 5, delivery_id: 'D-R1', identifiers: { id: '42', email: sha256(email) }, recipient: sha256(email), subject: 'Hello' })
  t.same(privateLines.get(second)?.data, { campaign_id: 8, delivery_id: 'D-R2', identifiers: { id: '77', email: null }, recipient: sha256(phone) })
  t.match(privateLines.get(first), { event_id: first, object_type: 'email', metric: 'delivered', _gateway: { source: 'customerio' } }, 'the rest of the line is as received')

  t.same((keyedLines.get(first)?.data as Record<string, unknown>).recipient, hmac('pepper-for-tests', email))
  t.same((keyedLines.get(second)?.data as Record<string, unknown>).recipient, hmac('pepper-for-tests', phone))

  const all = JSON.stringify([...privateLines.values(), ...keyedLines.values()])
  t.notOk(all.includes(email) || all.includes(phone), 'no redacting sink holds the clear values anywhere')
})
