/**
 * redis.mode: the chart writes the Redis connection of routes.yaml (queue.redis_url, redis_sentinel
 * or redis_cluster, shards, replicas_ack) from `redis.*`, gives the pods the password keys of the
 * Secrets as environment variables (a password never enters the ConfigMap), and refuses values that
 * contradict each other with a message naming the value. The helm/ci files for each engine are
 * rendered by chart.test.ts; these tests drive every option.
 */
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import { find, render, renderChart, valuesFile, type Manifest } from './helpers/chart.js'
import { parseConfig } from '../../src/config/load.js'

interface EnvEntry { name: string, valueFrom?: { secretKeyRef?: { name: string, key: string, optional: boolean } } }
interface PodTemplate { metadata: { annotations: Record<string, string> }, spec: { containers: Array<{ env: EnvEntry[] }> } }

const podTemplate = (manifests: Manifest[], component: string): PodTemplate =>
  (find(manifests, 'Deployment', `cio-cio-gateway-${component}`).spec as { template: PodTemplate }).template
const routesYaml = (manifests: Manifest[]): string => (find(manifests, 'ConfigMap', 'cio-cio-gateway').data as Record<string, string>)['routes.yaml'] ?? ''
const queueOf = (manifests: Manifest[]): Record<string, unknown> => (parseYaml(routesYaml(manifests)) as { queue: Record<string, unknown> }).queue

/** [variable, Secret, key, optional] of every Redis variable, the same in ingest and worker pods. */
function redisEnv (t: Test, manifests: Manifest[]): unknown[][] {
  const [ingest, worker] = ['ingest', 'worker'].map((component) => podTemplate(manifests, component).spec.containers[0]?.env
    .filter((e) => e.name.startsWith('REDIS_'))
    .map((e) => [e.name, e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.key, e.valueFrom?.secretKeyRef?.optional]) ?? [])
  t.same(worker, ingest, 'worker pods get what ingest pods get')
  return ingest ?? []
}

// The gateway's own reading of the rendered routes.yaml, with the pods' variables set.
const SECRETS = { CIO_WEBHOOK_SECRET: 'signing-key', REDIS_PASSWORD: 'redis-pass', REDIS_SENTINEL_PASSWORD: 'sentinel-pass', REDIS_URL: 'redis://redis-master:6379' }
const gatewayQueue = (manifests: Manifest[]): unknown => parseConfig(routesYaml(manifests), 'routes.yaml', SECRETS).queue

t.test('redis.mode sentinel writes queue.redis_sentinel with every option, and the passwords as ${VAR} from the Secret named for them', async (t) => {
  const manifests = render({
    valuesFiles: [valuesFile(t, `
secrets: { redisSecret: redis, keys: { redisPassword: redis-password, redisSentinelPassword: sentinel-password } }
redis:
  mode: sentinel
  sentinel: { masterSet: mymaster, nodes: [redis://redis-node-0.redis-headless:26379, redis://redis:26379], username: gateway, tls: true, db: 2 }
  replicasAck: 2
`)]
  })
  t.same(queueOf(manifests), {
    prefix: 'cio',
    high_water_mark: 100000,
    replicas_ack: 2,
    redis_sentinel: {
      name: 'mymaster',
      nodes: ['redis://redis-node-0.redis-headless:26379', 'redis://redis:26379'],
      username: 'gateway',
      tls: true,
      db: 2,
      password: '${REDIS_PASSWORD}',
      sentinel_password: '${REDIS_SENTINEL_PASSWORD}'
    }
  })
  t.same(redisEnv(t, manifests), [
    ['REDIS_PASSWORD', 'redis', 'redis-password', false],
    ['REDIS_SENTINEL_PASSWORD', 'redis', 'sentinel-password', false]
  ], 'from secrets.redisSecret, required; no REDIS_URL')
  t.match(gatewayQueue(manifests), {
    redis: { kind: 'sentinel', name: 'mymaster', password: 'redis-pass', sentinelPassword: 'sentinel-pass', username: 'gateway', tls: true, db: 2 },
    shards: 1,
    replicasAck: 2
  }, 'the gateway reads the connection the values describe')
})

t.test('redis.mode cluster writes queue.redis_cluster with shards and replicas_ack; the password comes from the existing Secret, and an empty key means none', async (t) => {
  const withPassword = render({ valuesFiles: [valuesFile(t, 'redis: { mode: cluster, cluster: { nodes: [redis://redis-cluster:6379] } }\n')] })
  t.same(queueOf(withPassword), { prefix: 'cio', high_water_mark: 100000, redis_cluster: { nodes: ['redis://redis-cluster:6379'], password: '${REDIS_PASSWORD}' } })
  t.same(redisEnv(t, withPassword), [['REDIS_PASSWORD', 'cio-cio-gateway', 'REDIS_PASSWORD', false]], 'the default Secret and key')
  t.match(gatewayQueue(withPassword), { redis: { kind: 'cluster', password: 'redis-pass', tls: false }, shards: 48, replicasAck: 1 }, "the gateway's defaults: 48 shards, one replica")

  const options = render({
    valuesFiles: [valuesFile(t, `
secrets: { keys: { redisPassword: "" } }
redis:
  mode: cluster
  cluster: { nodes: [rediss://10.142.0.5:6379], username: gateway, tls: true }
  shards: 16
  replicasAck: 0
`)]
  })
  t.same(queueOf(options), { prefix: 'cio', high_water_mark: 100000, shards: 16, replicas_ack: 0, redis_cluster: { nodes: ['rediss://10.142.0.5:6379'], username: 'gateway', tls: true } })
  t.same(redisEnv(t, options), [], 'no password, no variable')
  t.match(gatewayQueue(options), { redis: { kind: 'cluster', password: undefined, username: 'gateway', tls: true }, shards: 16, replicasAck: 0 })
})

t.test('redis.mode url is the default, and values written before redis.mode (config.queue.redis_url) render the same routes.yaml', async (t) => {
  const defaults = render()
  t.same(queueOf(defaults), { prefix: 'cio', high_water_mark: 100000, redis_url: '${REDIS_URL}' })
  t.same(redisEnv(t, defaults), [['REDIS_URL', 'cio-cio-gateway', 'REDIS_URL', false]])
  const earlier = render({ valuesFiles: [valuesFile(t, 'config: { queue: { redis_url: "${REDIS_URL}", prefix: cio } }\n')] })
  t.equal(routesYaml(earlier), routesYaml(defaults))
  t.equal(podTemplate(earlier, 'ingest').metadata.annotations['checksum/config'], podTemplate(defaults, 'ingest').metadata.annotations['checksum/config'], 'and the pods do not roll')
  const acked = render({ valuesFiles: [valuesFile(t, 'redis: { replicasAck: 1 }\n')] })
  t.same(queueOf(acked), { prefix: 'cio', high_water_mark: 100000, redis_url: '${REDIS_URL}', replicas_ack: 1 }, 'a managed primary endpoint with replicas')
  t.match(gatewayQueue(acked), { redis: { kind: 'single', url: 'redis://redis-master:6379' }, replicasAck: 1 })
})

t.test('a routes.yaml given whole keeps its own queue; redis.mode picks the Secret keys the pods get', async (t) => {
  const file = 'queue: { redis_sentinel: { name: mymaster, nodes: ["redis://redis:26379"], password: "${REDIS_PASSWORD}" } }\nsources: { customerio: { type: customerio, secrets: ["${CIO_WEBHOOK_SECRET}"] } }\nsinks: { local: { type: file, path: /data/events } }\nroutes: [{ name: all, match: {}, sinks: [local] }]\n'
  const manifests = render({ valuesFiles: [valuesFile(t, `redis: { mode: sentinel }\nroutesYaml: ${JSON.stringify(file)}\n`)] })
  t.equal(routesYaml(manifests).trim(), file.trim(), 'used as it is')
  t.same(redisEnv(t, manifests), [['REDIS_PASSWORD', 'cio-cio-gateway', 'REDIS_PASSWORD', false]])
})

t.test('inconsistent Redis values fail the render with a message naming the value', async (t) => {
  const routesFile = (queue: string): string => `routesYaml: ${JSON.stringify(`queue: ${queue}\nsources: {}\nsinks: {}\nroutes: []\n`)}\n`
  const cases: Array<[string, RegExp]> = [
    ['redis: { mode: sentinal }\n', /redis\.mode must be url, sentinel or cluster \(found "sentinal"\)/],
    ['redis: { mode: sentinel, sentinel: { nodes: [redis://redis:26379] } }\n', /redis\.sentinel\.masterSet is required with redis\.mode sentinel/],
    ['redis: { mode: sentinel, sentinel: { masterSet: mymaster } }\n', /redis\.sentinel\.nodes is required with redis\.mode sentinel/],
    ['redis: { mode: cluster }\n', /redis\.cluster\.nodes is required with redis\.mode cluster/],
    ['redis: { shards: 16 }\n', /redis\.shards is set, but redis\.mode is url: shards spread keys over a Redis Cluster only/],
    ['redis: { mode: sentinel, shards: 16, sentinel: { masterSet: mymaster, nodes: [redis://redis:26379] } }\n', /redis\.shards is set, but redis\.mode is sentinel/],
    ['redis: { sentinel: { masterSet: mymaster, nodes: [redis://redis:26379] } }\n', /redis\.sentinel is set \(masterSet, nodes\), but redis\.mode is url: set redis\.mode: sentinel/],
    ['redis: { mode: sentinel, sentinel: { masterSet: mymaster, nodes: [redis://redis:26379] }, cluster: { tls: true } }\n', /redis\.cluster is set \(tls\), but redis\.mode is sentinel: set redis\.mode: cluster/],
    ['secrets: { keys: { redisUrl: "" } }\n', /secrets\.keys\.redisUrl is required with redis\.mode url/],
    ['secrets: { keys: { redisSentinelPassword: redis-password } }\n', /secrets\.keys\.redisSentinelPassword is set, but redis\.mode is url/],
    ['secrets: { redisSecret: redis }\n', /secrets\.redisSecret is set, but redis\.mode is url/],
    ['config: { queue: { shards: 16 } }\n', /config\.queue\.shards: set redis\.shards instead/],
    ['config: { queue: { replicas_ack: 1 } }\n', /config\.queue\.replicas_ack: set redis\.replicasAck instead/],
    ['config: { queue: { redis_cluster: { nodes: [redis://redis-cluster:6379] } } }\n', /config\.queue\.redis_cluster: set redis\.mode: cluster and redis\.cluster instead/],
    ['redis: { mode: cluster, cluster: { nodes: [redis://redis-cluster:6379] } }\nconfig: { queue: { redis_url: "${REDIS_URL}" } }\n', /config\.queue\.redis_url is set, but redis\.mode is cluster: remove it/],
    [routesFile('{ redis_cluster: { nodes: [redis://redis-cluster:6379] } }'), /routesYaml: its queue uses redis_cluster, but redis\.mode is url: set redis\.mode: cluster/],
    [`redis: { mode: sentinel }\n${routesFile('{ redis_url: "${REDIS_URL}" }')}`, /routesYaml: its queue uses redis_url, but redis\.mode is sentinel: set redis\.mode: url/],
    [`redis: { replicasAck: 1 }\n${routesFile('{ redis_url: "${REDIS_URL}" }')}`, /redis\.replicasAck is set, but routesYaml is used as it is: put replicas_ack in its queue section/],
    [`redis: { mode: cluster, cluster: { nodes: [redis://redis-cluster:6379] } }\n${routesFile('{ redis_cluster: { nodes: [redis://redis-cluster:6379] } }')}`, /redis\.cluster is set \(nodes\), but routesYaml is used as it is/]
  ]
  for (const [yaml, expected] of cases) {
    const result = renderChart({ valuesFiles: [valuesFile(t, yaml)] })
    t.equal(result.ok, false, yaml)
    if (!result.ok) t.match(result.error, expected, yaml)
  }
})
