import t from 'tap'
import { readFileSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import { cioSignature, verifyCioRequest } from '../../../plugins/verifier/signature.js'

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
