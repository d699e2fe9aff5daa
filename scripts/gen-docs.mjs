#!/usr/bin/env node
// Rewrites the generated parts of the docs from the built schemas and metric definitions:
// `npm run docs`. test/docs/references.test.ts fails when they drift. (The Helm values reference
// is rewritten by `CIO_UPDATE_DOCS=1 node scripts/test.mjs test/deploy/values.test.ts`.)
import { readFileSync, writeFileSync } from 'node:fs'

const read = (file) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')

const { generatedBlocks } = await import('../dist/src/docs/reference.js')
for (const { file, name, render } of generatedBlocks) {
  const url = new URL(`../${file}`, import.meta.url)
  let text = readFileSync(url, 'utf8')
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from < 0 || to < from) throw new Error(`${file} has no ${start} … ${end} block`)
  text = `${text.slice(0, from + start.length)}\n${render(read)}\n${text.slice(to)}`
  writeFileSync(url, text)
  console.log(`${file}: ${name} regenerated`)
}
