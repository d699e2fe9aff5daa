/**
 * The naive baseline the gateway is measured against: bare Fastify that verifies the Customer.io
 * HMAC over the raw body and does one BullMQ `queue.add` per request, to one queue, with no dedupe,
 * no routing, no metrics. Run as its own process by bench/run.ts (env: PORT, HOST, REDIS_URL,
 * BENCH_PREFIX, BENCH_SECRET).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'

const secret = process.env.BENCH_SECRET ?? ''
const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 })
const queue = new Queue('baseline', { connection, prefix: process.env.BENCH_PREFIX ?? 'cio-bench' })

const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
app.get('/healthz', async () => ({ status: 'ok' }))
app.post('/webhooks/customerio', async (request, reply) => {
  const body = request.body as Buffer
  const timestamp = request.headers['x-cio-timestamp']
  const signature = request.headers['x-cio-signature']
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return await reply.code(401).send({ error: 'invalid_signature' })
  const expected = Buffer.from(createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex'))
  const provided = Buffer.from(signature)
  if (expected.length !== provided.length || !timingSafeEqual(expected, provided)) return await reply.code(401).send({ error: 'invalid_signature' })
  await queue.add('event', { s: 'customerio', r: Date.now(), b: body.toString('utf8') }, { attempts: 12, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: 1000 })
  return { status: 'accepted' }
})

const close = async (): Promise<void> => {
  await app.close()
  await queue.close()
  connection.disconnect()
}
process.once('SIGTERM', () => { void close() })
process.once('SIGINT', () => { void close() })
await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 0) })
