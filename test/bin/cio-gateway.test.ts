/**
 * bin/cio-gateway.js, the entry `npm start` and the image run, in a scratch copy of the project
 * layout (so the real dist/ is never rebuilt under other tests): it compiles when dist/ is missing
 * or older than the sources, and starts `serve` with its role's V8 heap settings where the runtime
 * can re-exec itself (process.execve: Node 22.15+, 24) unless NODE_OPTIONS sizes the heap.
 * TypeScript is a stand-in that writes a dist/src/cli.js reporting how it was started.
 */
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cleanEnv } from '../helpers/process.js'
import { tempDir } from '../helpers/app.js'

/** The cli.js the stand-in compiler writes: prints its pid, node's options and its arguments. */
const CLI = `export async function main (argv) {
  process.stdout.write(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, argv }) + '\\n')
  return 0
}
`
const TSC = `const { mkdirSync, writeFileSync } = require('node:fs')
mkdirSync('dist/src', { recursive: true })
writeFileSync('dist/src/cli.js', ${JSON.stringify(CLI)})
`

function project (t: Test): string {
  const root = tempDir(t, 'cio-gw-bin')
  mkdirSync(join(root, 'bin'))
  copyFileSync(BIN, join(root, 'bin', 'cio-gateway.js'))
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }')
  writeFileSync(join(root, 'tsconfig.build.json'), '{}')
  mkdirSync(join(root, 'src'))
  writeFileSync(join(root, 'src', 'cli.ts'), '')
  mkdirSync(join(root, 'node_modules', 'typescript', 'bin'), { recursive: true })
  // CommonJS, as the real package is.
  writeFileSync(join(root, 'node_modules', 'typescript', 'package.json'), '{ "type": "commonjs" }')
  writeFileSync(join(root, 'node_modules', 'typescript', 'bin', 'tsc'), TSC)
  return root
}

interface Started { code: number | null, pid: number, stderr: string, cli: { pid: number, execArgv: string[], argv: string[] } | undefined }

function start (root: string, args: string[], env: Record<string, string> = {}): Started {
  const result = spawnSync(process.execPath, [join(root, 'bin', 'cio-gateway.js'), ...args], { cwd: root, env: cleanEnv(env), encoding: 'utf8' })
  const line = result.stdout.split('\n').find((text) => text.startsWith('{'))
  return { code: result.status, pid: result.pid, stderr: result.stderr, cli: line === undefined ? undefined : JSON.parse(line) as Started['cli'] }
}

const setMtime = (path: string, seconds: number): void => { utimesSync(path, seconds, seconds) }

t.test('it builds when dist/ is missing, when a source is newer than dist/, and not otherwise', async (t) => {
  const root = project(t)
  const first = start(root, ['check-config'])
  t.equal(first.code, 0)
  t.equal(first.stderr, 'cio-gateway: building (dist/ is missing)…\n')
  t.same(first.cli?.argv, ['check-config'])

  t.equal(start(root, ['check-config']).stderr, '', 'dist/ is up to date: no build')

  // A `git pull` that changed a source: its mtime is now, dist/ is older.
  const now = Date.now() / 1000
  setMtime(join(root, 'dist', 'src', 'cli.js'), now - 60)
  setMtime(join(root, 'src', 'cli.ts'), now)
  t.equal(start(root, ['check-config']).stderr, 'cio-gateway: building (the sources are newer than dist/)…\n')
  t.equal(start(root, ['check-config']).stderr, '', 'and once rebuilt, no more')
})

t.test('without sources (the image, the npm package) dist/ is used as it is', async (t) => {
  const root = project(t)
  start(root, ['check-config'])
  setMtime(join(root, 'dist', 'src', 'cli.js'), Date.now() / 1000 - 60)
  rmSync(join(root, 'src'), { recursive: true })
  rmSync(join(root, 'tsconfig.build.json'))
  const run = start(root, ['check-config'])
  t.same([run.code, run.stderr], [0, ''])
})

t.test("serve gets its role's heap settings where node can re-exec itself, in the same process", async (t) => {
  const root = project(t)
  start(root, ['check-config'])
  const canExec = typeof (process as { execve?: unknown }).execve === 'function'
  const worker = ['--max-semi-space-size=16', '--max-old-space-size=160']
  const others = ['--max-semi-space-size=16', '--max-old-space-size=256']
  const cases: Array<[string[], Record<string, string>, string[]]> = [
    [['serve', '--role', 'worker'], {}, worker],
    [[], { CIO_GATEWAY_ROLE: 'worker' }, worker],
    [['--role=ingest'], {}, others],
    [['serve'], {}, others]
  ]
  for (const [args, env, heap] of cases) {
    const run = start(root, args, env)
    t.same(run.cli?.execArgv, canExec ? heap : [], `${args.join(' ') || '(no arguments)'} ${JSON.stringify(env)} on ${process.version}`)
    t.same(run.cli?.argv, args, 'with its arguments unchanged')
    t.equal(run.cli?.pid, run.pid, 'in the process that was started (PID 1 stays node in the image)')
  }
  t.same(start(root, ['serve'], { NODE_OPTIONS: '--max-old-space-size=512' }).cli?.execArgv, [], 'NODE_OPTIONS sized the heap: nothing added')
  t.same(start(root, ['check-config']).cli?.execArgv, [], 'only serve')
})
