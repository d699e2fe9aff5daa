/**
 * Renders the chart like `helm template`: with helm when it is on PATH, else with the fallback
 * renderer in helm/renderer (Go's text/template + sprig, built in GOPATH mode against Debian's
 * golang-github-masterminds-sprig-dev, cached in helm/renderer/.build). CIO_CHART_RENDERER=fallback
 * forces the fallback even where helm exists.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { findOnPath, requireTool, run } from './tools.js'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const CHART_DIR = join(ROOT, 'helm', 'cio-gateway')
export const CI_VALUES_DIR = join(ROOT, 'helm', 'ci')
const RENDERER_DIR = join(ROOT, 'helm', 'renderer')
const BUILD_DIR = join(RENDERER_DIR, '.build')
const RENDERER_BIN = join(BUILD_DIR, 'renderer')
/** Where Debian puts Go libraries (sprig and its dependencies, yaml.v2). */
const DEBIAN_GOPATH = '/usr/share/gocode'

export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

export interface RenderOptions {
  valuesFiles?: string[]
  releaseName?: string
  namespace?: string
  chartDir?: string
}

export type RenderResult = { ok: true, manifests: Manifest[], text: string, engine: string } | { ok: false, error: string, engine: string }

export function rendererEngine (): 'helm' | 'fallback' {
  if (process.env.CIO_CHART_RENDERER === 'fallback') return 'fallback'
  return findOnPath('helm') !== undefined ? 'helm' : 'fallback'
}

/** Builds the fallback renderer unless a build newer than its sources exists. */
export function buildRenderer (): string {
  const sources = readdirSync(RENDERER_DIR).filter((f) => f.endsWith('.go')).map((f) => join(RENDERER_DIR, f))
  const newestSource = Math.max(...sources.map((f) => statSync(f).mtimeMs))
  if (existsSync(RENDERER_BIN) && statSync(RENDERER_BIN).mtimeMs >= newestSource) return RENDERER_BIN
  const go = requireTool('go')
  if (!existsSync(join(DEBIAN_GOPATH, 'src', 'github.com', 'Masterminds', 'sprig'))) {
    throw new Error(`sprig is not in ${DEBIAN_GOPATH}: install the Debian package golang-github-masterminds-sprig-dev (or run scripts/ci-apt.sh)`)
  }
  mkdirSync(BUILD_DIR, { recursive: true })
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off', // GOPATH mode: Debian's packaged sources, no module downloads
    GOPATH: DEBIAN_GOPATH,
    GOCACHE: join(BUILD_DIR, 'cache'),
    GOFLAGS: '',
    GOTOOLCHAIN: 'local'
  }
  // Test files run in parallel and may all build at once: each writes its own file, then renames
  // it into place (atomic), so nobody runs a half-written binary.
  const output = `${RENDERER_BIN}.${process.pid}`
  const built = run(go, ['build', '-o', output, '.'], { cwd: RENDERER_DIR, env, timeoutMs: 300_000 })
  if (built.status !== 0) throw new Error(`building helm/renderer failed:\n${built.stderr}`)
  renameSync(output, RENDERER_BIN)
  return RENDERER_BIN
}

export function renderChart (options: RenderOptions = {}): RenderResult {
  const chartDir = options.chartDir ?? CHART_DIR
  const releaseName = options.releaseName ?? 'cio'
  const namespace = options.namespace ?? 'cio'
  const valueArgs = (options.valuesFiles ?? []).flatMap((f) => ['-f', f])
  const engine = rendererEngine()
  const result = engine === 'helm'
    ? run(requireTool('helm'), ['template', releaseName, chartDir, '--namespace', namespace, ...valueArgs])
    : run(buildRenderer(), ['--name', releaseName, '--namespace', namespace, ...valueArgs, chartDir])
  if (result.status !== 0) return { ok: false, error: result.stderr, engine }
  return { ok: true, manifests: parseManifests(result.stdout), text: result.stdout, engine }
}

/** renderChart that must succeed. */
export function render (options: RenderOptions = {}): Manifest[] {
  const result = renderChart(options)
  if (!result.ok) throw new Error(`rendering with ${result.engine} failed:\n${result.error}`)
  return result.manifests
}

export function parseManifests (text: string): Manifest[] {
  const manifests: Manifest[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`)
    const value = doc.toJS() as Manifest | null
    if (value !== null && value !== undefined) manifests.push(value)
  }
  return manifests
}

export function find (manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name !== undefined ? ` named ${name}` : ''}, found ${found.length}`)
  return found[0] as Manifest
}

export function ciValuesFiles (): string[] {
  return readdirSync(CI_VALUES_DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(CI_VALUES_DIR, f))
}

const testDirs = new WeakMap<Test, string>()

/** A values file holding `yaml`, in the test's own directory (gone after the test). */
export function valuesFile (t: Test, yaml: string): string {
  // t.testdir() empties the directory on every call: make it once per test.
  const dir = testDirs.get(t) ?? t.testdir()
  testDirs.set(t, dir)
  const file = join(dir, `values-${createHash('sha1').update(yaml).digest('hex').slice(0, 8)}.yaml`)
  writeFileSync(file, yaml)
  return file
}

/** The values a render with these files sees: the chart's defaults with each file merged over them. */
export function chartValues (valuesFiles: readonly string[] = []): Record<string, unknown> {
  return valuesFiles.reduce((values, file) => mergeValues(values, readYaml(file) as Record<string, unknown>), readYaml(join(CHART_DIR, 'values.yaml')) as Record<string, unknown>)
}

export function readYaml (file: string): unknown {
  return parseYaml(readFileSync(file, 'utf8'))
}

/** helm's merge of values files over the chart defaults: maps merge, null deletes, the rest replaces. */
export function mergeValues (base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(override)) {
    const current = out[key]
    if (value === null) delete out[key]
    else if (isPlainObject(value) && isPlainObject(current)) out[key] = mergeValues(current, value)
    else out[key] = value
  }
  return out
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
