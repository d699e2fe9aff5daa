/**
 * A real Prometheus (Debian's `prometheus`) scrapes a running gateway's management listener (the
 * port the chart's ServiceMonitor scrapes) under the job name the ServiceMonitor gives it, loads the
 * chart's alert rules, and answers queries about a signed event.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { stringify } from 'yaml'
import { CHART_DIR, readYaml } from './helpers/chart.js'
import { freePort, postSignedEvent, startGateway } from './helpers/gateway.js'
import { startService } from './helpers/service.js'
import { requireTool } from './helpers/tools.js'

interface QueryResult { status: string, data: { resultType: string, result: Array<{ metric: Record<string, string>, value: [number, string] }> } }

async function startPrometheus (t: Test, target: string): Promise<{ url: string, output: () => string }> {
  const binary = requireTool('prometheus')
  const dir = mkdtempSync(join(tmpdir(), 'cio-gw-prometheus-'))
  const config = join(dir, 'prometheus.yml')
  writeFileSync(config, stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [join(CHART_DIR, 'rules', 'alerts.yaml')],
    scrape_configs: [{ job_name: 'cio-gateway', static_configs: [{ targets: [target] }] }]
  }))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const { output } = await startService(t, {
    name: 'prometheus',
    command: binary,
    args: [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    dir,
    readyUrl: `${url}/-/ready`,
    timeoutMs: 30_000,
    pollMs: 200
  })
  return { url, output }
}

async function query (prometheus: string, promql: string): Promise<QueryResult> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`)
  return await res.json() as QueryResult
}

/** Polls an instant query until it returns a sample matching `accept`, for up to 30 s. */
async function eventually (prometheus: string, promql: string, accept: (r: QueryResult) => boolean): Promise<QueryResult> {
  const deadline = Date.now() + 30_000
  let last: QueryResult | undefined
  while (Date.now() < deadline) {
    last = await query(prometheus, promql)
    if (last.status === 'success' && accept(last)) return last
    await sleep(500)
  }
  throw new Error(`no accepted answer to ${promql} within 30 s; last: ${JSON.stringify(last)}`)
}

t.test('Prometheus scrapes the gateway and returns cio_gateway_events_received_total after a signed event', async (t) => {
  const gateway = await startGateway(t)
  t.equal((await fetch(`${gateway.url}/metrics`)).status, 404, 'no /metrics on the webhook listener')
  const prometheus = await startPrometheus(t, `127.0.0.1:${gateway.managementPort}`)

  const up = await eventually(prometheus.url, 'up{job="cio-gateway"}', (r) => r.data.result.some((s) => s.value[1] === '1'))
  t.equal(up.data.result.length, 1, 'one target, up')

  const res = await postSignedEvent(gateway.url, { event_id: '01HDEPLOYTESTPROMETHEUS01', object_type: 'email', metric: 'sent', timestamp: 1700000000, data: {} })
  t.equal(res.status, 200)
  t.same(await res.json(), { status: 'accepted' })

  const received = await eventually(prometheus.url, 'cio_gateway_events_received_total', (r) => r.data.result.some((s) => Number(s.value[1]) >= 1))
  const sample = received.data.result.find((s) => Number(s.value[1]) >= 1)
  t.match(sample?.metric, { __name__: 'cio_gateway_events_received_total', job: 'cio-gateway', source: 'customerio', object_type: 'email', metric: 'sent' })
  t.equal(sample?.value[1], '1')

  // The dashboard's and the alerts' view of the same event.
  const rate = await eventually(prometheus.url, 'sum by (object_type, metric) (increase(cio_gateway_events_received_total[1m]))', (r) => r.data.result.length > 0)
  t.match(rate.data.result[0]?.metric, { object_type: 'email', metric: 'sent' })
  const latency = await eventually(prometheus.url, 'sum(cio_gateway_ingest_duration_seconds_count{source="customerio"})', (r) => Number(r.data.result[0]?.value[1]) >= 1)
  t.ok(latency)

  // Prometheus loaded the chart's rules and evaluates them without errors.
  const rules = await (await fetch(`${prometheus.url}/api/v1/rules`)).json() as { data: { groups: Array<{ name: string, rules: Array<{ name: string, health: string, lastError?: string }> }> } }
  const group = rules.data.groups.find((g) => g.name === 'cio-gateway')
  const file = readYaml(join(CHART_DIR, 'rules', 'alerts.yaml')) as { groups: Array<{ rules: Array<{ alert: string }> }> }
  t.same(group?.rules.map((r) => r.name), file.groups.flatMap((g) => g.rules.map((r) => r.alert)), 'every alert of the rule file is loaded')
  let unhealthy: unknown[] = ['not evaluated yet']
  const deadline = Date.now() + 15_000
  while (unhealthy.length > 0 && Date.now() < deadline) {
    const now = await (await fetch(`${prometheus.url}/api/v1/rules`)).json() as typeof rules
    unhealthy = now.data.groups.find((g) => g.name === 'cio-gateway')?.rules.filter((r) => r.health !== 'ok') ?? ['group missing']
    if (unhealthy.length > 0) await sleep(500)
  }
  t.same(unhealthy, [], 'every rule evaluates healthy')
  const firing = await query(prometheus.url, 'ALERTS{alertstate="firing"}')
  t.same(firing.data.result, [], 'a healthy gateway fires no alert')
})
