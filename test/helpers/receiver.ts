/**
 * A local HTTP endpoint for a webhook sink to deliver to: it records every request and answers with
 * `status` (settable at any time), so a test can make a sink dead-letter and then heal it.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Teardownable } from './app.js'

export interface Receiver {
  readonly url: string
  /** Parsed bodies of the requests answered 2xx, in arrival order. */
  readonly delivered: Record<string, unknown>[]
  /** Every request, with the status it was answered. */
  readonly requests: { status: number, body: string }[]
  /** What the next requests are answered; a function decides per request. */
  status: number | ((index: number) => number)
}

export async function startReceiver (t: Teardownable, status: Receiver['status'] = 200): Promise<Receiver> {
  const state = { delivered: [] as Record<string, unknown>[], requests: [] as { status: number, body: string }[], status }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const code = typeof state.status === 'function' ? state.status(state.requests.length) : state.status
      state.requests.push({ status: code, body })
      if (code >= 200 && code < 300) state.delivered.push(JSON.parse(body) as Record<string, unknown>)
      response.writeHead(code, { 'content-type': 'text/plain' }).end(String(code))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return Object.assign(state, { url: `http://127.0.0.1:${port}/hooks` })
}

/** The YAML of a webhook sink named `name` that delivers to `receiver` (loopback allowed), quick to retry. */
export function webhookSinkYaml (name: string, receiver: Receiver, attempts = 1): string {
  return `
  ${name}:
    type: webhook
    url: "${receiver.url}"
    allow_private_networks: true
    timeout: 2s
    batch: { max_events: 20, max_wait: 10ms }
    retry: { attempts: ${attempts}, initial_delay: 20ms, max_delay: 50ms }`
}

export interface HeldReceiver {
  readonly url: string
  /** The event_id of every event received, answered or held. */
  readonly received: string[]
  /** Answers the held requests and every later one 200. */
  release: () => void
}

/**
 * An endpoint that leaves every request unanswered until `release()`: a sink target that hangs, so
 * the events routed to it stay queued in Redis (without retries or dead letters) until the test
 * lets them through. Keeps only event ids, so large events cost the test no memory.
 */
export async function startHeldReceiver (t: Teardownable): Promise<HeldReceiver> {
  const received: string[] = []
  const held: ServerResponse[] = []
  let released = false
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      received.push(String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event_id?: unknown }).event_id))
      if (released) response.writeHead(200).end()
      else held.push(response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    release: () => {
      released = true
      for (const response of held.splice(0)) response.writeHead(200).end()
    }
  }
}
