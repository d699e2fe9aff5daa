/**
 * 20,000+ hostile requests against a running gateway: random and oversized headers, non-JSON and
 * invalid UTF-8 bodies, deeply nested JSON, bodies over the limit, wrong content types, malformed
 * HTTP, slow and truncated bodies. The process never crashes, never answers 500, never accepts an
 * unsigned event, and its memory stays flat.
 */
import t from 'tap'
import { connect } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { BIN, cleanEnv, startGateway } from '../helpers/process.js'
import { eventually, readLines, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { TEST_SECRET, sampleEvent, signature, signedHeaders } from '../helpers/sign.js'

let seed = Number(process.env.HOSTILE_SEED ?? Date.now() % 1_000_000)
const random = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
const int = (n: number): number => Math.floor(random() * n)
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T

function rssKb (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
}

/** One hostile HTTP request (that undici can express): what it sends, and whether it is signed. */
function hostileRequest (): { headers: Record<string, string>, body: Buffer | string, signed: boolean, kind: string } {
  const ts = String(Math.floor(Date.now() / 1000))
  const kind = pick(['random-headers', 'oversized-header', 'non-json', 'invalid-utf8', 'nested', 'over-limit', 'content-type', 'bad-signature', 'signed-garbage', 'signed-nested'] as const)
  switch (kind) {
    case 'random-headers': {
      const headers: Record<string, string> = {}
      for (let i = 0; i < 1 + int(30); i++) headers[`x-${bytes(4).toString('hex')}`] = bytes(int(200)).toString('base64')
      headers['x-cio-signature'] = pick(['', 'zz', bytes(32).toString('hex'), bytes(100).toString('base64'), 'a'.repeat(64)])
      headers['x-cio-timestamp'] = pick(['', '-1', 'NaN', '1e99', ts, '9'.repeat(40)])
      return { headers, body: JSON.stringify(sampleEvent()), signed: false, kind }
    }
    case 'oversized-header':
      return { headers: { 'x-cio-signature': 'a'.repeat(8000 + int(20000)), 'x-cio-timestamp': ts }, body: '{}', signed: false, kind }
    case 'non-json':
      return { headers: { 'content-type': 'application/json', 'x-cio-timestamp': ts, 'x-cio-signature': bytes(32).toString('hex') }, body: bytes(int(4000)).toString('latin1'), signed: false, kind }
    case 'invalid-utf8':
      return { headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.concat([Buffer.from('{"event_id":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}')]), signed: false, kind }
    case 'nested': {
      const depth = 1000 + int(20000)
      return { headers: { 'content-type': 'application/json' }, body: '['.repeat(depth) + ']'.repeat(depth), signed: false, kind }
    }
    case 'over-limit':
      return { headers: { 'content-type': 'application/json', 'x-cio-timestamp': ts, 'x-cio-signature': 'a'.repeat(64) }, body: Buffer.alloc(70 * 1024 + int(100_000), 0x61), signed: false, kind }
    case 'content-type':
      return { headers: { 'content-type': pick(['text/html', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'image/png', ';;;', 'application/json; charset=ebcdic']), 'x-cio-timestamp': ts }, body: bytes(int(500)), signed: false, kind }
    case 'bad-signature': {
      const body = JSON.stringify(sampleEvent())
      return { headers: { ...signedHeaders(body, { secret: 'wrong' }) }, body, signed: false, kind }
    }
    case 'signed-garbage': {
      const body = bytes(int(2000))
      return { headers: { 'content-type': 'application/octet-stream', 'x-cio-timestamp': ts, 'x-cio-signature': signature(TEST_SECRET, ts, body) }, body, signed: true, kind }
    }
    case 'signed-nested': {
      const depth = 1000 + int(50_000)
      const body = '{"object_type":"email","metric":"sent","data":' + '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) + '}'
      return { headers: signedHeaders(body), body, signed: true, kind }
    }
  }
}

/** Raw bytes undici would refuse to send: broken request lines, bad header syntax, truncated and slow bodies. */
async function rawHostile (port: number): Promise<string> {
  const variant = pick(['garbage', 'bad-header', 'truncated', 'lying-length', 'smuggle'] as const)
  const payloads: Record<typeof variant, Buffer> = {
    garbage: bytes(1 + int(500)),
    'bad-header': Buffer.from(`POST /webhooks/customerio HTTP/1.1\r\nHost: x\r\nX-CIO-Signature\r\n${bytes(20).toString('latin1')}: y\r\n\r\n`, 'latin1'),
    truncated: Buffer.from('POST /webhooks/customerio HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nContent-Type: application/json\r\n\r\n{"event_id":"x","obj'),
    'lying-length': Buffer.from('POST /webhooks/customerio HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}'),
    smuggle: Buffer.from('POST /webhooks/customerio HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
  }
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => { answer += chunk.toString('latin1') })
    socket.on('error', () => { /* reset by the server: fine */ })
    socket.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'closed'))
    socket.write(payloads[variant])
    // Truncated bodies end with a half-closed socket; the others get a moment to be answered.
    setTimeout(() => socket.end(), variant === 'truncated' ? 10 : 200)
    setTimeout(() => socket.destroy(), 2000)
  })
}

t.test('20,000 hostile requests: no crash, no 500, no unsigned event accepted, flat memory', async (t) => {
  const dir = tempDir(t)
  const configFile = join(dir, 'routes.yaml')
  writeFileSync(configFile, `server: { host: 127.0.0.1, body_limit: 64kb }
sources:
  customerio: { type: customerio, secrets: ["${TEST_SECRET}"] }
sinks:
  local: { type: file, path: "${dir}/events" }
routes:
  - { name: all, match: {}, sinks: [local] }
`)
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile], cleanEnv({ PORT: String(port), LOG_LEVEL: 'error' }))
  t.teardown(() => gateway.signal('SIGKILL'))
  const pid = gateway.child.pid as number
  const dispatcher = new Agent({ connections: 16, headersTimeout: 15_000, bodyTimeout: 15_000 })
  t.teardown(async () => await dispatcher.close())

  // Slow bodies in the background: a few bytes every second, longer than requestTimeout allows.
  // Their signature headers are well-formed (and wrong), so the header pre-check lets them through
  // to the body read: without them they would be refused at once with 401.
  const slowHeaders = `X-CIO-Timestamp: ${Math.floor(Date.now() / 1000)}\r\nX-CIO-Signature: ${'a'.repeat(64)}\r\n`
  const slow = Array.from({ length: 10 }, async () => await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => { answer += chunk.toString() })
    socket.on('error', () => {})
    socket.on('close', () => { clearInterval(timer); resolve(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'closed') })
    socket.write(`POST /webhooks/customerio HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${slowHeaders}Content-Length: 1000\r\n\r\n{`)
    const timer = setInterval(() => socket.write('"'), 1000)
    setTimeout(() => socket.destroy(), 20_000)
  }))

  const statuses: Record<string, number> = {}
  const byKind: Record<string, Record<string, number>> = {}
  let unsignedAccepted = 0
  let signedSent = 0
  let total = 0
  let rssAfterWarmup = 0
  const record = (kind: string, status: string): void => {
    statuses[status] = (statuses[status] ?? 0) + 1
    byKind[kind] = byKind[kind] ?? {}
    ;(byKind[kind] as Record<string, number>)[status] = ((byKind[kind] as Record<string, number>)[status] ?? 0) + 1
    total++
  }
  const target = 20_000
  const loops = Array.from({ length: 16 }, async (_, loop) => {
    while (total < target) {
      if (loop === 0 && total % 10 === 0) {
        record('raw', await rawHostile(port))
        continue
      }
      const hostile = hostileRequest()
      let status: string
      try {
        const response = await request(`http://127.0.0.1:${port}/webhooks/customerio`, { method: 'POST', headers: hostile.headers, body: hostile.body, dispatcher })
        const text = await response.body.text()
        status = String(response.statusCode)
        if (response.statusCode === 200 && !hostile.signed) unsignedAccepted++
        if (response.statusCode === 200 && hostile.signed) t.match(JSON.parse(text), { status: /^(accepted|duplicate|quarantined)$/ })
      } catch (error) {
        status = `client error ${(error as { code?: string }).code ?? 'unknown'}`
      }
      if (hostile.signed) signedSent++
      record(hostile.kind, status)
      if (rssAfterWarmup === 0 && total >= 3000) rssAfterWarmup = rssKb(pid)
    }
  })
  await Promise.all(loops)
  const slowAnswers = await Promise.all(slow)
  const rssAtEnd = rssKb(pid)
  t.comment(`statuses: ${JSON.stringify(statuses)}`)
  t.comment(`by kind: ${JSON.stringify(byKind)}`)
  t.comment(`slow bodies ended with: ${JSON.stringify(slowAnswers)}; RSS after warm-up ${rssAfterWarmup} kB, at the end ${rssAtEnd} kB`)

  t.ok(total >= target, `${total} hostile requests sent`)
  t.equal(gateway.child.exitCode, null, 'the gateway is still running')
  t.equal(statuses['500'] ?? 0, 0, 'never a 500')
  t.equal(unsignedAccepted, 0, 'no unsigned request accepted')
  t.ok(Object.keys(statuses).every((status) => ['200', '400', '401', '408', '413', '431', 'closed'].includes(status) || status.startsWith('client error')),
    `only expected answers: ${Object.keys(statuses).join(', ')}`)
  t.ok(slowAnswers.every((answer) => answer === '408' || answer === 'closed'), 'slow bodies are cut off by requestTimeout')
  t.ok(rssAtEnd - rssAfterWarmup < 64 * 1024, `RSS grew by ${Math.round((rssAtEnd - rssAfterWarmup) / 1024)} MB over ${target - 3000} requests after warm-up`)

  // And it still does its job.
  const event = sampleEvent()
  const body = JSON.stringify(event)
  const response = await request(`http://127.0.0.1:${port}/webhooks/customerio`, { method: 'POST', headers: signedHeaders(body), body, dispatcher })
  t.same(await response.body.json(), { status: 'accepted' })
  await eventually(() => readLines(join(dir, 'events')).some((line) => line.event_id === event.event_id) ? true : undefined)
  t.ok(signedSent > 0, `${signedSent} signed garbage bodies were quarantined, not refused`)
})
