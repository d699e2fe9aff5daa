#!/usr/bin/env node
// Entry of the `cio-gateway` command. Builds the TypeScript sources first when the build output is
// missing or older than the sources (a fresh clone, a `git pull`), so `npm start` never runs stale
// code; and starts `serve` with its role's V8 heap settings unless NODE_OPTIONS or the command line
// set any (docs/performance.md: why, and what they cost).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(root, 'dist', 'src', 'cli.js')
const args = process.argv.slice(2)

/**
 * V8 heap settings by role, measured with `npm run bench` on Node 24 (docs/performance.md). Node 24
 * keeps the heap pages it freed, so a process stays as large as its heap ever was; a young
 * generation of 64 MB semi-spaces (Node 24's default) and an old generation sized to the allocation
 * rate put a worker at 590 MB and ingest at 300 MB where their live data is under 60 MB.
 */
const HEAP_SETTINGS = {
  all: ['--max-semi-space-size=16', '--max-old-space-size=256'],
  ingest: ['--max-semi-space-size=16', '--max-old-space-size=256'],
  // A worker holds at most batch.max_events × concurrency events (under 60 MB in the benchmark).
  worker: ['--max-semi-space-size=16', '--max-old-space-size=160']
}
/** Any of these in NODE_OPTIONS or on node's command line means the operator sized the heap. */
const HEAP_FLAG = /--max-(old|semi)-space-size|--max-heap-size|--max-young-generation-size/

/** The newest modification time under the sources that tsconfig.build.json compiles; 0 without sources (an image, a package). */
function newestSource () {
  let newest = 0
  const visit = (path) => {
    const stat = statSync(path, { throwIfNoEntry: false })
    if (stat === undefined) return
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
    else if (stat.mtimeMs > newest) newest = stat.mtimeMs
  }
  for (const path of ['src', 'plugins', 'tsconfig.json', 'tsconfig.build.json']) visit(join(root, path))
  return newest
}

function build (reason) {
  if ('Deno' in globalThis) {
    // `deno task start` builds a missing dist/; running tsc from here would need --allow-run.
    process.stderr.write(`cio-gateway: ${reason}: run \`deno task build\` to compile them\n`)
    return
  }
  process.stderr.write(`cio-gateway: building (${reason})…\n`)
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
}

/** The role `serve` will run, read as src/cli.ts reads it: --role, else $CIO_GATEWAY_ROLE, else all. */
function serveRole () {
  const command = args[0] !== undefined && !args[0].startsWith('-') ? args[0] : 'serve'
  if (command !== 'serve') return undefined
  const index = args.findIndex((arg) => arg === '--role' || arg.startsWith('--role='))
  const flag = index < 0 ? undefined : args[index].startsWith('--role=') ? args[index].slice('--role='.length) : args[index + 1]
  return flag || process.env.CIO_GATEWAY_ROLE || 'all'
}

if (!existsSync(entry)) build('dist/ is missing')
else if (newestSource() > statSync(entry).mtimeMs) build('the sources are newer than dist/')

const heap = HEAP_SETTINGS[serveRole()]
// process.execve (Node 22.15+, 24) replaces this process, same pid: node stays PID 1 in the image.
// Elsewhere (Node 20, Deno) the process runs with V8's defaults, as before.
if (heap !== undefined && typeof process.execve === 'function' && !HEAP_FLAG.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`)) {
  process.execve(process.execPath, [process.execPath, ...heap, ...process.execArgv, fileURLToPath(import.meta.url), ...args], process.env)
}

const { main } = await import(pathToFileURL(entry).href)
const code = await main(args)
if (code >= 0) process.exitCode = code
