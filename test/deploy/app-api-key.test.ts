/**
 * CIO_APP_API_KEY: the chart puts the App API key from its Secret into the pods' environment, and
 * the configs the project ships read it, so that setting the key turns the reporting poller on
 * (it stayed off silently when no config read it). An unset key leaves the poller off.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, find, render } from './helpers/chart.js'
import { parseConfig } from '../../src/config/load.js'

interface Container { env: Array<{ name: string, valueFrom?: { secretKeyRef?: { name: string, key: string, optional: boolean } } }> }

const SECRETS = { CIO_WEBHOOK_SECRET: 'k', REDIS_URL: 'redis://127.0.0.1:6379' }

t.test('the default routes.yaml runs the poller when CIO_APP_API_KEY is set, and not otherwise', async (t) => {
  const text = readFileSync(join(ROOT, 'routes.yaml'), 'utf8')
  t.equal(parseConfig(text, 'routes.yaml', {}).reporting, undefined, 'no key, no poller')
  t.match(parseConfig(text, 'routes.yaml', { CIO_APP_API_KEY: 'app-key' }).reporting, { apiKey: 'app-key', baseUrl: 'https://api.customer.io' })
})

t.test("the chart's default config reads the CIO_APP_API_KEY its Deployments set from the Secret", async (t) => {
  const manifests = render()
  const configMap = find(manifests, 'ConfigMap')
  const text = (configMap.data as Record<string, string>)['routes.yaml'] ?? ''
  t.equal(parseConfig(text, 'routes.yaml', SECRETS).reporting, undefined, 'no key in the Secret, no poller')
  t.match(parseConfig(text, 'routes.yaml', { ...SECRETS, CIO_APP_API_KEY: 'app-key' }).reporting, { apiKey: 'app-key' })
  for (const role of ['ingest', 'worker']) {
    const deployment = find(manifests, 'Deployment', `cio-cio-gateway-${role}`)
    const container = (deployment.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0] as Container
    const key = container.env.find((entry) => entry.name === 'CIO_APP_API_KEY')?.valueFrom?.secretKeyRef
    t.match(key, { key: 'CIO_APP_API_KEY', optional: true }, `the ${role} pods get it from the Secret, optionally`)
  }
})
