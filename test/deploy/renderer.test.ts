/**
 * The fallback renderer (helm/renderer) against a small chart that uses each helm feature the real
 * chart relies on. The expectations are what `helm template` prints for the same chart, quirks
 * included (numbers from values files are float64, so 1000000 prints as 1e+06).
 */
import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildRenderer, ROOT } from './helpers/chart.js'
import { run } from './helpers/tools.js'

const FIXTURES = join(ROOT, 'test', 'deploy', 'fixtures')
const CHART = join(FIXTURES, 'renderer-chart')

function renderFixture (t: Test, values: string[] = [], extraYaml?: string): { status: number, stdout: string, stderr: string } {
  const files = [...values]
  if (extraYaml !== undefined) {
    const file = join(t.testdir(), 'extra-values.yaml')
    writeFileSync(file, extraYaml)
    files.push(file)
  }
  return run(buildRenderer(), ['--name', 'rel', '--namespace', 'ns', ...files.flatMap((f) => ['-f', f]), CHART])
}

t.test('renders like helm template: built-in objects, include, tpl, toYaml, fromYaml, Files, sha256sum, lookup', async (t) => {
  const result = renderFixture(t, [join(FIXTURES, 'renderer-override.yaml')])
  t.equal(result.status, 0, result.stderr)
  t.equal(result.stdout, `---
# Source: probe/templates/values.yaml
kind: Probe
name: probe-rel
chart: probe/1.2.3/4.5/v2
release: rel/ns/Helm/true
template: probe/templates/values.yaml in probe/templates
kube: 1 true false
replicas: 5
big: 1e+06
typeOfReplicas: float64
missing: ""
tpl: rel-hello
nested:
  keep: kept
  list:
  - c
hasDrop: false
fromYaml: 3
badYaml: true
json: ["c"]
file: "line one\\nline two"
lines: 2
sha: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
required: present
lookup: 0
`)
})

t.test('without a values file the chart defaults apply', async (t) => {
  const result = renderFixture(t)
  t.equal(result.status, 0, result.stderr)
  t.match(result.stdout, /^replicas: 2$/m)
  t.match(result.stdout, /^hasDrop: true$/m)
  t.match(result.stdout, /^ {2}- b$/m)
})

t.test('fail stops the render with its message and exit code 1', async (t) => {
  const result = renderFixture(t, [], 'failWith: "stop here: this is why"\n')
  t.equal(result.status, 1)
  t.equal(result.stdout, '')
  t.match(result.stderr, /^Error: execution error: .*probe\/templates\/fail\.yaml.*stop here: this is why$/m)
})

t.test('required refuses an empty string and a missing value', async (t) => {
  for (const yaml of ['mustHave: ""\n', 'mustHave: null\n']) {
    const result = renderFixture(t, [], yaml)
    t.equal(result.status, 1, yaml)
    t.match(result.stderr, /mustHave is required/, yaml)
  }
})

t.test('runaway include recursion is an error, not a crash', async (t) => {
  const result = renderFixture(t, [], 'recurse: true\n')
  t.equal(result.status, 1)
  t.match(result.stderr, /rendering template has a nested reference name: probe\.recurse/)
})

t.test('a template error in NOTES.txt fails the render too, though NOTES.txt is never printed', async (t) => {
  const quiet = renderFixture(t)
  t.equal(quiet.status, 0, quiet.stderr)
  t.notMatch(quiet.stdout, /Installed/)
  t.notMatch(quiet.stdout, /NOTES/)
  const broken = renderFixture(t, [], 'notesFail: true\n')
  t.equal(broken.status, 1)
  t.match(broken.stderr, /NOTES\.txt broke/)
})

t.test('usage errors exit 2', async (t) => {
  const result = run(buildRenderer(), [])
  t.equal(result.status, 2)
  t.match(result.stderr, /usage: renderer/)
})
