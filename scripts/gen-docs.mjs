#!/usr/bin/env node
// Rewrites the generated parts of README.md (configuration and metrics references) from the built
// schemas and metric definitions: `npm run docs`. test/docs/readme.test.ts fails when they drift.
import { readFileSync, writeFileSync } from 'node:fs'

const { renderConfigReference, renderMetricsReference } = await import('../dist/src/docs/reference.js')
const readmeUrl = new URL('../README.md', import.meta.url)
let readme = readFileSync(readmeUrl, 'utf8')
for (const [name, text] of [['config-reference', renderConfigReference()], ['metrics-reference', renderMetricsReference()]]) {
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const from = readme.indexOf(start)
  const to = readme.indexOf(end)
  if (from < 0 || to < from) throw new Error(`README.md has no ${start} … ${end} block`)
  readme = `${readme.slice(0, from + start.length)}\n${text}\n${readme.slice(to)}`
}
writeFileSync(readmeUrl, readme)
console.log('README.md references regenerated')
