/** The README leads: its first shell block is the two commands. */
import t from 'tap'
import { readFileSync } from 'node:fs'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test('the README starts with the two commands', async (t) => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  t.match(firstBlock, /^npm ci && npm start\b/m)
  t.match(firstBlock, /^npm ci && npm test\b/m)
})
