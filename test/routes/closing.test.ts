/**
 * Requests that reach the gateway while it closes (pipelined or on a connection still busy): webhooks
 * get 503 with Retry-After, counted as shutting_down, and /readyz says not ready. Fastify's own 503
 * for that case carries neither.
 */
import t from 'tap'
import { connect } from 'node:net'
import { build, defaultYaml, sampleValue } from '../helpers/app.js'
import { sampleEvent, signedHeaders } from '../helpers/sign.js'

function webhookRequest (body: string): string {
  const headers = Object.entries(signedHeaders(body)).map(([name, value]) => `${name}: ${String(value)}\r\n`).join('')
  return `POST /webhooks/customerio HTTP/1.1\r\nHost: gateway\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

/** A connection with a webhook request whose last bytes are held back: busy until `finish`. */
async function busyConnection (port: number): Promise<{ finish: (next: string) => void, answers: () => Promise<string[]> }> {
  const socket = connect(port, '127.0.0.1')
  let received = ''
  socket.on('data', (chunk) => { received += chunk.toString() })
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  const request = webhookRequest(JSON.stringify(sampleEvent()))
  const split = request.length - 10
  await new Promise<void>((resolve) => socket.write(request.slice(0, split), () => resolve()))
  return {
    finish: (next) => socket.write(request.slice(split) + next),
    answers: async () => {
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2000))])
      socket.destroy()
      return received.split(/(?=HTTP\/1\.1 )/)
    }
  }
}

t.test('while closing: a webhook is answered 503 + Retry-After with reason shutting_down, and /readyz is not ready', async (t) => {
  const { app, registry } = await build(t, { yaml: defaultYaml({ redis: true }), role: 'ingest' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  // Requests whose bodies have not fully arrived keep their connections open when the close starts.
  const webhook = await busyConnection(port)
  const readiness = await busyConnection(port)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const closed = app.close()
  await new Promise((resolve) => setTimeout(resolve, 50))
  // The rest of each, with one more request pipelined behind it, read while the server closes.
  webhook.finish(webhookRequest(JSON.stringify(sampleEvent())))
  readiness.finish('GET /readyz HTTP/1.1\r\nHost: gateway\r\n\r\n')
  await closed
  const [first, during] = await webhook.answers()
  const [, ready] = await readiness.answers()

  t.match(first, /^HTTP\/1\.1 200 .*"status":"accepted"/s, 'a request under way when the close began is stored')
  t.match(during, /^HTTP\/1\.1 503 /, 'a webhook read during the close: 503')
  t.match(during, /\r\nretry-after: 5\r\n/i)
  t.match(during, /\{"error":"store_unavailable","reason":"shutting_down"\}$/)
  t.match(ready, /^HTTP\/1\.1 503 .*\{"status":"not_ready","failing":"shutting_down"\}$/s, '/readyz: not ready')
  t.equal(await sampleValue(registry, 'cio_gateway_ingest_unavailable_total', { source: 'customerio', reason: 'shutting_down' }), 1)
})
