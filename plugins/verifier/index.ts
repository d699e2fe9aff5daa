/**
 * The verifier plugin: checks a webhook request against its source's signature scheme (the
 * source type's, src/sources/registry.ts), secrets and tolerance. The ingest route calls
 * `precheckSource` before the body is read and `verifySource` before anything else touches the body.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { SourceConfig } from '../../src/config/types.js'
import type { RejectReason } from './signature.js'
import { sourceType } from '../../src/sources/registry.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Refuses a request whose signature headers are absent or malformed, from the headers alone. */
    precheckSource: (source: SourceConfig, request: FastifyRequest) => RejectReason | undefined
    verifySource: (source: SourceConfig, request: FastifyRequest, body: Buffer) => RejectReason | undefined
  }
}

export interface VerifierPluginOptions {
  /** Injected clock, for tests of the tolerance window. */
  now?: () => number
}

async function verifierPlugin (app: FastifyInstance, options: VerifierPluginOptions): Promise<void> {
  const now = options.now ?? Date.now
  app.decorate('precheckSource', (source: SourceConfig, request: FastifyRequest) =>
    sourceType(source.type).signature.precheck(request.headers))
  app.decorate('verifySource', (source: SourceConfig, request: FastifyRequest, body: Buffer) =>
    sourceType(source.type).signature.verify(request.headers, body, { secrets: source.secrets, toleranceMs: source.toleranceMs, nowMs: now() }))
}

export default fp(verifierPlugin, { fastify: '5.x', name: 'verifier' })
