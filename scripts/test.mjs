#!/usr/bin/env node
// `npm test`: finds Redis (REDIS_URL, else 127.0.0.1:6379), starts a private redis-server for the
// run when none answers and one is installed, builds the CLI the child-process tests run, runs
// the tap suite, and ends with a plain "N passed, N failed" line (counting test cases).
import { spawn, spawnSync } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname

function ping (url) {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname || '127.0.0.1', port: Number(port || 6379) })
    const done = (ok) => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')))
  })
}

function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)) })
  })
}

function hasCommand (name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0
}

async function findRedis () {
  const wanted = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
  if (await ping(wanted)) return { url: wanted, stop: () => {} }
  if (!hasCommand('redis-server')) {
    console.error(`No Redis answers at ${wanted}, and redis-server is not installed.\n` +
      'Install the Debian/Ubuntu package "redis-server" (apt-get install redis-server), or set REDIS_URL to a running Redis.')
    process.exit(1)
  }
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'cio-gw-redis-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; i < 100 && !(await ping(url)); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  if (!(await ping(url))) { console.error(`redis-server did not start on port ${port}`); process.exit(1) }
  console.log(`# no Redis at ${wanted}: started a private redis-server at ${url} for this run`)
  return { url, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) } }
}

const redis = await findRedis()
const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) { redis.stop(); console.log('0 passed, 1 failed'); process.exit(1) }

const given = process.argv.slice(2)
// With no test files named, the whole suite runs in two phases: everything but the Redis topology
// tests two files at a time, then those alone (test/redis/: real clusters and sentinels failing
// over, whose timings a second test file on the same two cores would stretch).
const TOPOLOGY_TESTS = 'test/redis/*.test.ts'
const phases = given.some((arg) => !arg.startsWith('-'))
  ? [given]
  : [[...given, `--exclude=${TOPOLOGY_TESTS}`], [...given, '--jobs=1', TOPOLOGY_TESTS]]

let passed = 0
let failed = 0
let skipped = 0
let exitCode = 0
for (const phase of phases) {
  const result = await runTap(['--reporter=tap', ...phase])
  passed += result.passed
  failed += result.failed
  skipped += result.skipped
  if (result.code !== 0) exitCode = result.code ?? 1
}
redis.stop()
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
process.exit(exitCode)

/** One tap run, its output passed through, its test cases counted. */
async function runTap (args) {
  const tap = spawn(process.execPath, [join(root, 'node_modules/tap/dist/esm/run.mjs'), ...args], {
    cwd: root, env: { ...process.env, REDIS_URL: redis.url }, stdio: ['ignore', 'pipe', 'inherit']
  })
  let passed = 0
  let failed = 0
  let skipped = 0
  let failedFiles = 0
  let buffer = ''
  const count = (line) => {
    // Test cases are the subtests one level down from each file; deeper lines are assertions.
    if (/^ {4}ok \d+/.test(line)) { if (/# (SKIP|TODO)/.test(line)) skipped++; else passed++ }
    else if (/^ {4}not ok \d+/.test(line)) failed++
    else if (/^not ok \d+/.test(line)) failedFiles++
  }
  tap.stdout.on('data', (chunk) => {
    process.stdout.write(chunk)
    buffer += chunk.toString()
    const lines = buffer.split('\n')
    buffer = lines.pop() ?? ''
    lines.forEach(count)
  })
  const code = await new Promise((resolve) => tap.on('exit', resolve))
  count(buffer)
  // A file that failed without a failing test case (a crash, a timeout) still counts as a failure.
  if (failed === 0 && failedFiles > 0) failed = failedFiles
  if (failed === 0 && code !== 0) failed = 1
  return { passed, failed, skipped, code }
}
