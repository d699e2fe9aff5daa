/**
 * The dedupe plugin: the key an event is remembered by. The check itself happens inside the queue
 * backend's enqueue, atomically with the write (SPEC §5), so this only decides what the key is.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { dedupeKeyOf } from './key.js'

declare module 'fastify' {
  interface FastifyInstance {
    dedupeKey: typeof dedupeKeyOf
  }
}

async function dedupePlugin (app: FastifyInstance): Promise<void> {
  app.decorate('dedupeKey', dedupeKeyOf)
}

export default fp(dedupePlugin, { fastify: '5.x', name: 'dedupe' })
