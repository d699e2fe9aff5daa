/**
 * A machine without the Debian tools fails the deployment tests with the package to install,
 * rather than skipping them.
 */
import t from 'tap'
import { requireTool } from './helpers/tools.js'

t.test('a missing tool is an error naming its Debian package', async (t) => {
  const path = process.env.PATH
  t.teardown(() => { process.env.PATH = path })
  process.env.PATH = '/nonexistent'
  t.throws(() => requireTool('promtool'), /'promtool' is not on PATH: install the Debian package prometheus/)
  t.throws(() => requireTool('prometheus'), /install the Debian package prometheus/)
  t.throws(() => requireTool('go'), /install the Debian package golang-go/)
})

t.test('the tools this machine needs are there', async (t) => {
  for (const tool of ['go', 'promtool', 'prometheus']) t.match(requireTool(tool), new RegExp(`/${tool}$`))
})
