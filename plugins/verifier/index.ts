/**
 * The verifier plugin: a `verifySource` decorator that checks a webhook request against its
 * source's secrets and tolerance. The ingest route calls it before anything else touches the body.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { SourceConfig } from '../../src/config/types.js'
import { verifyCioRequest, type RejectReason } from './signature.js'

declare module 'fastify' {
  interface FastifyInstance {
    verifySource: (source: SourceConfig, request: FastifyRequest, body: Buffer) => RejectReason | undefined
  }
}

export interface VerifierPluginOptions {
  /** Injected clock, for tests of the tolerance window. */
  now?: () => number
}

async function verifierPlugin (app: FastifyInstance, options: VerifierPluginOptions): Promise<void> {
  const now = options.now ?? Date.now
  app.decorate('verifySource', (source: SourceConfig, request: FastifyRequest, body: Buffer) =>
    verifyCioRequest(
      { timestamp: request.headers['x-cio-timestamp'], signature: request.headers['x-cio-signature'], body },
      { secrets: source.secrets, toleranceMs: source.toleranceMs, nowMs: now() }
    ))
}

export default fp(verifierPlugin, { fastify: '5.x', name: 'verifier' })
