/**
 * Whatever the YAML parser refuses is a config error (SPEC §4), with a position where the parser
 * gives one: syntax, duplicate keys, aliases that point nowhere, alias bombs, nesting too deep.
 * Never another kind of exception: a reload must be able to refuse any file and keep running
 * (test/server/reload.test.ts).
 */
import t from 'tap'
import { parseConfig, ConfigError } from '../../src/config/load.js'
import { withAliasBomb } from '../helpers/alias-bomb.js'

const VALID = `sources:
  customerio: { type: customerio, secrets: [k] }
sinks:
  local: { type: file, path: ./data }
routes:
  - { name: everything, match: {}, sinks: [local] }
`

function refusal (yaml: string): unknown {
  try {
    parseConfig(yaml, 'routes.yaml', {})
  } catch (error) {
    return error
  }
  return undefined
}

function problemsOf (yaml: string): string[] {
  const error = refusal(yaml)
  if (error instanceof ConfigError) return error.message.split('\n')
  throw new Error(`expected a ConfigError, got ${String(error)}`)
}

t.test('an alias bomb is a config error, not a ReferenceError', async (t) => {
  t.type(refusal(withAliasBomb(VALID)), ConfigError)
  t.same(problemsOf(withAliasBomb(VALID)), ['routes.yaml:1:1: the YAML parser refuses the file: its aliases expand to far more data than the file holds (an alias bomb)'])
})

t.test('an alias without its anchor is a config error at the alias', async (t) => {
  t.same(problemsOf(VALID.replace('path: ./data', 'path: *data_dir')), ['routes.yaml:4:30: alias *data_dir refers to no anchor &data_dir before it'])
})

t.test('YAML nested too deep is a config error', async (t) => {
  const problems = problemsOf(`${VALID}x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`)
  t.match(problems[0], /^routes\.yaml:7:\d+: the YAML nests too deep to be read$/)
})

t.test('twenty syntax errors are listed, then how many more', async (t) => {
  const broken = Array.from({ length: 30 }, (_, index) => `k${index}: "\\q"`).join('\n')
  const problems = problemsOf(`${VALID}${broken}\n`)
  t.equal(problems.length, 21)
  t.equal(problems[19], 'routes.yaml:26:7: invalid escape sequence in a double-quoted string (single quotes take backslashes as they are)')
  t.equal(problems[20], 'routes.yaml:27:7: and 10 more YAML syntax errors from here on')
})

t.test('syntax errors and duplicate keys carry their place', async (t) => {
  t.match(problemsOf('sources: [\n'), [/^routes\.yaml:\d+:\d+: /])
  t.same(problemsOf(VALID + 'sinks: {}\n'), ['routes.yaml:7:1: Map keys must be unique'])
})

t.test('a syntax error does not quote the text around it', async (t) => {
  t.same(problemsOf(VALID.replace('secrets: [k]', 'secrets: ["s3cr\\qet"]')), [
    'routes.yaml:2:50: invalid escape sequence in a double-quoted string (single quotes take backslashes as they are)'
  ])
})
