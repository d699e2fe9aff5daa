/**
 * The verifier plugin: a `verifySource` decorator that checks a webhook request against its
 * source's signature scheme (the source type's, src/sources/registry.ts), secrets and tolerance.
 * The ingest route calls it before anything else touches the body.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { SourceConfig } from '../../src/config/types.js'
import { sourceType } from '../../src/sources/registry.js'
import type { RejectReason } from './signature.js'

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
    sourceType(source.type).signature.verify(request.headers, body, { secrets: source.secrets, toleranceMs: source.toleranceMs, nowMs: now() }))
}

export default fp(verifierPlugin, { fastify: '5.x', name: 'verifier' })
