/**
 * The Dockerfile, read rather than built (there is no Docker here): Node 24, a build stage that
 * compiles, a runtime stage with production dependencies and the build output only, a non-root
 * user, node as PID 1 in exec form, no HEALTHCHECK; a default config that runs as it is and a data
 * volume the user can write; a build context that holds what the COPYs need and nothing else; and
 * build output that imports no devDependency (it would be missing in the image).
 */
import t from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import { ROOT, find, render } from './helpers/chart.js'
import { ensureBuilt } from './helpers/gateway.js'
import { parseConfig } from '../../src/config/load.js'

interface Instruction { op: string, args: string }
interface Stage { base: string, name: string | undefined, instructions: Instruction[] }

function parseDockerfile (text: string): Stage[] {
  const logical = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const stages: Stage[] = []
  for (const line of logical) {
    const [op = '', ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    if (op.toUpperCase() === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      stages.push({ base: match?.[1] ?? args, name: match?.[2], instructions: [] })
    } else if (stages.length > 0) {
      stages[stages.length - 1]?.instructions.push({ op: op.toUpperCase(), args })
    }
  }
  return stages
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const stages = parseDockerfile(dockerfile)
const runtime = stages[stages.length - 1] as Stage
const ops = (stage: Stage, op: string): string[] => stage.instructions.filter((i) => i.op === op).map((i) => i.args)
const copyFrom = (stage: Stage): Array<{ from: string, source: string, chown: string | undefined }> => ops(stage, 'COPY')
  .map((args) => /^(?:--from=(\S+)\s+)?(?:--chown=(\S+)\s+)?(?:--from=(\S+)\s+)?(\S+)/.exec(args))
  .filter((m): m is RegExpExecArray => m !== null && (m[1] ?? m[3]) !== undefined)
  .map((m) => ({ from: (m[1] ?? m[3]) as string, chown: m[2], source: m[4] as string }))
/** The runtime stage's ENV settings, by name. */
const runtimeEnv = (): Record<string, string> => Object.fromEntries(ops(runtime, 'ENV').join(' ').split(/\s+/)
  .map((pair) => pair.split('=')).filter((pair) => pair.length === 2) as Array<[string, string]>)

t.test('every stage runs Node 24 (LTS), the runtime the image recommends (SPEC §14)', async (t) => {
  const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)
  t.equal(arg?.[1], 'node:24-bookworm-slim')
  t.same(stages.map((stage) => stage.base), stages.map(() => '${NODE_IMAGE}'))
})

t.test('multi-stage: a build stage compiles with npm ci and npm run build', async (t) => {
  t.ok(stages.length >= 2, 'at least two stages')
  const build = stages.find((s) => s.name === 'build')
  t.ok(build, 'a stage named build')
  const runs = ops(build as Stage, 'RUN').join('\n')
  t.match(runs, /npm ci\b/)
  t.match(runs, /npm run build/)
})

t.test('the runtime stage holds production dependencies and the build output only', async (t) => {
  const copies = copyFrom(runtime)
  t.same(copies.map((c) => c.source).sort(), ['/app/dist', '/app/node_modules', '/data'])
  const dist = copies.find((c) => c.source === '/app/dist')
  t.equal(dist?.from, 'build')
  const deps = stages.find((s) => s.name === copies.find((c) => c.source === '/app/node_modules')?.from)
  t.ok(deps, 'node_modules come from an earlier stage')
  t.match(ops(deps as Stage, 'RUN').join('\n'), /npm ci --omit=dev/, 'which installs production dependencies only')
  t.same(ops(runtime, 'RUN'), [], 'the runtime stage runs nothing (no compilers, no npm install)')
  const plainCopies = ops(runtime, 'COPY').filter((args) => !args.includes('--from'))
  t.same(plainCopies.sort(), ['bin ./bin', 'package.json ./', 'routes.yaml /etc/cio-gateway/routes.yaml'],
    'plus the entry script, package.json ("type": "module") and the default config')
})

t.test('docker run with only the signing key works: the default config at CIO_GATEWAY_CONFIG, writing into a volume the user owns', async (t) => {
  const env = runtimeEnv()
  t.equal(env.CIO_GATEWAY_CONFIG, '/etc/cio-gateway/routes.yaml')
  t.ok(ops(runtime, 'COPY').includes(`routes.yaml ${env.CIO_GATEWAY_CONFIG ?? ''}`), 'the default routes.yaml is where CIO_GATEWAY_CONFIG points')
  const routes = readFileSync(join(ROOT, 'routes.yaml'), 'utf8')
  // The image listens on every interface, where the public development key is refused (SPEC §4).
  t.throws(() => parseConfig(routes, 'routes.yaml', env), /public development key/, 'without CIO_WEBHOOK_SECRET the image refuses to start')
  const config = parseConfig(routes, 'routes.yaml', { ...env, CIO_WEBHOOK_SECRET: 'the-signing-key' })
  const fileSinks = [...config.sinks.values()].filter((sink) => sink.type === 'file').map((sink) => (sink.options as { path: string }).path)
  t.same(fileSinks, ['/data/events'], "with the image's environment the default config writes under /data")
  t.same(ops(runtime, 'VOLUME'), ['["/data"]'])
  const user = ops(runtime, 'USER')[0]
  const data = copyFrom(runtime).find((c) => c.source === '/data')
  t.equal(data?.chown, user, '/data belongs to the user the process runs as')
  const build = stages.find((s) => s.name === data?.from) as Stage
  t.match(ops(build, 'RUN').join('\n'), /mkdir -p \/data\/events/, 'and holds the events directory from the start')
})

t.test('it runs as a non-root user, node as PID 1 in exec form, without HEALTHCHECK', async (t) => {
  const user = ops(runtime, 'USER')
  t.equal(user.length, 1)
  t.match(user[0], /^[1-9]\d*(:\d+)?$/, 'a numeric, non-zero uid (runAsNonRoot can verify it)')
  const entrypoint = JSON.parse(ops(runtime, 'ENTRYPOINT')[0] ?? 'null') as string[]
  t.same(entrypoint, ['node', 'bin/cio-gateway.js'], 'exec form: no shell between the runtime and its signals')
  t.same(JSON.parse(ops(runtime, 'CMD')[0] ?? 'null'), ['serve'])
  t.notMatch(dockerfile, /^\s*HEALTHCHECK/m)
  t.same(ops(runtime, 'STOPSIGNAL'), ['SIGTERM'])
})

t.test('the image and the chart agree on port and user', async (t) => {
  t.same(ops(runtime, 'EXPOSE'), ['8080'])
  t.match(ops(runtime, 'ENV').join(' '), /PORT=8080/)
  const deployment = find(render(), 'Deployment', 'cio-cio-gateway-ingest')
  const pod = (deployment.spec as { template: { spec: { securityContext: { runAsUser: number }, containers: Array<{ ports: Array<{ containerPort: number }> }> } } }).template.spec
  t.equal(pod.containers[0]?.ports[0]?.containerPort, 8080)
  t.equal(String(pod.securityContext.runAsUser), ops(runtime, 'USER')[0]?.split(':')[0])
})

t.test('the build context holds what the COPYs need, and .dockerignore keeps the rest out', async (t) => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  for (const entry of ['.git', 'node_modules', 'dist', 'data', 'test', 'helm']) t.ok(ignored.includes(entry), `.dockerignore excludes ${entry}`)
  const isIgnored = (path: string): boolean => ignored.some((pattern) =>
    pattern.startsWith('*') ? path.endsWith(pattern.slice(1)) : path === pattern || path.startsWith(`${pattern}/`))
  for (const stage of stages) {
    for (const args of ops(stage, 'COPY').filter((a) => !a.includes('--from'))) {
      const sources = args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1)
      for (const source of sources) {
        t.ok(existsSync(join(ROOT, source)), `${source} exists`)
        t.notOk(isIgnored(source), `${source} is in the build context`)
      }
    }
  }
})

t.test('the build output imports only Node built-ins and production dependencies', async (t) => {
  await ensureBuilt()
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules])
  const packageOf = (specifier: string): string => specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0] as string
  const files: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name))
      else if (entry.name.endsWith('.js')) files.push(join(dir, entry.name))
    }
  }
  // What the image holds: the output of tsconfig.build.json's sources (dist/ may hold more, e.g.
  // from an editor's `tsc -p tsconfig.json`), and bin/.
  const buildConfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }
  for (const dir of buildConfig.include) walk(join(ROOT, 'dist', dir))
  walk(join(ROOT, 'bin'))
  t.ok(files.length > 10)
  const offenders: string[] = []
  for (const file of files) {
    const source = readFileSync(file, 'utf8')
    // Import and export statements (they start a line in tsc's output) and dynamic imports; the word
    // "from" inside a string (a template of the console, say) is no import.
    for (const match of source.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const specifier = (match[1] ?? match[2] ?? match[3] as string).replace(/^node:/, '')
      if (specifier.startsWith('.') || specifier.startsWith('/')) continue
      if (!allowed.has(packageOf(specifier))) offenders.push(`${relative(ROOT, file)}: ${specifier}`)
    }
  }
  t.same(offenders, [], 'imports of packages missing from "dependencies"')
})
