import t from 'tap'
import { readFileSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import { cioSignature, precheckCioHeaders, verifyCioRequest } from '../../../plugins/verifier/signature.js'

const vectorBody = readFileSync(new URL('../../fixtures/signing-vector.json', import.meta.url))
const VECTOR = { key: 'test_signing_key_123', timestamp: '1700000000', signature: 'fce599f964314e83d126387028143ad45fcacb0ac633ec7cf7d48afcc1618787' }
const atVectorTime = { toleranceMs: 60_000, nowMs: 1700000000 * 1000 }

t.test('the shared test vector verifies', async (t) => {
  t.equal(vectorBody.length, 340, 'the fixture is the 340-byte body, no trailing newline')
  t.equal(cioSignature(VECTOR.key, VECTOR.timestamp, vectorBody), VECTOR.signature)
  t.equal(verifyCioRequest({ timestamp: VECTOR.timestamp, signature: VECTOR.signature, body: vectorBody }, { secrets: [VECTOR.key], ...atVectorTime }), undefined)
})

t.test('the body-only HMAC (the common bug) is rejected', async (t) => {
  const bodyOnly = createHmac('sha256', VECTOR.key).update(vectorBody).digest('hex')
  t.not(bodyOnly, VECTOR.signature)
  t.equal(verifyCioRequest({ timestamp: VECTOR.timestamp, signature: bodyOnly, body: vectorBody }, { secrets: [VECTOR.key], ...atVectorTime }), 'bad_signature')
})

t.test('agrees with customerio-node verifyRequestSignature on 2,000 random cases', async (t) => {
  const { verifyRequestSignature } = await import('customerio-node')
  // A seeded generator, so a failure can be replayed from the printed seed.
  const seed = Number(process.env.SIGNATURE_SEED ?? Date.now() % 1_000_000)
  let state = seed
  const random = (): number => { state = (state * 1103515245 + 12345) % 2147483648; return state / 2147483648 }
  const int = (n: number): number => Math.floor(random() * n)
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
  const mutations = ['none', 'flip', 'truncate', 'upper', 'missing', 'empty', 'extend', 'other-secret', 'other-timestamp', 'body-only'] as const
  const now = 1_800_000_000
  let accepted = 0
  let disagreements = 0
  for (let i = 0; i < 2000; i++) {
    const secret = bytes(1 + int(40)).toString('base64')
    const timestamp = String(now - int(3600))
    const body = random() < 0.5 ? bytes(int(2000)) : Buffer.from(JSON.stringify({ event_id: `E${i}`, object_type: 'email', metric: 'sent', data: { n: int(1e9), text: bytes(int(30)).toString('latin1') } }))
    const good = createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')
    const mutation = mutations[i % mutations.length]
    let signature: string | undefined = good
    switch (mutation) {
      case 'flip': { const at = int(64); signature = good.slice(0, at) + ((parseInt(good.charAt(at), 16) + 1 + int(15)) % 16).toString(16) + good.slice(at + 1); break }
      case 'truncate': signature = good.slice(0, int(64)); break
      case 'upper': signature = /[a-f]/.test(good) ? good.toUpperCase() : good.replace(/[0-9]$/, 'A'); break
      case 'missing': signature = undefined; break
      case 'empty': signature = ''; break
      case 'extend': signature = good + 'a'; break
      case 'other-secret': signature = createHmac('sha256', secret + 'x').update(`v0:${timestamp}:`).update(body).digest('hex'); break
      case 'other-timestamp': signature = createHmac('sha256', secret).update(`v0:${Number(timestamp) + 1}:`).update(body).digest('hex'); break
      case 'body-only': signature = createHmac('sha256', secret).update(body).digest('hex'); break
      default: break
    }
    const vendor = verifyRequestSignature({ signingSecret: secret, timestamp, body, signature: signature as string })
    const ours = verifyCioRequest({ timestamp, signature, body }, { secrets: [secret], toleranceMs: 24 * 3600_000, nowMs: now * 1000 }) === undefined
    if (vendor !== ours) {
      disagreements++
      if (disagreements <= 5) t.fail(`seed ${seed} case ${i} (${mutation}): customerio-node says ${vendor}, gateway says ${ours}`)
    }
    if (ours) accepted++
  }
  t.equal(disagreements, 0, `no disagreement (seed ${seed})`)
  t.equal(accepted, 200, 'exactly the 200 unmutated cases are accepted')
})

t.test('never throws, whatever the headers hold', async (t) => {
  const body = Buffer.from('{"object_type":"email","metric":"sent"}')
  const options = { secrets: ['k'], toleranceMs: 60_000, nowMs: Date.now() }
  const timestamp = String(Math.floor(Date.now() / 1000))
  const cases: [string, string | string[] | undefined, string | string[] | undefined, string][] = [
    ['no headers', undefined, undefined, 'missing_signature'],
    ['no signature', timestamp, undefined, 'missing_signature'],
    ['no timestamp', undefined, 'a'.repeat(64), 'missing_signature'],
    ['empty signature', timestamp, '', 'missing_signature'],
    ['repeated signature header', timestamp, ['a'.repeat(64), 'b'.repeat(64)], 'bad_signature'],
    ['repeated timestamp header', [timestamp, timestamp], 'a'.repeat(64), 'bad_signature'],
    ['joined repeated header', timestamp, `${'a'.repeat(64)}, ${'b'.repeat(64)}`, 'bad_signature'],
    ['non-hex', timestamp, 'z'.repeat(64), 'bad_signature'],
    ['multi-byte characters of the right length', timestamp, 'é'.repeat(64), 'bad_signature'],
    ['short', timestamp, 'ab', 'bad_signature'],
    ['huge', timestamp, 'a'.repeat(100_000), 'bad_signature'],
    ['huge timestamp', '9'.repeat(10_000), 'a'.repeat(64), 'bad_signature']
  ]
  for (const [name, ts, signature, reason] of cases) {
    t.equal(verifyCioRequest({ timestamp: ts, signature, body }, options), reason, name)
  }
})

t.test('several secrets: any one matches; timestamps outside the tolerance are stale', async (t) => {
  const body = Buffer.from('{"object_type":"email","metric":"sent"}')
  const now = 1_800_000_000_000
  const at = (seconds: number): string => String(Math.floor(now / 1000) + seconds)
  const options = { secrets: ['old-key', 'new-key'], toleranceMs: 300_000, nowMs: now }
  t.equal(verifyCioRequest({ timestamp: at(0), signature: cioSignature('new-key', at(0), body), body }, options), undefined, 'second secret')
  t.equal(verifyCioRequest({ timestamp: at(0), signature: cioSignature('old-key', at(0), body), body }, options), undefined, 'first secret')
  t.equal(verifyCioRequest({ timestamp: at(0), signature: cioSignature('unknown', at(0), body), body }, options), 'bad_signature')
  t.equal(verifyCioRequest({ timestamp: at(-300), signature: cioSignature('new-key', at(-300), body), body }, options), undefined, 'edge of the window')
  t.equal(verifyCioRequest({ timestamp: at(-301), signature: cioSignature('new-key', at(-301), body), body }, options), 'stale_timestamp', 'past')
  t.equal(verifyCioRequest({ timestamp: at(301), signature: cioSignature('new-key', at(301), body), body }, options), 'stale_timestamp', 'future')
  // A timestamp that is not a number is a malformed header, refused before the body is read (precheckCioHeaders).
  t.equal(verifyCioRequest({ timestamp: 'soon', signature: cioSignature('new-key', 'soon', body), body }, options), 'bad_signature', 'not a number')
  t.equal(verifyCioRequest({ timestamp: `${Math.floor(now / 1000)}000`, signature: cioSignature('new-key', `${Math.floor(now / 1000)}000`, body), body }, options), 'stale_timestamp', 'milliseconds are not seconds')
})

t.test('the header pre-check refuses what can never verify, and passes everything well-formed', async (t) => {
  const good = 'a'.repeat(64)
  const now = '1700000000'
  const cases: [string, string | string[] | undefined, string | string[] | undefined, string | undefined][] = [
    ['well-formed', now, good, undefined],
    ['milliseconds (stale later, not malformed)', '1700000000000', good, undefined],
    ['no signature', now, undefined, 'missing_signature'],
    ['empty signature', now, '', 'missing_signature'],
    ['no timestamp', undefined, good, 'missing_signature'],
    ['empty timestamp', '', good, 'missing_signature'],
    ['uppercase hex', now, 'A'.repeat(64), 'bad_signature'],
    ['63 characters', now, good.slice(1), 'bad_signature'],
    ['65 characters', now, good + 'a', 'bad_signature'],
    ['40 hex characters (a SHA-1)', now, 'a'.repeat(40), 'bad_signature'],
    ['non-hex', now, 'g'.repeat(64), 'bad_signature'],
    ['timestamp not a number', 'soon', good, 'bad_signature'],
    ['negative timestamp', '-1700000000', good, 'bad_signature'],
    ['timestamp with a fraction', '1700000000.5', good, 'bad_signature'],
    ['timestamp of 16 digits', '1'.repeat(16), good, 'bad_signature'],
    ['repeated signature header', now, [good, good], 'bad_signature'],
    ['repeated timestamp header', [now, now], good, 'bad_signature']
  ]
  for (const [name, timestamp, signature, reason] of cases) t.equal(precheckCioHeaders({ timestamp, signature }), reason, name)
})
