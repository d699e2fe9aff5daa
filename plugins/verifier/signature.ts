/**
 * Customer.io reporting-webhook signatures (SPEC §2): lowercase hex HMAC-SHA256 over
 * "v0:" + X-CIO-Timestamp (verbatim) + ":" + raw body. Accepts exactly what customerio-node's
 * verifyRequestSignature accepts, and never throws whatever the headers hold.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export type RejectReason = 'missing_signature' | 'bad_signature' | 'stale_timestamp'

export interface SignedRequest {
  readonly timestamp: string | string[] | undefined
  readonly signature: string | string[] | undefined
  readonly body: Buffer
}

export interface VerifyOptions {
  readonly secrets: readonly string[]
  readonly toleranceMs: number
  readonly nowMs: number
}

/** Longest header value worth hashing: a hex SHA-256 is 64 characters. */
const MAX_SIGNATURE_LENGTH = 64

export function cioSignature (secret: string, timestamp: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')
}

export function verifyCioRequest (request: SignedRequest, options: VerifyOptions): RejectReason | undefined {
  const { timestamp, signature } = request
  if (typeof signature !== 'string' || signature === '' || typeof timestamp !== 'string' || timestamp === '') {
    // Repeated headers arrive as arrays (or joined with ", "); neither can be a valid signature.
    return Array.isArray(signature) || Array.isArray(timestamp) ? 'bad_signature' : 'missing_signature'
  }
  if (signature.length !== MAX_SIGNATURE_LENGTH) return 'bad_signature'
  const provided = Buffer.from(signature, 'utf8')
  let matched = false
  for (const secret of options.secrets) {
    const expected = Buffer.from(cioSignature(secret, timestamp, request.body), 'utf8')
    // Every secret is tried even after a match, so timing does not reveal which key matched.
    if (expected.length === provided.length && timingSafeEqual(expected, provided)) matched = true
  }
  if (!matched) return 'bad_signature'
  // Freshness is checked after the signature, so an unsigned request learns nothing about the clock.
  if (!/^[0-9]{1,12}$/.test(timestamp)) return 'stale_timestamp'
  if (Math.abs(options.nowMs - Number(timestamp) * 1000) > options.toleranceMs) return 'stale_timestamp'
  return undefined
}
