/**
 * values.yaml against values.schema.json: the defaults and every helm/ci file validate, misspelled
 * or misplaced keys are refused, every key is documented, and the chart README's values reference
 * (helm/cio-gateway/README.md) is the one values.yaml generates.
 */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { Ajv, type ErrorObject } from 'ajv'
import { CHART_DIR, ROOT, ciValuesFiles, isPlainObject, mergeValues, readYaml, renderChart } from './helpers/chart.js'
import { docsWithReference, loadSchema, valueDocs } from './helpers/values-docs.js'

const schema = loadSchema()
const ajv = new Ajv({ allErrors: true, strict: true })
const validate = ajv.compile(schema)
const defaults = readYaml(join(CHART_DIR, 'values.yaml')) as Record<string, unknown>

function errorsOf (values: unknown): string[] {
  if (validate(values)) return []
  return (validate.errors ?? []).map((e: ErrorObject) =>
    `${e.instancePath || '/'} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? ` '${String((e.params as { additionalProperty: string }).additionalProperty)}'` : ''}`)
}

t.test('the default values validate against values.schema.json', async (t) => {
  t.same(errorsOf(defaults), [])
})

t.test('every helm/ci values file, merged over the defaults, validates', async (t) => {
  const files = ciValuesFiles()
  t.ok(files.length >= 2, 'helm/ci holds the full-featured values files')
  for (const file of files) {
    const merged = mergeValues(defaults, readYaml(file) as Record<string, unknown>)
    t.same(errorsOf(merged), [], basename(file))
  }
})

t.test('misspelled, misplaced and mistyped values are rejected', async (t) => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['top-level typo', { serviceMonitr: { enabled: true } }, /^\/ must NOT have additional properties 'serviceMonitr'$/],
    ['nested typo', { ingest: { replicaz: 3 } }, /^\/ingest must NOT have additional properties 'replicaz'$/],
    ['deep typo', { worker: { autoscaling: { maxReplica: 3 } } }, /^\/worker\/autoscaling must NOT have additional properties 'maxReplica'$/],
    ['a worker-only key on ingest', { ingest: { dataVolume: { emptyDir: {} } } }, /^\/ingest must NOT have additional properties 'dataVolume'$/],
    ['probe typo', { ingest: { livenessProbe: { periodSecond: 5 } } }, /^\/ingest\/livenessProbe must NOT have additional properties 'periodSecond'$/],
    ['secret key typo', { secrets: { keys: { redisURL: 'X' } } }, /^\/secrets\/keys must NOT have additional properties 'redisURL'$/],
    ['wrong type', { ingest: { replicas: 'two' } }, /^\/ingest\/replicas must be integer$/],
    ['unknown service type', { service: { type: 'Ingress' } }, /^\/service\/type must be equal to one of the allowed values$/],
    ['bad address', { networkPolicy: { customerio: { addresses: { us: ['35.188.196'] } } } }, /^\/networkPolicy\/customerio\/addresses\/us\/0 must match pattern/],
    ['config without routes', { config: { sources: {}, sinks: {} } }, /^\/config must have required property 'routes'$/],
    ['unknown Redis mode', { redis: { mode: 'sentinal' } }, /^\/redis\/mode must be equal to one of the allowed values$/],
    ['Redis key typo', { redis: { sentinel: { masterset: 'mymaster' } } }, /^\/redis\/sentinel must NOT have additional properties 'masterset'$/],
    ['shards under redis.cluster', { redis: { cluster: { shards: 16 } } }, /^\/redis\/cluster must NOT have additional properties 'shards'$/],
    ['a cluster-only key on sentinel', { redis: { sentinel: { shards: 16 } } }, /^\/redis\/sentinel must NOT have additional properties 'shards'$/],
    ['node without a scheme', { redis: { cluster: { nodes: ['redis-cluster:6379'] } } }, /^\/redis\/cluster\/nodes\/0 must match pattern/],
    ['sentinel address as a host:port list', { redis: { sentinel: { nodes: 'redis://redis:26379' } } }, /^\/redis\/sentinel\/nodes must be array$/],
    ['no shards', { redis: { shards: 0 } }, /^\/redis\/shards must match exactly one schema in oneOf$/],
    ['too many shards', { redis: { shards: 2048 } }, /^\/redis\/shards must match exactly one schema in oneOf$/],
    ['shards as text', { redis: { shards: '16' } }, /^\/redis\/shards must match exactly one schema in oneOf$/],
    ['negative replicasAck', { redis: { replicasAck: -1 } }, /^\/redis\/replicasAck must match exactly one schema in oneOf$/],
    ['database out of range', { redis: { sentinel: { db: 16 } } }, /^\/redis\/sentinel\/db must be <= 15$/],
    ['tls as text', { redis: { cluster: { tls: 'yes' } } }, /^\/redis\/cluster\/tls must be boolean$/],
    ['password key typo', { secrets: { keys: { redisPasword: 'redis-password' } } }, /^\/secrets\/keys must NOT have additional properties 'redisPasword'$/]
  ]
  for (const [name, override, expected] of cases) {
    const merged = name === 'config without routes' ? { ...defaults, ...override } : mergeValues(defaults, override)
    const errors = errorsOf(merged)
    t.ok(errors.some((e) => expected.test(e)), `${name}: ${errors.join('; ') || 'accepted'}`)
  }
})

t.test('a misspelled value and the renderer in use', async (t) => {
  // With helm on PATH this is helm's own schema check; the fallback renderer does not validate
  // (CONTRIBUTING.md says so), so there the ajv check above is the guard and this asserts that
  // the fallback indeed renders regardless, so nobody mistakes it for a validator.
  const file = join(t.testdir(), 'typo.yaml')
  writeFileSync(file, 'ingest:\n  replicaz: 3\n')
  const result = renderChart({ valuesFiles: [file] })
  if (result.engine === 'helm') {
    t.equal(result.ok, false)
    if (!result.ok) t.match(result.error, /replicaz/)
  } else {
    t.equal(result.ok, true, 'the fallback renderer does not validate values')
  }
})

t.test('every value is documented with a `# --` comment, and the schema and values.yaml list the same keys', async (t) => {
  const docs = valueDocs()
  t.ok(docs.length > 50)
  for (const doc of docs) t.ok(doc.description !== undefined && doc.description.length > 10, `${doc.key} has a # -- description`)
  // Every structured schema property appears in values.yaml (an undocumented key could be set but
  // would be found nowhere in the reference).
  const documented = new Set(docs.map((d) => d.key))
  const missing: string[] = []
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    const properties = node.properties
    if (!isPlainObject(properties) || node.additionalProperties !== false) return
    for (const [key, child] of Object.entries(properties)) {
      const path = prefix + key
      if (isPlainObject(child) && isPlainObject(child.properties) && child.additionalProperties === false && child.$ref === undefined) walk(child, `${path}.`)
      else if (!documented.has(path)) missing.push(path)
    }
  }
  walk(schema, '')
  t.same(missing, [], 'schema keys absent from values.yaml')
})

t.test("helm/cio-gateway/README.md's values reference is generated from values.yaml", async (t) => {
  const file = join(CHART_DIR, 'README.md')
  const current = readFileSync(file, 'utf8')
  const expected = docsWithReference(current)
  if (process.env.CIO_UPDATE_DOCS === '1') {
    writeFileSync(file, expected)
    t.pass('rewritten')
    return
  }
  t.equal(current, expected, 'out of date: run CIO_UPDATE_DOCS=1 npx tap test/deploy/values.test.ts')
})

t.test("docs/kubernetes.md shows the walkthrough's and each Redis engine's values as the helm/ci files the tests render", async (t) => {
  const docs = readFileSync(join(ROOT, 'docs', 'kubernetes.md'), 'utf8')
  for (const name of ['walkthrough', 'sentinel', 'cluster', 'elasticache', 'memorystore']) {
    const file = readFileSync(join(ROOT, 'helm', 'ci', `${name}-values.yaml`), 'utf8')
    const body = file.split('\n').filter((line) => !line.startsWith('#')).join('\n').trim()
    t.ok(docs.includes('```yaml\n' + body + '\n```'), `helm/ci/${name}-values.yaml as it is`)
  }
})
