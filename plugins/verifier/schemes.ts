/**
 * Signature schemes by source type. Each has a pre-check that reads only the headers, run before
 * the body is read (so a request that cannot be signed costs no body buffer), and the full check
 * over the raw body. A new source type (`customerio_pipelines`: `X-Signature`, 40 hex HMAC-SHA1)
 * adds its entry here.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { SourceConfig } from '../../src/config/types.js'
import { precheckCioHeaders, verifyCioRequest, type RejectReason, type VerifyOptions } from './signature.js'

export interface SignatureScheme {
  /** Refuses from the headers alone: absent or malformed signature headers. */
  precheck (headers: IncomingHttpHeaders): RejectReason | undefined
  /** The whole check, pre-check included. */
  verify (headers: IncomingHttpHeaders, body: Buffer, options: VerifyOptions): RejectReason | undefined
}

const customerio: SignatureScheme = {
  precheck: (headers) => precheckCioHeaders({ timestamp: headers['x-cio-timestamp'], signature: headers['x-cio-signature'] }),
  verify: (headers, body, options) => verifyCioRequest({ timestamp: headers['x-cio-timestamp'], signature: headers['x-cio-signature'], body }, options)
}

export const SIGNATURE_SCHEMES: Readonly<Record<SourceConfig['type'], SignatureScheme>> = { customerio }
