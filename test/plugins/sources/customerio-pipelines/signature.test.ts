/**
 * X-Signature of Data Pipelines webhook destinations: lowercase hex HMAC-SHA1 of the exact body. The
 * reference is a second implementation, Node's crypto in this file (and openssl for the fixture's
 * vector), never the code under test.
 */
import t from 'tap'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { customerioPipelinesSource } from '../../../../plugins/sources/customerio-pipelines/definition.js'
import { pipelinesSignature, precheckPipelinesSignature, verifyPipelinesSignature } from '../../../../plugins/sources/customerio-pipelines/signature.js'

const batchBody = readFileSync(new URL('../../../fixtures/pipelines/batch.json', import.meta.url))
/** test/fixtures/pipelines/README.md: computed with `openssl dgst -sha1 -hmac`. */
const VECTOR = { secret: 'pipelines_shared_secret_123', signature: 'e3becd80d19ff643e1d88c1964358f37fb40e779' }

/** The reference: HMAC-SHA1 as the destination computes it, written here without the gateway's code. */
function reference (secret: string, body: Buffer | string): string {
  return createHmac('sha1', secret).update(body).digest('hex')
}

t.test('the batch fixture verifies against the vector openssl computed, and Node crypto agrees with it', async (t) => {
  t.equal(batchBody.length, 4331, 'the fixture is the 4,331-byte body, no trailing newline')
  t.equal(reference(VECTOR.secret, batchBody), VECTOR.signature, 'second implementation = openssl')
  t.equal(pipelinesSignature(VECTOR.secret, batchBody), VECTOR.signature)
  t.equal(verifyPipelinesSignature(VECTOR.signature, batchBody, [VECTOR.secret]), undefined)
})

t.test('a batch is signed over its exact bytes: the same events re-serialised do not verify', async (t) => {
  const signature = reference(VECTOR.secret, batchBody)
  const events = JSON.parse(batchBody.toString('utf8')) as unknown[]
  const variants: [string, Buffer][] = [
    ['pretty-printed', Buffer.from(JSON.stringify(events, null, 2))],
    ['a trailing newline', Buffer.concat([batchBody, Buffer.from('\n')])],
    ['the members reordered', Buffer.from(JSON.stringify([...events].reverse()))],
    ['wrapped under batch', Buffer.from(JSON.stringify({ batch: events }))],
    ['one member dropped', Buffer.from(JSON.stringify(events.slice(1)))]
  ]
  for (const [name, body] of variants) {
    t.not(body.equals(batchBody), true, `${name} differs from the body`)
    t.equal(verifyPipelinesSignature(signature, body, [VECTOR.secret]), 'bad_signature', name)
    t.equal(verifyPipelinesSignature(reference(VECTOR.secret, body), body, [VECTOR.secret]), undefined, `${name}, signed over its own bytes`)
  }
})

t.test('accepts exactly what the reference signs, over 2,000 random bodies, secrets and tamperings', async (t) => {
  const seed = Number(process.env.SIGNATURE_SEED ?? Date.now() % 1_000_000)
  let state = seed
  const random = (): number => { state = (state * 1103515245 + 12345) % 2147483648; return state / 2147483648 }
  const int = (n: number): number => Math.floor(random() * n)
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
  const mutations = ['none', 'flip', 'truncate', 'upper', 'extend', 'other-secret', 'body-byte', 'sha256', 'prefixed'] as const
  let accepted = 0
  let wrong = 0
  for (let i = 0; i < 2000; i++) {
    const secret = bytes(1 + int(40)).toString('base64')
    const members = Array.from({ length: 1 + int(20) }, (_, n) => ({ type: 'track', event: 'Email Opened', messageId: `m-${i}-${n}`, properties: { note: bytes(int(40)).toString('latin1') } }))
    const body = random() < 0.3 ? bytes(int(3000)) : Buffer.from(JSON.stringify(members))
    const good = reference(secret, body)
    const mutation = mutations[i % mutations.length]
    let signature = good
    let tampered = body
    switch (mutation) {
      case 'flip': { const at = int(40); signature = good.slice(0, at) + ((parseInt(good.charAt(at), 16) + 1 + int(15)) % 16).toString(16) + good.slice(at + 1); break }
      case 'truncate': signature = good.slice(0, int(40)); break
      case 'upper': signature = /[a-f]/.test(good) ? good.toUpperCase() : good.replace(/[0-9]$/, 'A'); break
      case 'extend': signature = good + '0'; break
      case 'other-secret': signature = reference(secret + 'x', body); break
      case 'body-byte': if (body.length > 0) { tampered = Buffer.from(body); const at = int(body.length); tampered[at] = ((tampered[at] as number) + 1) % 256 } break
      case 'sha256': signature = createHmac('sha256', secret).update(body).digest('hex'); break
      case 'prefixed': signature = `sha1=${good}`; break
      default: break
    }
    const expected = signature === good && tampered.equals(body)
    const ours = verifyPipelinesSignature(signature, tampered, ['an-older-secret', secret]) === undefined
    if (ours !== expected) {
      wrong++
      if (wrong <= 5) t.fail(`seed ${seed} case ${i} (${mutation}): expected ${String(expected)}, gateway says ${String(ours)}`)
    }
    if (ours) accepted++
  }
  t.equal(wrong, 0, `no disagreement (seed ${seed})`)
  t.ok(accepted > 150 && accepted < 400, `both outcomes exercised (${accepted} accepted)`)
})

t.test('several secrets: any one of them verifies, none of the others does', async (t) => {
  const body = Buffer.from('[{"type":"identify","userId":"42","messageId":"m1"}]')
  t.equal(verifyPipelinesSignature(reference('new', body), body, ['old', 'new']), undefined, 'the new secret')
  t.equal(verifyPipelinesSignature(reference('old', body), body, ['old', 'new']), undefined, 'the old secret')
  t.equal(verifyPipelinesSignature(reference('other', body), body, ['old', 'new']), 'bad_signature')
})

t.test('malformed, repeated or missing headers: a clean reason, never a throw, decided from the header alone', async (t) => {
  const good = reference('k', batchBody)
  const cases: [string, string | string[] | undefined, string | undefined][] = [
    ['absent', undefined, 'missing_signature'],
    ['empty', '', 'missing_signature'],
    ['repeated', [good, good], 'bad_signature'],
    ['uppercase', good.toUpperCase(), 'bad_signature'],
    ['39 characters', good.slice(1), 'bad_signature'],
    ['41 characters', `${good}0`, 'bad_signature'],
    ['not hex', 'z'.repeat(40), 'bad_signature'],
    ['a SHA-256 length', 'a'.repeat(64), 'bad_signature'],
    ['multi-byte characters', 'é'.repeat(40), 'bad_signature'],
    ['well-formed', good, undefined]
  ]
  for (const [name, header, reason] of cases) {
    t.equal(precheckPipelinesSignature(header), reason, `pre-check: ${name}`)
    t.equal(customerioPipelinesSource.signature.precheck({ 'x-signature': header }), reason, `scheme pre-check: ${name}`)
    if (reason !== undefined) t.equal(verifyPipelinesSignature(header, batchBody, ['k']), reason, `full check: ${name}`)
  }
  t.equal(customerioPipelinesSource.signature.verify({ 'x-signature': good }, batchBody, { secrets: ['k'], toleranceMs: 0, nowMs: 0 }), undefined,
    'no timestamp is signed: the clock plays no part')
  t.equal(customerioPipelinesSource.signature.verify({ 'x-cio-signature': good }, batchBody, { secrets: ['k'], toleranceMs: 0, nowMs: 0 }), 'missing_signature',
    'the reporting-webhook header is not this scheme\'s')
})
