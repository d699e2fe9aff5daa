/**
 * docs/getting-started.md works as written: its shell blocks run in order, one step (## section)
 * after another, in a copy of the checkout's top level (package.json, routes.yaml, bin/ and
 * node_modules/), so `npm start` and the file sink's ./data/events behave as in a fresh clone.
 *
 * What the page's `<!-- docs-test: … -->` comments mean here:
 * - `background`: the block starts a gateway (a terminal of its own for a reader); it runs until
 *   the step ends, and the next block waits for its listening banner.
 * - `eventually`: the block shows a result that arrives a moment later; it is run again until it
 *   succeeds, for up to 30 s.
 * - `skip (reason)`: the block needs what this machine has not (Docker, a cluster) and is not run.
 * A ```text block right after a shell block is its output: each line must appear in what the block
 * printed, `…` standing for any text.
 *
 * The page is written for a reader's machine; the test keeps the shared one safe by rewriting
 * ports 8080, 8081 and 8082 (webhooks, management, a second management listener) to free ones, the Redis URL to the tests' Redis, and by giving the gateways a
 * key prefix of their own (CIO_GATEWAY_PREFIX, which the default routes.yaml reads), deleted after.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { codeBlocksOf, type CodeBlock } from './helpers/markdown.js'
import { freePort } from '../helpers/private-redis.js'
import { cleanEnv, ROOT, startGateway, type Running } from '../helpers/process.js'
import { deleteKeys, REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const run = promisify(execFile)
const PAGE = 'docs/getting-started.md'
const DOCUMENTED_REDIS = 'redis://127.0.0.1:6379'
const EVENTUALLY_MS = 30_000

const blocks = codeBlocksOf(PAGE).filter((block) => block.lang === 'sh')

t.test('every marker of the page is one this test knows', async (t) => {
  const unknown = blocks.map((b) => b.marker).filter((m) => m !== undefined && !/^(background|eventually|skip \(.+\))$/.test(m))
  t.same(unknown, [])
  t.ok(blocks.some((b) => b.marker === 'background'), 'the page starts gateways')
})

/** The output a block shows, as patterns: every line must appear, `…` matching any text. */
function expectedLines (output: string): RegExp[] {
  return output.split('\n').filter((line) => line.trim() !== '').map((line) =>
    new RegExp(line.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')))
}

async function runBlock (block: CodeBlock, text: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await run('bash', ['-e', '-o', 'pipefail', '-c', text], { cwd, env, timeout: 60_000 })
    const missing = expectedLines(block.output ?? '').filter((line) => !line.test(stdout))
    return missing.length === 0 ? undefined : `printed:\n${stdout}\nwithout ${missing.join(', ')}`
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number, stdout?: string, stderr?: string }
    return `exit ${String(code)}:\n${stdout ?? ''}${stderr ?? ''}`
  }
}

function firstLine (text: string): string {
  const [first = '', ...rest] = text.split('\n')
  return rest.length === 0 ? first : `${first} …`
}

async function stop (gateway: Running): Promise<void> {
  gateway.signal('SIGTERM')
  const timer = setTimeout(() => gateway.signal('SIGKILL'), 30_000)
  await gateway.exited
  clearTimeout(timer)
}

t.test('the shell blocks of getting started run in order on this machine', async (t) => {
  const dir = t.testdir()
  for (const file of ['package.json', 'routes.yaml']) copyFileSync(join(ROOT, file), join(dir, file))
  for (const link of ['bin', 'node_modules']) symlinkSync(join(ROOT, link), join(dir, link))
  const prefix = uniquePrefix('getting-started')
  t.teardown(async () => { await deleteKeys(prefix) })
  const ports = new Map([['8080', String(await freePort())], ['8081', String(await freePort())], ['8082', String(await freePort())]])
  const env = cleanEnv({ PORT: ports.get('8080') as string, HOST: '127.0.0.1', MANAGEMENT_PORT: ports.get('8081') as string, CIO_GATEWAY_PREFIX: prefix })
  const adapt = (text: string): string => text
    .replace(/\b808[012]\b/g, (port) => ports.get(port) as string)
    .replaceAll(DOCUMENTED_REDIS, REDIS_URL)

  const steps = [...new Set(blocks.map((b) => b.section))]
  for (const step of steps) {
    const runnable = blocks.filter((b) => b.section === step && b.marker?.startsWith('skip') !== true)
    if (runnable.length === 0) continue
    await t.test(step === '' ? 'before the first step' : step, async (t) => {
      const gateways: Running[] = []
      t.teardown(async () => { await Promise.all(gateways.map(stop)) })
      for (const block of runnable) {
        const text = adapt(block.text)
        if (block.marker === 'background') {
          gateways.push(await startGateway('bash', ['-c', text], env, 60_000, dir))
          t.pass(`started: ${firstLine(block.text)}`)
          continue
        }
        let problem = await runBlock(block, text, dir, env)
        const deadline = Date.now() + EVENTUALLY_MS
        while (problem !== undefined && block.marker === 'eventually' && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 250))
          problem = await runBlock(block, text, dir, env)
        }
        t.equal(problem, undefined, firstLine(block.text))
      }
    })
  }
})
