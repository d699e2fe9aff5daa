/** The generated references in docs/ match the schemas and metric definitions (`npm run docs` rewrites them). */
import t from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { READ_VARIABLES } from '../../src/docs/environment.js'
import { generatedBlocks } from '../../src/docs/reference.js'
import { parseConfig } from '../../src/config/load.js'
import { allSinkDefinitions } from '../../src/registry.js'

const root = new URL('../../', import.meta.url)
const read = (file: string): string => readFileSync(new URL(file, root), 'utf8')

function block (text: string, file: string, name: string): string {
  const start = `<!-- ${name}:start -->\n`
  const from = text.indexOf(start)
  const to = text.indexOf(`\n<!-- ${name}:end -->`)
  if (from < 0 || to < 0) throw new Error(`${file} has no ${name} block`)
  return text.slice(from + start.length, to)
}

for (const { file, name, render } of generatedBlocks) {
  t.test(`${file}: the ${name} block is generated (npm run docs)`, async (t) => {
    t.equal(block(read(file), file, name), render(read))
  })
}

t.test('every sink type has its options in the configuration reference and a page of its own', async (t) => {
  const configuration = read('docs/configuration.md')
  for (const { type } of allSinkDefinitions()) {
    t.match(configuration, `### \`type: ${type}\``, `${type} options in docs/configuration.md`)
    t.ok(existsSync(new URL(`docs/sinks/${type}.md`, root)), `docs/sinks/${type}.md exists`)
  }
})

t.test('the reference marks (required) only what a config cannot leave out: batch keys are optional', async (t) => {
  const config = parseConfig(`
sources: { customerio: { type: customerio, secrets: [k] } }
sinks: { local: { type: file, path: ./data/events, batch: { max_events: 7 } } }
routes: [{ name: all, match: {}, sinks: [local] }]
`, 'routes.yaml', {})
  const batch = config.sinks.get('local')?.batch
  t.same(batch, { maxEvents: 7, maxBytes: 4 * 1024 * 1024, maxWaitMs: 200 }, 'the other two take the file sink defaults')
  const rows = read('docs/configuration.md').split('\n').filter((line) => line.startsWith('| `batch.'))
  t.equal(rows.length, 3)
  for (const row of rows) t.notMatch(row, '(required)', row)
})

t.test('the reference marks (required) only what a config cannot leave out: the keys of server, queue, … are optional', async (t) => {
  const minimal = `
sources: { customerio: { type: customerio, secrets: [k] } }
sinks: { local: { type: file, path: ./data/events } }
routes: [{ name: all, match: {}, sinks: [local] }]
`
  const sections = ['server', 'admin', 'queue', 'quarantine', 'dedupe', 'reporting']
  t.doesNotThrow(() => parseConfig(`${minimal}${sections.map((name) => `${name}: {}`).join('\n')}\n`, 'routes.yaml', {}), 'every section may be empty')
  const rows = read('docs/configuration.md').split('\n')
  const direct = rows.filter((line) => new RegExp(`^\\| \`(${sections.join('|')})\\.[a-z_]+\` `).test(line))
  t.ok(direct.some((row) => row.startsWith('| `queue.replicas_ack`')), 'queue.replicas_ack has its row')
  t.same(direct.filter((row) => row.includes('(required)')), [])

  // Within an optional object, what it cannot leave out is still marked.
  t.throws(() => parseConfig(`${minimal}queue: { redis_sentinel: { nodes: ["redis://127.0.0.1:26379"] } }\n`, 'routes.yaml', {}), /redis_sentinel/)
  t.match(rows.find((row) => row.startsWith('| `queue.redis_sentinel.name`')), /\| \(required\) \|/)
})

t.test('the environment reference names every variable the code reads, and only those', async (t) => {
  const names = new Set<string>()
  for (const dir of ['src', 'plugins']) {
    for (const file of readdirSync(new URL(dir, root), { recursive: true }) as string[]) {
      if (!file.endsWith('.ts')) continue
      for (const [, name] of read(`${dir}/${file}`).matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b/g)) names.add(name as string)
    }
  }
  t.same([...names].sort(), READ_VARIABLES.map((v) => v.name).sort())
})
