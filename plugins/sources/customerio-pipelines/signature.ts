/**
 * Customer.io Data Pipelines webhook signatures (SPEC §13): `X-Signature` is the lowercase hex
 * HMAC-SHA1 of the raw body, keyed with the destination's shared secret. There is no timestamp:
 * the dedupe window is the replay protection. Never throws, whatever the headers hold.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { RejectReason } from '../../verifier/signature.js'

/** A hex SHA-1 digest as `digest('hex')` writes it: nothing else can ever match. */
const SIGNATURE_FORMAT = /^[0-9a-f]{40}$/

export function pipelinesSignature (secret: string, body: Buffer | string): string {
  return createHmac('sha1', secret).update(body).digest('hex')
}

/** The check that needs no body: an absent, repeated or malformed header can never carry a valid signature. */
export function precheckPipelinesSignature (signature: string | string[] | undefined): RejectReason | undefined {
  // A repeated header arrives as an array (or joined with ", "): never a valid signature.
  if (Array.isArray(signature)) return 'bad_signature'
  if (signature === undefined || signature === '') return 'missing_signature'
  return SIGNATURE_FORMAT.test(signature) ? undefined : 'bad_signature'
}

export function verifyPipelinesSignature (signature: string | string[] | undefined, body: Buffer, secrets: readonly string[]): RejectReason | undefined {
  const malformed = precheckPipelinesSignature(signature)
  if (malformed !== undefined) return malformed
  const provided = Buffer.from(signature as string, 'latin1')
  let matched = false
  for (const secret of secrets) {
    // Every secret is tried even after a match, so timing does not reveal which key matched.
    if (timingSafeEqual(Buffer.from(pipelinesSignature(secret, body), 'latin1'), provided)) matched = true
  }
  return matched ? undefined : 'bad_signature'
}
