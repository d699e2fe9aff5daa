/**
 * The Helm chart, rendered for the default values and for every helm/ci values file (with helm
 * where it is installed, else with helm/renderer): every manifest validates against the Kubernetes
 * schemas, the pieces fit together (selectors, names, ports, secrets), and the routes.yaml it
 * ships is one the gateway itself accepts.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { CHART_DIR, ROOT, chartValues, ciValuesFiles, find, readYaml, render as renderUncached, renderChart, valuesFile, type Manifest, type RenderOptions } from './helpers/chart.js'
import { ensureBuilt } from './helpers/gateway.js'
import { validateManifest } from './helpers/kube.js'

const execFileAsync = promisify(execFile)

interface Container {
  name: string
  image: string
  args: string[]
  ports: Array<{ name: string, containerPort: number }>
  env: Array<{ name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string, optional: boolean } } }>
  livenessProbe: { httpGet: { path: string, port: string } }
  readinessProbe: { httpGet: { path: string, port: string } }
  securityContext: Record<string, unknown>
  volumeMounts: Array<{ name: string, mountPath: string }>
}
interface PodSpec {
  containers: Container[]
  volumes: Array<{ name: string, configMap?: { name: string }, [k: string]: unknown }>
  securityContext: { runAsNonRoot?: boolean, runAsUser?: number }
  serviceAccountName: string
}
interface DeploymentSpec {
  replicas?: number
  selector: { matchLabels: Record<string, string> }
  template: { metadata: { labels: Record<string, string>, annotations: Record<string, string> }, spec: PodSpec }
}

interface SecretValues {
  secrets: { existingSecret: string, redisSecret: string, keys: Record<'webhookSecret' | 'redisUrl' | 'redisPassword' | 'redisSentinelPassword', string> }
  redis: { mode: 'url' | 'sentinel' | 'cluster' }
}

// Rendering is a process spawn; most tests read the same few renders.
const renders = new Map<string, Manifest[]>()
function render (options: RenderOptions = {}): Manifest[] {
  const key = JSON.stringify(options)
  const cached = renders.get(key) ?? renderUncached(options)
  renders.set(key, cached)
  return structuredClone(cached)
}

const spec = <T>(m: Manifest): T => m.spec as T
const deployment = (manifests: Manifest[], component: string): Manifest =>
  find(manifests.filter((m) => m.kind === 'Deployment' && m.metadata.labels?.['app.kubernetes.io/component'] === component), 'Deployment')
const container = (d: Manifest): Container => spec<DeploymentSpec>(d).template.spec.containers[0] as Container
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v)

const cases = [
  { name: 'default values', files: [] as string[] },
  ...ciValuesFiles().map((file) => ({ name: `helm/ci/${basename(file)}`, files: [file] }))
]

for (const c of cases) {
  t.test(`${c.name}: every rendered manifest validates against the Kubernetes schemas`, async (t) => {
    const manifests = render({ valuesFiles: c.files })
    t.ok(manifests.length >= 5)
    for (const manifest of manifests) {
      await t.resolves(validateManifest(manifest), `${manifest.kind}/${manifest.metadata.name}`)
      t.ok(manifest.metadata.namespace, `${manifest.kind}/${manifest.metadata.name} has a namespace`)
      t.equal(manifest.metadata.labels?.['app.kubernetes.io/name'], 'cio-gateway', `${manifest.kind}/${manifest.metadata.name} is labelled`)
    }
    const names = manifests.map((m) => `${m.kind}/${m.metadata.name}`)
    t.equal(new Set(names).size, names.length, 'no two resources share kind and name')
  })

  t.test(`${c.name}: ingest and worker Deployments run their role, open their listeners, probe /healthz and /readyz, and run as non-root`, async (t) => {
    const manifests = render({ valuesFiles: c.files })
    for (const component of ['ingest', 'worker']) {
      const d = deployment(manifests, component)
      const s = spec<DeploymentSpec>(d)
      const gateway = container(d)
      const env = (name: string): string | undefined => gateway.env.find((e) => e.name === name)?.value
      t.same(gateway.args, ['serve', '--config', '/etc/cio-gateway/routes.yaml', '--role', component], component)
      // A worker opens no webhook listener (SPEC §9): its probes and Prometheus use the management port.
      const probePort = component === 'ingest' ? 'http' : 'management'
      t.same(gateway.ports, [
        ...(component === 'ingest' ? [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] : []),
        { name: 'management', containerPort: 8081, protocol: 'TCP' }
      ], `${component}: its listeners`)
      t.same(gateway.livenessProbe.httpGet, { path: '/healthz', port: probePort })
      t.same(gateway.readinessProbe.httpGet, { path: '/readyz', port: probePort })
      t.same([env('HOST'), env('PORT')], component === 'ingest' ? ['0.0.0.0', '8080'] : [undefined, undefined])
      t.same([env('MANAGEMENT_HOST'), env('MANAGEMENT_PORT')], ['0.0.0.0', '8081'], 'management on every interface of the pod, for the kubelet and Prometheus')
      const roleValues = { ...(readYaml(join(CHART_DIR, 'values.yaml')) as Record<string, { nodeOptions?: string }>)[component], ...(c.files[0] !== undefined ? (readYaml(c.files[0]) as Record<string, { nodeOptions?: string } | undefined>)[component] : {}) }
      t.equal(gateway.env.find((e) => e.name === 'NODE_OPTIONS')?.value, roleValues.nodeOptions === '' ? undefined : roleValues.nodeOptions, `${component}: NODE_OPTIONS from ${component}.nodeOptions`)
      t.equal((s.template.spec as unknown as { enableServiceLinks: boolean }).enableServiceLinks, false, 'no service-link variables in the environment')
      t.equal(s.template.spec.securityContext.runAsNonRoot, true)
      t.not(s.template.spec.securityContext.runAsUser, 0)
      t.equal(gateway.securityContext.readOnlyRootFilesystem, true)
      t.equal(gateway.securityContext.allowPrivilegeEscalation, false)
      t.ok(matches(s.selector.matchLabels, s.template.metadata.labels), 'the selector selects its own pods')
      t.match(s.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/)
      const configVolume = s.template.spec.volumes.find((v) => v.name === 'config')
      t.equal(configVolume?.configMap?.name, find(manifests, 'ConfigMap', d.metadata.name.replace(/-(ingest|worker)$/, '')).metadata.name)
      t.ok(gateway.volumeMounts.some((m) => m.name === 'config' && m.mountPath === '/etc/cio-gateway'))
      t.ok(gateway.volumeMounts.some((m) => m.name === 'tmp' && m.mountPath === '/tmp'), 'a writable /tmp under the read-only root')
    }
    const worker = spec<DeploymentSpec>(deployment(manifests, 'worker'))
    t.ok(container(deployment(manifests, 'worker')).volumeMounts.some((m) => m.name === 'data' && m.mountPath === '/data'))
    t.ok(worker.template.spec.volumes.some((v) => v.name === 'data'))
    t.notOk(container(deployment(manifests, 'ingest')).volumeMounts.some((m) => m.name === 'data'), 'ingest pods have no data volume')
  })

  t.test(`${c.name}: the webhook Service and Ingress reach only the webhook port; the management port only through the ClusterIP management Service`, async (t) => {
    const manifests = render({ valuesFiles: c.files })
    const services = manifests.filter((m) => m.kind === 'Service')
    const fullname = deployment(manifests, 'ingest').metadata.name.replace(/-ingest$/, '')
    const ports = (m: Manifest): Array<{ name: string, targetPort: string }> => (m.spec as { ports: Array<{ name: string, targetPort: string }> }).ports
    t.same(services.map((m) => m.metadata.name).sort(), [fullname, `${fullname}-management`])
    t.same(ports(find(manifests, 'Service', fullname)).map((p) => p.targetPort), ['http'], 'the webhook Service: the webhook port only')
    const management = find(manifests, 'Service', `${fullname}-management`)
    t.equal((management.spec as { type: string }).type, 'ClusterIP', 'never a LoadBalancer or NodePort')
    t.same(ports(management).map((p) => [p.name, p.targetPort]), [['management', 'management']])
    const selector = (management.spec as { selector: Record<string, string> }).selector
    for (const component of ['ingest', 'worker']) t.ok(matches(selector, spec<DeploymentSpec>(deployment(manifests, component)).template.metadata.labels), `selects the ${component} pods`)
    for (const ingress of manifests.filter((m) => m.kind === 'Ingress')) {
      const backends = JSON.stringify((ingress.spec as { rules: unknown[] }).rules)
      t.notMatch(backends, /management/, 'the Ingress never routes to the management Service')
    }
  })

  t.test(`${c.name}: secrets come from the existing Secrets, and routes.yaml names them as \${VAR} only`, async (t) => {
    const manifests = render({ valuesFiles: c.files })
    const values = chartValues(c.files) as unknown as SecretValues
    const fullname = deployment(manifests, 'ingest').metadata.name.replace(/-ingest$/, '')
    const secretName = values.secrets.existingSecret || fullname
    const redisSecret = values.secrets.redisSecret || secretName
    const { keys } = values.secrets
    const mode = values.redis.mode
    t.equal(manifests.filter((m) => m.kind === 'Secret').length, 0, 'the chart creates no Secret')
    // [variable, Secret, key]: the URL in url mode, else the password keys that are set.
    const redisEnv = mode === 'url'
      ? [['REDIS_URL', secretName, keys.redisUrl]]
      : [['REDIS_PASSWORD', redisSecret, keys.redisPassword], ...(mode === 'sentinel' ? [['REDIS_SENTINEL_PASSWORD', redisSecret, keys.redisSentinelPassword]] : [])].filter(([, , key]) => key !== '')
    for (const component of ['ingest', 'worker']) {
      const env = container(deployment(manifests, component)).env
      const ref = (e: Container['env'][number]): unknown[] => [e.name, e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.key, e.valueFrom?.secretKeyRef?.optional]
      t.same(env.filter((e) => e.name.startsWith('REDIS_')).map(ref), redisEnv.map((entry) => [...entry, false]), `${component}: Redis' variables (${mode}), all required`)
      t.same(ref(env.find((e) => e.name === 'CIO_WEBHOOK_SECRET') ?? { name: 'missing' }), ['CIO_WEBHOOK_SECRET', secretName, keys.webhookSecret, false])
      for (const e of env.filter((e) => e.valueFrom?.secretKeyRef !== undefined && !e.name.startsWith('REDIS_') && e.name !== 'FORWARD_SECRET')) {
        t.equal(e.valueFrom?.secretKeyRef?.name, secretName, `${component}: ${e.name} from the existing Secret`)
      }
    }
    const routes = parseYaml((find(manifests, 'ConfigMap', fullname).data as Record<string, string>)['routes.yaml'] ?? '') as { queue: Record<string, Record<string, unknown> | string | undefined>, sources: Record<string, { secrets: string[] }> }
    if (mode === 'url') {
      t.equal(routes.queue.redis_url, '${REDIS_URL}')
    } else {
      const connection = routes.queue[`redis_${mode}`] as Record<string, unknown>
      t.equal(connection.password, keys.redisPassword === '' ? undefined : '${REDIS_PASSWORD}', 'the password only as ${REDIS_PASSWORD}')
      t.equal(connection.sentinel_password, keys.redisSentinelPassword === '' ? undefined : '${REDIS_SENTINEL_PASSWORD}')
    }
    t.ok(Object.values(routes.sources).some((s) => s.secrets.includes('${CIO_WEBHOOK_SECRET}')))
  })
}

/** Values for the variables routes.yaml names that have a format; any other gets 64 hex digits, as a generated secret would be. */
const SAMPLE_VALUES: Record<string, string> = { REDIS_URL: 'redis://127.0.0.1:6379', FORWARD_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }

/**
 * The environment a pod gives the gateway for the variables `routesYaml` names: those its
 * Deployment sets (from a Secret or literally), and nothing else, so a `${VAR}` the pods lack fails.
 */
function podEnvironment (manifests: Manifest[], routesYaml: string): NodeJS.ProcessEnv {
  const env = new Map(container(deployment(manifests, 'ingest')).env.map((e) => [e.name, e.value ?? SAMPLE_VALUES[e.name] ?? createHash('sha256').update(e.name).digest('hex')]))
  const named = new Set([...routesYaml.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1] as string))
  return { PATH: process.env.PATH, ...Object.fromEntries([...named].filter((name) => env.has(name)).map((name) => [name, env.get(name)])) }
}

t.test("the gateway's own check-config accepts the routes.yaml the chart ships with only the variables its pods get, for every case", async (t) => {
  await ensureBuilt()
  // The CLI loads every sink plugin (cloud SDKs included): seconds each, so all cases at once.
  const dir = t.testdir() // (each testdir() call empties the directory: once)
  const checks = cases.map(async (c) => {
    const manifests = render({ valuesFiles: c.files })
    const routesYaml = (manifests.find((m) => m.kind === 'ConfigMap' && (m.data as Record<string, string> | undefined)?.['routes.yaml'] !== undefined)?.data as Record<string, string>)['routes.yaml'] ?? ''
    const file = join(dir, `${basename(c.name)}-routes.yaml`)
    writeFileSync(file, routesYaml)
    try {
      await execFileAsync(process.execPath, [join(ROOT, 'bin', 'cio-gateway.js'), 'check-config', '--config', file], { env: podEnvironment(manifests, routesYaml), timeout: 60_000 })
      return { name: c.name, ok: true, output: '' }
    } catch (error) {
      const failed = error as { stdout?: string, stderr?: string, message: string }
      return { name: c.name, ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? failed.message}` }
    }
  })
  for (const result of await Promise.all(checks)) t.ok(result.ok, `${result.name} ${result.output}`)
})

t.test('default values render the core resources and nothing optional', async (t) => {
  const kinds = render().map((m) => m.kind).sort()
  t.same(kinds, ['ConfigMap', 'Deployment', 'Deployment', 'Service', 'Service', 'ServiceAccount'], 'the webhook and the management Service')
  const ingest = spec<DeploymentSpec>(deployment(render(), 'ingest'))
  t.equal(ingest.replicas, 2)
  t.equal(container(deployment(render(), 'ingest')).image, 'cio-gateway:0.1.0', 'the tag defaults to appVersion')
})

t.test('the full-featured values render every optional resource, wired to the Deployments', async (t) => {
  const manifests = render({ valuesFiles: [join(ROOT, 'helm', 'ci', 'full-values.yaml')], releaseName: 'prod' })
  t.same(manifests.map((m) => m.kind).sort(), [
    'ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'HorizontalPodAutoscaler',
    'Ingress', 'NetworkPolicy', 'PodDisruptionBudget', 'PodDisruptionBudget', 'PrometheusRule', 'Service', 'Service',
    'ServiceAccount', 'ServiceMonitor'
  ])
  const ingest = deployment(manifests, 'ingest')
  const worker = deployment(manifests, 'worker')
  const podLabels = (d: Manifest): Record<string, string> => spec<DeploymentSpec>(d).template.metadata.labels
  t.notOk('replicas' in (ingest.spec as object), 'an autoscaled Deployment leaves replicas to the HPA')

  for (const d of [ingest, worker]) {
    const hpa = manifests.find((m) => m.kind === 'HorizontalPodAutoscaler' && (m.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === d.metadata.name)
    t.ok(hpa, `an HPA scales ${d.metadata.name}`)
    const pdb = manifests.find((m) => m.kind === 'PodDisruptionBudget' && matches((m.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels(d)))
    t.ok(pdb, `a PDB covers ${d.metadata.name}`)
    t.notOk(manifests.some((m) => m.kind === 'PodDisruptionBudget' && m !== pdb && matches((m.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels(d))), 'and only one')
  }
  t.same(find(manifests, 'HorizontalPodAutoscaler', 'cio-ingest').spec, {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'cio-ingest' },
    minReplicas: 3,
    maxReplicas: 12,
    metrics: [
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
      { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } } }
    ]
  })
  t.equal((find(manifests, 'PodDisruptionBudget', 'cio-worker').spec as { maxUnavailable: string }).maxUnavailable, '50%')

  // Webhook traffic reaches ingest pods only, on the webhook port; metrics are scraped from every pod's management port.
  const service = find(manifests, 'Service', 'cio')
  const serviceSpec = service.spec as { selector: Record<string, string>, type: string, externalTrafficPolicy: string, loadBalancerSourceRanges: string[], ports: unknown[] }
  t.ok(matches(serviceSpec.selector, podLabels(ingest)))
  t.notOk(matches(serviceSpec.selector, podLabels(worker)))
  t.equal(serviceSpec.type, 'LoadBalancer')
  t.equal(serviceSpec.externalTrafficPolicy, 'Local')
  t.same(serviceSpec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], 'the internet-facing Service: webhooks only')
  const metricsService = find(manifests, 'Service', 'cio-management')
  const metricsSpec = metricsService.spec as { selector: Record<string, string>, type: string, ports: unknown[] }
  t.ok(matches(metricsSpec.selector, podLabels(ingest)) && matches(metricsSpec.selector, podLabels(worker)))
  t.equal(metricsSpec.type, 'ClusterIP')
  t.same(metricsSpec.ports, [{ name: 'management', port: 9090, targetPort: 'management', protocol: 'TCP' }])
  t.same(metricsService.metadata.annotations, { 'prometheus.io/scrape': 'false' })

  const monitor = find(manifests, 'ServiceMonitor')
  const monitorSpec = monitor.spec as { selector: { matchLabels: Record<string, string> }, jobLabel: string, namespaceSelector: { matchNames: string[] }, endpoints: Array<{ port: string, path: string, interval: string }> }
  t.equal(monitor.metadata.namespace, 'monitoring')
  t.equal(monitor.metadata.labels?.release, 'kube-prometheus-stack')
  t.ok(matches(monitorSpec.selector.matchLabels, metricsService.metadata.labels ?? {}), 'the ServiceMonitor selects the management Service')
  t.notOk(matches(monitorSpec.selector.matchLabels, service.metadata.labels ?? {}), '...and not the ingest Service (no double scrape)')
  t.same(monitorSpec.namespaceSelector.matchNames, ['cio'])
  t.equal(monitorSpec.jobLabel, 'app.kubernetes.io/name', 'job="cio-gateway", as the alerts and dashboard expect')
  t.equal(metricsService.metadata.labels?.['app.kubernetes.io/name'], 'cio-gateway')
  t.match(monitorSpec.endpoints[0], { port: 'management', path: '/metrics', interval: '15s' })

  const ingress = find(manifests, 'Ingress')
  t.same((ingress.spec as { rules: unknown[] }).rules, [{
    host: 'cio.example.com',
    http: { paths: [{ path: '/webhooks', pathType: 'Prefix', backend: { service: { name: 'cio', port: { name: 'http' } } } }] }
  }])

  // routes.yaml went through tpl.
  const routes = parseYaml((find(manifests, 'ConfigMap', 'cio').data as Record<string, string>)['routes.yaml'] ?? '') as { queue: { prefix: string } }
  t.equal(routes.queue.prefix, 'prod')
})

t.test('the NetworkPolicy admits exactly the published Customer.io sender addresses of the chosen regions', async (t) => {
  const values = readYaml(join(CHART_DIR, 'values.yaml')) as { networkPolicy: { customerio: { addresses: Record<string, string[]> } } }
  const { us, eu } = values.networkPolicy.customerio.addresses
  t.equal(us?.length, 12, 'US webhook senders as published')
  t.equal(eu?.length, 10, 'EU webhook senders as published')
  t.ok(us?.includes('35.188.196.183') && eu?.includes('34.76.143.229'))
  const cidrs = (manifests: Manifest[]): string[] => {
    const policy = find(manifests, 'NetworkPolicy').spec as { ingress: Array<{ from: Array<{ ipBlock?: { cidr: string } }>, ports?: Array<{ port: string }> }>, policyTypes: string[] }
    t.same(policy.policyTypes, ['Ingress'], 'egress stays open: sinks live anywhere')
    t.same(policy.ingress[0]?.ports, [{ port: 'http', protocol: 'TCP' }])
    return (policy.ingress[0]?.from ?? []).map((f) => f.ipBlock?.cidr ?? '')
  }
  const full = render({ valuesFiles: [join(ROOT, 'helm', 'ci', 'full-values.yaml')] })
  t.same(cidrs(full).sort(), [...(us ?? []), ...(eu ?? [])].map((a) => `${a}/32`).sort())
  const policy = find(full, 'NetworkPolicy').spec as { ingress: unknown[] }
  t.same(policy.ingress.slice(1), [
    { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 'management', protocol: 'TCP' }] },
    { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }], ports: [{ port: 'http', protocol: 'TCP' }] }
  ], 'the management port from the monitoring namespace only, then the extra rule for the Ingress controller')
  const usOnly = render({ valuesFiles: [valuesFile(t, 'networkPolicy: { enabled: true }\n')] })
  t.same(cidrs(usOnly).sort(), (us ?? []).map((a) => `${a}/32`).sort(), 'the default region is us')
  t.same((find(usOnly, 'NetworkPolicy').spec as { ingress: unknown[] }).ingress.slice(1), [
    { from: [{ namespaceSelector: {} }], ports: [{ port: 'management', protocol: 'TCP' }] }
  ], 'by default the management port admits every pod of the cluster, and no outside address')
  const closed = render({ valuesFiles: [valuesFile(t, 'networkPolicy: { enabled: true, management: { from: [] } }\n')] })
  t.equal((find(closed, 'NetworkPolicy').spec as { ingress: unknown[] }).ingress.length, 1, 'management.from: [] admits nobody to the management port')
})

t.test('the PrometheusRule carries rules/alerts.yaml, minus disabled alerts, plus labels and extra groups', async (t) => {
  const file = readYaml(join(CHART_DIR, 'rules', 'alerts.yaml')) as { groups: Array<{ name: string, rules: Array<{ alert: string, labels: Record<string, string> }> }> }
  const rule = find(render({ valuesFiles: [join(ROOT, 'helm', 'ci', 'full-values.yaml')] }), 'PrometheusRule')
  const groups = (rule.spec as { groups: Array<{ name: string, rules: Array<{ alert: string, expr: string, labels: Record<string, string> }> }> }).groups
  t.same(groups.map((g) => g.name), ['cio-gateway', 'cio-gateway-custom'])
  const expected = file.groups[0]?.rules.filter((r) => r.alert !== 'CioGatewayAbsent').map((r) => ({ ...r, labels: { ...r.labels, team: 'growth' } }))
  t.same(groups[0]?.rules, expected)
  t.equal(groups[1]?.rules[0]?.alert, 'CioGatewayNoEvents')

  const relabelled = find(render({ valuesFiles: [valuesFile(t, 'prometheusRule: { enabled: true, additionalAlertLabels: { severity: page } }\n')] }), 'PrometheusRule')
  const all = (relabelled.spec as { groups: Array<{ rules: Array<{ labels: Record<string, string> }> }> }).groups[0]?.rules ?? []
  t.equal(all.length, file.groups[0]?.rules.length)
  t.ok(all.every((r) => r.labels.severity === 'page'), 'additional labels win over the rule\'s own')
})

t.test('the dashboard ConfigMap carries the dashboard JSON and the Grafana sidecar label', async (t) => {
  const configMap = find(render({ valuesFiles: [join(ROOT, 'helm', 'ci', 'full-values.yaml')] }), 'ConfigMap', 'cio-dashboard')
  t.equal(configMap.metadata.labels?.grafana_dashboard, '1')
  t.equal(configMap.metadata.annotations?.grafana_folder, 'Customer.io')
  t.equal(configMap.metadata.namespace, 'monitoring')
  const json = (configMap.data as Record<string, string>)['cio-gateway.json'] ?? ''
  t.same(JSON.parse(json), JSON.parse(readFileSync(join(CHART_DIR, 'dashboards', 'cio-gateway.json'), 'utf8')))
})

t.test('checksum/config changes with routes.yaml, and only with it', async (t) => {
  const checksum = (yaml: string): string[] => {
    const manifests = render({ valuesFiles: [valuesFile(t, yaml)] })
    return ['ingest', 'worker'].map((c) => spec<DeploymentSpec>(deployment(manifests, c)).template.metadata.annotations['checksum/config'] ?? '')
  }
  const base = checksum('{}\n')
  t.equal(base[0], base[1], 'both roles carry the same checksum')
  t.same(checksum('ingest: { replicas: 4 }\nservice: { port: 8080 }\n'), base, 'unrelated values leave it alone')
  const changed = checksum('config: { dedupe: { window: 12h } }\n')
  t.not(changed[0], base[0], 'a routes.yaml change rolls the pods')
  const fromFile = checksum(readFileSync(join(ROOT, 'helm', 'ci', 'routes-file-values.yaml'), 'utf8'))
  t.not(fromFile[0], base[0], 'so does routesYaml')
})

t.test('routesYaml replaces config verbatim (helm --set-file routesYaml=routes.yaml)', async (t) => {
  const manifests = render({ valuesFiles: [join(ROOT, 'helm', 'ci', 'routes-file-values.yaml')] })
  const routes = (find(manifests, 'ConfigMap').data as Record<string, string>)['routes.yaml']
  const values = readYaml(join(ROOT, 'helm', 'ci', 'routes-file-values.yaml')) as { routesYaml: string }
  t.same(parseYaml(routes ?? ''), parseYaml(values.routesYaml))
})

t.test('inconsistent values fail the render with a message naming the value', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['secrets: { keys: { webhookSecret: "" } }\n', /secrets\.keys\.webhookSecret is required/],
    ['secrets: { keys: { redisUrl: "" } }\n', /secrets\.keys\.redisUrl is required/],
    ['ingest: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 2 } }\n', /ingest\.autoscaling: minReplicas \(5\) is above maxReplicas \(2\)/],
    ['worker: { podDisruptionBudget: { enabled: true, minAvailable: 1, maxUnavailable: 1 } }\n', /worker\.podDisruptionBudget: set exactly one of minAvailable and maxUnavailable/],
    ['networkPolicy: { enabled: true, customerio: { regions: [us, au] } }\n', /networkPolicy\.customerio\.regions: no addresses for region "au" \(known: eu, us\)/],
    ['ingress: { enabled: true, hosts: [{ paths: [{ path: /webhooks, pathType: Prefix }] }] }\n', /ingress\.hosts\[\]\.host is required/]
  ]
  for (const [yaml, expected] of cases) {
    const result = renderChart({ valuesFiles: [valuesFile(t, yaml)] })
    t.equal(result.ok, false, yaml)
    if (!result.ok) t.match(result.error, expected, yaml)
  }
})
