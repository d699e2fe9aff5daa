/**
 * How a verified Data Pipelines body becomes events: one event, a JSON array or an object holding the
 * array under `batch`; each member's own bytes, routing fields and dedupe key; what is quarantined.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { customerioPipelinesSource as source } from '../../../../plugins/sources/customerio-pipelines/definition.js'
import { isUnroutable, type RequestPart, type SourceEvent, type UnroutablePart } from '../../../../src/sources/definition.js'

const FIXTURES = ['journeys-email-delivered', 'journeys-email-opened', 'journeys-email-link-clicked', 'journeys-email-bounced', 'journeys-push-sent', 'identify', 'page']
const fixture = (name: string): string => readFileSync(new URL(`../../../fixtures/pipelines/${name}.json`, import.meta.url), 'utf8')
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

function parse (body: string): RequestPart[] {
  return source.parse(Buffer.from(body))
}

function events (parts: RequestPart[]): SourceEvent[] {
  return parts.map((part) => {
    if (isUnroutable(part)) throw new Error(`unexpected unroutable part: ${part.reason}`)
    return part
  })
}

t.test('the batch fixture: seven events, each with its exact bytes, routing fields and messageId', async (t) => {
  const parts = events(parse(fixture('batch')))
  t.same(parts.map((part) => part.raw), FIXTURES.map(fixture), 'each member is the byte-for-byte text of its fixture')
  t.same(parts.map((part) => part.fields), [
    { object_type: 'track', metric: 'Email Delivered' },
    { object_type: 'track', metric: 'Email Opened' },
    { object_type: 'track', metric: 'Email Link Clicked' },
    { object_type: 'track', metric: 'Email Bounced' },
    { object_type: 'track', metric: 'Push Sent' },
    { object_type: 'identify', metric: 'identify' },
    { object_type: 'page', metric: 'page' }
  ])
  t.same(parts.map((part) => part.dedupeKey), FIXTURES.map((name) => (JSON.parse(fixture(name)) as { messageId: string }).messageId))
  t.same(parts.map((part) => part.event), FIXTURES.map((name) => JSON.parse(fixture(name)) as unknown))
})

t.test('an object holding the array under batch, pretty-printed: members cut out as written, other keys ignored', async (t) => {
  const members = FIXTURES.slice(0, 3).map((name) => JSON.parse(fixture(name)) as Record<string, unknown>)
  const body = JSON.stringify({ sentAt: '2024-09-10T21:05:00.000Z', batch: members, context: { batch: [1, 2] } }, null, 2)
  const parts = events(parse(body))
  t.same(parts.map((part) => part.raw), members.map((member) => JSON.stringify(member, null, 2).replace(/\n/g, '\n    ')),
    'each member with its own indentation, as it stands in the body')
  t.same(parts.map((part) => part.event), members)
  t.same(parts.map((part) => part.fields.metric), ['Email Delivered', 'Email Opened', 'Email Link Clicked'])
})

t.test('JSON.parse keeps the last of repeated keys, and so does the cut', async (t) => {
  const parts = events(parse('{"batch":[{"type":"identify","messageId":"first"}],"batch":[{"type":"page","messageId":"a"},{"type":"page","messageId":"b"}]}'))
  t.same(parts.map((part) => part.raw), ['{"type":"page","messageId":"a"}', '{"type":"page","messageId":"b"}'])
  const escaped = events(parse('{"b\\u0061tch":[{"type":"screen","messageId":"s"}]}'))
  t.same(escaped.map((part) => part.raw), ['{"type":"screen","messageId":"s"}'], 'a key written with an escape is still batch')
})

t.test('members are cut as sent: strings with brackets and escapes, numbers and escapes JSON.stringify would rewrite', async (t) => {
  const members = [
    '{"type":"track","event":"A [tricky] {one}","messageId":"t1","properties":{"q":"say \\"hi\\", ]then}","odd":"1 \\" ], {","path":"C:\\\\dir\\\\","list":[[1,[2]],{"a":[]}]}}',
    '{"type":"track","event":"Numbers","messageId":"t2","properties":{"price":1.0,"big":1152921504606846977,"exp":1E3,"e":"\\u00e9t\\u00e9"}}',
    '  {"type":"identify","messageId":"t3","traits":{"empty":{},"none":[]}}\n',
    '{"type":"alias","previousId":"\\\\","messageId":"t4"}'
  ]
  const parts = events(parse(`[\n${members.join(' ,\t')}\r\n]`))
  t.same(parts.map((part) => part.raw), members.map((member) => member.trim()), 'the bytes of each member, without the whitespace around it')
  t.not(JSON.stringify(parts[1]?.event), parts[1]?.raw, 'JSON.stringify of the parsed member would have rewritten it')
  t.same(parts.map((part) => part.fields), [
    { object_type: 'track', metric: 'A [tricky] {one}' },
    { object_type: 'track', metric: 'Numbers' },
    { object_type: 'identify', metric: 'identify' },
    { object_type: 'alias', metric: 'alias' }
  ])
})

t.test('one event object is a request of one event; an empty array a request of none', async (t) => {
  const body = fixture('identify')
  const parts = events(parse(body))
  t.equal(parts.length, 1)
  t.equal(parts[0]?.raw, body)
  t.same(parse('[]'), [])
  t.same(parse(' [ ] '), [])
})

t.test('malformed members are unroutable one by one; the others are events', async (t) => {
  const body = `[${fixture('identify')},5,null,"text",[1],{},{"type":""},{"type":7},{"type":"track"},{"type":"track","event":""},{"type":"screen","name":"Home"}]`
  const parts = parse(body)
  t.same(parts.map((part) => isUnroutable(part) ? part.reason : `event ${part.fields.object_type}`), [
    'event identify', 'not_a_json_object', 'not_a_json_object', 'not_a_json_object', 'not_a_json_object',
    'missing_type', 'missing_type', 'missing_type', 'missing_event', 'missing_event', 'event screen'
  ])
  const unroutable = parts.filter(isUnroutable)
  t.same(unroutable.map((part) => part.raw), ['5', 'null', '"text"', '[1]', '{}', '{"type":""}', '{"type":7}', '{"type":"track"}', '{"type":"track","event":""}'])
  t.same(unroutable.map((part) => part.dedupeKey), unroutable.map((part) => `body:${sha256(part.raw)}`), 'each deduped on the SHA-256 of its own text')
  const screen = parts[10] as SourceEvent
  t.equal(screen.dedupeKey, `body:${sha256('{"type":"screen","name":"Home"}')}`, 'an event without messageId is deduped on the SHA-256 of its bytes')
})

t.test('a body that is not JSON is one unroutable part, keyed on its bytes', async (t) => {
  const body = Buffer.from([0x5b, 0x7b, 0xff, 0xfe, 0x22])
  const parts = source.parse(body)
  t.equal(parts.length, 1)
  const part = parts[0] as UnroutablePart
  t.equal(part.reason, 'not_json')
  t.equal(part.dedupeKey, `body:${createHash('sha256').update(body).digest('hex')}`)
  t.same(source.parse(Buffer.from('42')).map((p) => (p as UnroutablePart).reason), ['not_a_json_object'], 'JSON, but no event and no batch')
})

t.test('a long messageId is hashed, so Redis keys stay bounded', async (t) => {
  const id = 'm'.repeat(300)
  const [part] = events(parse(JSON.stringify({ type: 'page', messageId: id })))
  t.equal(part?.dedupeKey, `sha256:${sha256(id)}`)
})

t.test('event time: the ISO timestamp of the call, else none', async (t) => {
  t.equal(source.eventTimeMs({ timestamp: '2024-09-10T20:26:40.000Z' }), Date.UTC(2024, 8, 10, 20, 26, 40))
  t.equal(source.eventTimeMs({ timestamp: '2024-09-10T22:26:40+02:00' }), Date.UTC(2024, 8, 10, 20, 26, 40))
  for (const timestamp of [undefined, 1726000000, 'yesterday', '2024-13-45T99:00:00Z', '10 Sep 2024']) {
    t.equal(source.eventTimeMs({ timestamp }), undefined, String(timestamp))
  }
})
