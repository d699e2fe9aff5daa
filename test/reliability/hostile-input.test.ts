/**
 * 20,000+ hostile requests against a gateway on Redis with a small byte budget (`queue.max_bytes`):
 * random and oversized headers, non-JSON and invalid UTF-8 bodies, deeply nested JSON, bodies over
 * the limit, wrong content types, malformed HTTP, slow and truncated bodies. Beside them, what an
 * attacker holding the signing key can send: a captured signed body of ~900 KB that is not a
 * routable event, resent again and again, and signed routable events of about 800 KB, more than the
 * budget holds, to a sink that takes nothing while the load runs. Meanwhile routes.yaml is saved
 * with an alias bomb (the gateway reloads on file change), then restored.
 *
 * The process never crashes, never answers 500 and never accepts an unsigned event; a resent copy
 * is never stored again; past the budget signed events get 503 max_bytes; the bytes its keys hold
 * in Redis for queued events grow by no more than the budget and a stated allowance (the dedupe
 * marks and the jobs BullMQ keeps after delivery are shown beside them); its memory stays flat; and
 * once the sink takes events again, every event it accepted is delivered.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { Agent, request, type Dispatcher } from 'undici'
import { BIN, cleanEnv, startGateway } from '../helpers/process.js'
import { eventually, readLines, tempDir } from '../helpers/app.js'
import { freePort } from '../helpers/private-redis.js'
import { REDIS_URL, deleteKeys, uniquePrefix } from '../helpers/redis.js'
import { prefixMemory, usedMemory, type PrefixMemory } from '../helpers/redis-memory.js'
import { startHeldReceiver } from '../helpers/receiver.js'
import { withAliasBomb } from '../helpers/alias-bomb.js'
import { TEST_SECRET, sampleEvent, signature, signedHeaders } from '../helpers/sign.js'

/** server.body_limit: room for the ~900 KB bodies of the attacker with the key. */
const BODY_LIMIT = 1024 * 1024
/** queue.max_bytes: a few of the large events fill it. */
const BUDGET = 8 * 1024 * 1024
const OVER_LIMIT = Buffer.alloc(BODY_LIMIT + 100_000, 0x61)
const HOSTILE = 20_000
/** Large events start once this many hostile requests were answered (so the first part runs under the budget). */
const LARGE_FROM = 4000
/** The alias bomb is saved at this point of the load, the right file again once its reload failed and this many more were answered. */
const BOMB_AT = 8000
const RESTORE_AFTER = 4000
/**
 * What Redis may hold for queued events beyond the budget: the write that crosses it (up to one
 * body); the allocator's rounding (Redis stores a large string in the next jemalloc size class, up
 * to a quarter more); and BullMQ's own keys (each job's fields, the wait and active lists, the
 * event streams), well under 1 MB here.
 */
const ALLOWANCE = BODY_LIMIT + BUDGET / 4 + 1024 * 1024
/** RSS is read every half second; requests before this many are the warm-up. */
const WARMUP = 3000

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
      return { headers: { 'content-type': 'application/json', 'x-cio-timestamp': ts, 'x-cio-signature': 'a'.repeat(64) }, body: OVER_LIMIT.subarray(0, BODY_LIMIT + 1 + int(100_000)), signed: false, kind }
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

/** An answer as the tally shows it: the status, with the body's status or reason for 200 and 503. */
async function post (url: string, body: string | Buffer, headers: Record<string, string>, dispatcher: Dispatcher): Promise<string> {
  try {
    const response = await request(url, { method: 'POST', headers, body, dispatcher })
    const text = await response.body.text()
    if (response.statusCode === 200) return `200 ${String((JSON.parse(text) as { status?: unknown }).status)}`
    if (response.statusCode === 503) return `503 ${String((JSON.parse(text) as { reason?: unknown }).reason)}`
    return String(response.statusCode)
  } catch (error) {
    return `client error ${(error as { code?: string }).code ?? 'unknown'}`
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

async function until (condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(50)
}

/** The reload counter, read from /metrics on the management listener. */
async function reloads (management: string, result: 'success' | 'failure'): Promise<number> {
  const text = await (await fetch(`${management}/metrics`)).text()
  return Number(new RegExp(`^cio_gateway_config_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}

const tally = (answers: readonly string[]): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const answer of answers) counts[answer] = (counts[answer] ?? 0) + 1
  return counts
}

const MB = 1024 * 1024
const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`

t.test('20,000 hostile requests, a replayed body, events over the byte budget and an alias bomb: no crash, no 500, no unsigned event accepted, Redis bounded by the budget', async (t) => {
  const dir = tempDir(t)
  const prefix = uniquePrefix('hostile')
  const redis = new Redis(REDIS_URL)
  // Teardowns run last-added first: the gateway is killed, then its keys deleted.
  t.teardown(async () => {
    await deleteKeys(prefix)
    redis.disconnect()
  })
  const held = await startHeldReceiver(t)
  const configFile = join(dir, 'routes.yaml')
  const yaml = `server: { host: 127.0.0.1, body_limit: ${BODY_LIMIT / 1024}kb }
queue: { redis_url: "${REDIS_URL}", prefix: "${prefix}", max_bytes: ${BUDGET / 1024}kb }
sources:
  customerio: { type: customerio, secrets: ["${TEST_SECRET}"] }
sinks:
  local: { type: file, path: "${dir}/events" }
  held:
    type: webhook
    url: "${held.url}"
    allow_private_networks: true
    timeout: 5m
    concurrency: 1
routes:
  - { name: large, match: { metric: large }, sinks: [held], stop: true }
  - { name: all, match: {}, sinks: [local] }
`
  writeFileSync(configFile, yaml)
  const queues = ['local', 'held', '_quarantine']
  const before: PrefixMemory & { used: number } = { ...await prefixMemory(redis, prefix, queues), used: await usedMemory(redis) }
  const port = await freePort()
  const gateway = await startGateway(process.execPath, [BIN, 'serve', '--config', configFile], cleanEnv({ PORT: String(port), LOG_LEVEL: 'error' }))
  t.teardown(async () => {
    gateway.signal('SIGKILL')
    await gateway.exited
  })
  const pid = gateway.child.pid as number
  const url = `http://127.0.0.1:${port}/webhooks/customerio`
  const dispatcher = new Agent({ connections: 16, headersTimeout: 15_000, bodyTimeout: 15_000 })
  // The attacker with the key on connections of its own: the hostile requests' 413s close theirs.
  const keyHolder = new Agent({ connections: 4, headersTimeout: 15_000, bodyTimeout: 15_000 })
  t.teardown(async () => { await Promise.all([dispatcher.close(), keyHolder.close()]) })
  const atStart = await prefixMemory(redis, prefix, queues)

  // The captured request, resent verbatim: its body is no routable event, so it is quarantined once.
  const replayBody = JSON.stringify({ event_id: `captured-${randomUUID()}`, data: { blob: 'r'.repeat(900_000) } })
  const replayHeaders = signedHeaders(replayBody)
  t.equal(await post(url, replayBody, replayHeaders, keyHolder), '200 quarantined', 'the captured body is quarantined')

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

  const byKind: Record<string, string[]> = {}
  let unsignedAccepted = 0
  let total = 0
  let done = false
  const record = (kind: string, answer: string): void => {
    (byKind[kind] ??= []).push(answer)
    total++
  }
  const loops = Array.from({ length: 16 }, async (_, loop) => {
    while (total < HOSTILE) {
      if (loop === 0 && total % 10 === 0) {
        record('raw', await rawHostile(port))
        continue
      }
      const hostile = hostileRequest()
      const answer = await post(url, hostile.body, hostile.headers, dispatcher)
      if (answer.startsWith('200') && !hostile.signed) unsignedAccepted++
      record(hostile.kind, answer)
    }
  })

  // Resent copies, two at a time, all through the load.
  const replayAnswers: string[] = []
  const replays = Array.from({ length: 2 }, async () => {
    while (!done) {
      replayAnswers.push(await post(url, replayBody, replayHeaders, keyHolder))
      await sleep(200)
    }
  })

  // Signed routable events of about 800 KB for the sink that takes nothing: they stay queued. The
  // backend estimates a queue's bytes as its events times their recent average size; sizes this
  // close keep that estimate exact, so what is measured here is the bound, not the estimator.
  const largeAnswers: string[] = []
  const largeAccepted: Array<{ id: string, bytes: number }> = []
  const large = (async () => {
    await until(() => total >= LARGE_FROM || done)
    while (!done) {
      const event = sampleEvent({ metric: 'large', data: { padding: 'p'.repeat(780_000 + int(40_000)) } })
      const body = JSON.stringify(event)
      const answer = await post(url, body, signedHeaders(body), keyHolder)
      largeAnswers.push(answer)
      if (answer === '200 accepted') largeAccepted.push({ id: String(event.event_id), bytes: body.length })
      await sleep(100)
    }
  })()

  // The operator saves an alias bomb over routes.yaml, then the right file again.
  const aliasCase = (async () => {
    await until(() => total >= BOMB_AT)
    writeFileSync(configFile, withAliasBomb(yaml))
    await eventually(async () => await reloads(gateway.management, 'failure') === 1 ? true : undefined, 30_000, 'the alias bomb refused')
    const refusedAt = total
    await until(() => total >= refusedAt + RESTORE_AFTER || done)
    writeFileSync(configFile, yaml)
    await eventually(async () => await reloads(gateway.management, 'success') === 1 ? true : undefined, 30_000, 'the restored file reloaded')
  })()

  // What the gateway's keys hold, every two seconds while the load runs.
  const samples: PrefixMemory[] = []
  let peakUsed = 0
  const sampler = (async () => {
    while (!done) {
      samples.push(await prefixMemory(redis, prefix, queues))
      peakUsed = Math.max(peakUsed, await usedMemory(redis))
      await sleep(2000)
    }
  })()

  // RSS after the warm-up, by the half of the load it was read in: the peak of the second half is
  // compared with the first's (single readings swing with every garbage collection).
  const rss: Array<{ half: 1 | 2, kb: number }> = []
  const rssReader = (async () => {
    while (!done) {
      if (total >= WARMUP) rss.push({ half: total < (WARMUP + HOSTILE) / 2 ? 1 : 2, kb: rssKb(pid) })
      await sleep(500)
    }
  })()

  await Promise.all(loops)
  await aliasCase
  done = true
  await Promise.all([...replays, large, sampler, rssReader])
  const slowAnswers = await Promise.all(slow)
  rss.push({ half: 2, kb: rssKb(pid) })
  const rssPeak = (half: 1 | 2): number => Math.max(...rss.filter((reading) => reading.half === half).map((reading) => reading.kb))
  const atEnd = await prefixMemory(redis, prefix, queues)
  const usedAtEnd = await usedMemory(redis)
  samples.push(atEnd)
  const peak = samples.reduce((highest, sample) => sample.queuedBytes > highest.queuedBytes ? sample : highest)

  const hostileAnswers = Object.values(byKind).flat()
  const statuses = tally(hostileAnswers)
  t.comment(`hostile answers: ${JSON.stringify(statuses)}`)
  t.comment(`by kind: ${JSON.stringify(Object.fromEntries(Object.entries(byKind).map(([kind, answers]) => [kind, tally(answers)])))}`)
  t.comment(`replayed copies: ${JSON.stringify(tally(replayAnswers))}; large events: ${JSON.stringify(tally(largeAnswers))}, ${mb(largeAccepted.reduce((sum, event) => sum + event.bytes, 0))} accepted`)
  t.comment(`slow bodies ended with: ${JSON.stringify(slowAnswers)}; RSS peak ${Math.round(rssPeak(1) / 1024)} MB in the first half, ${Math.round(rssPeak(2) / 1024)} MB in the second`)
  const show = (memory: PrefixMemory): string => `${memory.keys} keys, ${mb(memory.bytes)}: queued ${mb(memory.queuedBytes)}, ${memory.marks} marks ${Math.round(memory.markBytes / 1024)} kB, ${memory.completedJobs} completed jobs ${mb(memory.completedBytes)}`
  t.comment(`prefix before: ${show(before)}; at start: ${show(atStart)}; at the queued peak: ${show(peak)}; at the end: ${show(atEnd)}`)
  t.comment(`INFO used_memory (the shared server): before ${mb(before.used)}, peak ${mb(peakUsed)}, at the end ${mb(usedAtEnd)}`)

  t.ok(total >= HOSTILE, `${total} hostile requests sent`)
  t.equal(gateway.child.exitCode, null, 'the gateway is still running')
  t.equal(unsignedAccepted, 0, 'no unsigned request accepted')
  const expected = ['200 accepted', '200 duplicate', '200 quarantined', '400', '401', '408', '413', '431', '503 max_bytes', 'closed']
  const unexpected = Object.keys(statuses).filter((answer) => !expected.includes(answer) && !answer.startsWith('client error'))
  t.same(unexpected, [], 'only expected answers: never a 500, and a 503 only for the byte budget')
  for (const kind of Object.keys(byKind).filter((kind) => !kind.startsWith('signed'))) {
    t.same((byKind[kind] as string[]).filter((answer) => /^(200|503)/.test(answer)), [], `${kind}: unsigned, never stored nor held against the store`)
  }
  t.ok(slowAnswers.every((answer) => answer === '408' || answer === 'closed'), 'slow bodies are cut off by requestTimeout')
  t.ok(rssPeak(2) - rssPeak(1) < 64 * 1024, `RSS peak grew by ${Math.round((rssPeak(2) - rssPeak(1)) / 1024)} MB from the first half of the load to the second`)

  t.same(Object.keys(tally(replayAnswers)).filter((answer) => answer !== '200 duplicate' && answer !== '503 max_bytes'), [], 'every resent copy: duplicate, or 503 while the budget is full; never stored again')
  t.ok(replayAnswers.includes('200 duplicate'), 'resent copies answered duplicate')
  t.ok(largeAnswers.includes('503 max_bytes'), 'signed events past the budget: 503 max_bytes')
  t.same(Object.keys(tally(largeAnswers)).filter((answer) => answer !== '200 accepted' && answer !== '503 max_bytes'), [], 'large events: accepted until the budget is full, 503 max_bytes after')
  t.match(gateway.output(), /config reload refused: .*an alias bomb/, 'the alias bomb refused, and said why')

  // Redis: what the gateway's keys hold for queued events (held, quarantined, waiting) stays within
  // the budget and the allowance. Beside it, the dedupe marks (one per stored event) and the jobs
  // BullMQ keeps after delivery (the last 1000 per queue, for an hour) are shown: the budget bounds
  // neither.
  const growth = peak.queuedBytes - atStart.queuedBytes
  t.ok(growth <= BUDGET + ALLOWANCE, `queued bytes grew by ${mb(growth)}: within the budget (${mb(BUDGET)}) and the allowance (${mb(ALLOWANCE)})`)

  // Once the sink takes events again, every event accepted is delivered, and new events are accepted.
  held.release()
  await eventually(() => largeAccepted.every(({ id }) => held.received.includes(id)) ? true : undefined, 60_000, 'every accepted large event delivered')
  const event = sampleEvent()
  const body = JSON.stringify(event)
  const headers = signedHeaders(body)
  // A 503 leaves no mark: the same request is resent until the backend has seen the backlog drain.
  const answer = await eventually(async () => { const answer = await post(url, body, headers, keyHolder); return answer === '503 max_bytes' ? undefined : answer }, 15_000, 'room in the budget')
  t.equal(answer, '200 accepted', 'a new event is accepted once the backlog drained')
  await eventually(() => readLines(join(dir, 'events')).some((line) => line.event_id === event.event_id) ? true : undefined)
  t.equal(await post(url, replayBody, replayHeaders, keyHolder), '200 duplicate', 'and the captured body is still a duplicate')
})
