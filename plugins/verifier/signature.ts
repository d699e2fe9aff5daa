/**
 * Customer.io reporting-webhook signatures (SPEC §2): lowercase hex HMAC-SHA256 over
 * "v0:" + X-CIO-Timestamp (verbatim) + ":" + raw body. Accepts exactly what customerio-node's
 * verifyRequestSignature accepts, and never throws whatever the headers hold.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export type RejectReason = 'missing_signature' | 'bad_signature' | 'stale_timestamp'

export interface SignatureHeaders {
  readonly timestamp: string | string[] | undefined
  readonly signature: string | string[] | undefined
}

export interface SignedRequest extends SignatureHeaders {
  readonly body: Buffer
}

export interface VerifyOptions {
  readonly secrets: readonly string[]
  readonly toleranceMs: number
  readonly nowMs: number
}

/**
 * What a hex HMAC-SHA256 looks like, as customerio-node compares it: byte for byte with the
 * lowercase digest, so nothing else can ever match.
 */
const SIGNATURE_FORMAT = /^[0-9a-f]{64}$/
/** Unix seconds; up to 15 digits, so milliseconds still parse and are refused as stale, not as malformed. */
const TIMESTAMP_FORMAT = /^[0-9]{1,15}$/

export function cioSignature (secret: string, timestamp: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')
}

/**
 * The check that needs no body: headers that are absent, repeated or malformed can never carry a
 * valid signature, so the request is refused before its body is read.
 */
export function precheckCioHeaders (headers: SignatureHeaders): RejectReason | undefined {
  const { timestamp, signature } = headers
  // Repeated headers arrive as arrays (or joined with ", "); neither can be a valid signature.
  if (Array.isArray(signature) || Array.isArray(timestamp)) return 'bad_signature'
  if (signature === undefined || signature === '' || timestamp === undefined || timestamp === '') return 'missing_signature'
  if (!SIGNATURE_FORMAT.test(signature) || !TIMESTAMP_FORMAT.test(timestamp)) return 'bad_signature'
  return undefined
}

export function verifyCioRequest (request: SignedRequest, options: VerifyOptions): RejectReason | undefined {
  const malformed = precheckCioHeaders(request)
  if (malformed !== undefined) return malformed
  const timestamp = request.timestamp as string
  const provided = Buffer.from(request.signature as string, 'utf8')
  let matched = false
  for (const secret of options.secrets) {
    const expected = Buffer.from(cioSignature(secret, timestamp, request.body), 'utf8')
    // Every secret is tried even after a match, so timing does not reveal which key matched.
    if (timingSafeEqual(expected, provided)) matched = true
  }
  if (!matched) return 'bad_signature'
  // Freshness is checked after the signature, so an unsigned request learns nothing about the clock.
  if (Math.abs(options.nowMs - Number(timestamp) * 1000) > options.toleranceMs) return 'stale_timestamp'
  return undefined
}
