/** The README's generated references match the schemas and metrics; its first commands are the two. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { renderConfigReference, renderMetricsReference } from '../../src/docs/reference.js'
import { allSinkDefinitions } from '../../src/registry.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

function block (name: string): string {
  const start = `<!-- ${name}:start -->\n`
  const from = readme.indexOf(start)
  const to = readme.indexOf(`\n<!-- ${name}:end -->`)
  if (from < 0 || to < 0) throw new Error(`README.md has no ${name} block`)
  return readme.slice(from + start.length, to)
}

t.test('the configuration reference is generated from the schemas (npm run docs)', async (t) => {
  t.equal(block('config-reference'), renderConfigReference())
  for (const definition of allSinkDefinitions()) t.match(readme, `#### \`type: ${definition.type}\``, `${definition.type} options documented`)
})

t.test('the metrics list is generated from the metric definitions (npm run docs)', async (t) => {
  t.equal(block('metrics-reference'), renderMetricsReference())
})

t.test('the README starts with the two commands', async (t) => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  t.match(firstBlock, /^npm ci && npm start\b/m)
  t.match(firstBlock, /^npm ci && npm test\b/m)
})
