/**
 * The Grafana dashboard: it has the panels the issue lists, every PromQL expression in it parses
 * (promtool), and every metric it reads — and every metric the alert rules read — is one a live
 * gateway's /metrics declares.
 */
import t, { type Test } from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { CHART_DIR, readYaml } from './helpers/chart.js'
import { exposedMetricNames, startGateway } from './helpers/gateway.js'
import { metricNames, substituteGrafanaVariables } from './helpers/promql.js'
import { requireTool, run } from './helpers/tools.js'

interface Target { expr: string, legendFormat?: string, datasource?: { uid: string } }
interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number, y: number, w: number, h: number }
  datasource?: { type: string, uid: string }
  targets?: Target[]
  fieldConfig?: { defaults?: { thresholds?: { steps: Array<{ value: number | null }> } } }
}
interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  templating: { list: Array<{ name: string, type: string, query: string | { query: string } }> }
}

const dashboard = JSON.parse(readFileSync(join(CHART_DIR, 'dashboards', 'cio-gateway.json'), 'utf8')) as Dashboard
const panels = dashboard.panels.filter((p) => p.type !== 'row')
const expressions = panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: p.title, expr: target.expr })))
/** Metric names in label_values(metric{...}, label) queries of the template variables. */
const variableQueries = dashboard.templating.list
  .filter((v) => v.type === 'query')
  .map((v) => ({ panel: `variable $${v.name}`, expr: (/label_values\(([^,]+),/.exec(typeof v.query === 'string' ? v.query : v.query.query) ?? [])[1] ?? '' }))

/** The metric names a live gateway declares, plus `up`, which Prometheus adds to every target. */
let exposed: Set<string> | undefined
async function liveMetricNames (t: Test): Promise<Set<string>> {
  if (exposed !== undefined) return exposed
  const gateway = await startGateway(t)
  const res = await fetch(`${gateway.managementUrl}/metrics`)
  t.equal(res.status, 200)
  exposed = exposedMetricNames(await res.text())
  exposed.add('up')
  return exposed
}

t.test('the dashboard is a Grafana dashboard with the panels the issue asks for', async (t) => {
  t.equal(dashboard.uid, 'cio-gateway')
  t.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'), 'a Prometheus data source variable')
  const ids = dashboard.panels.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const panel of panels) {
    t.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the 24-column grid`)
    t.equal(panel.datasource?.uid, '${datasource}', `${panel.title} uses the data source variable`)
    t.ok((panel.targets ?? []).length > 0, `${panel.title} has queries`)
  }
  const find = (title: RegExp): Panel => {
    const found = panels.filter((p) => title.test(p.title))
    t.equal(found.length, 1, `one panel matches ${String(title)}`)
    return found[0] as Panel
  }
  const exprsOf = (title: RegExp): string => (find(title).targets ?? []).map((x) => x.expr).join('\n')
  t.match(exprsOf(/^Events in by object type and metric$/), /sum by \(object_type, metric\) \(rate\(cio_gateway_events_received_total/)
  t.match(exprsOf(/^Rejects by reason$/), /by \(source, reason\) \(rate\(cio_gateway_events_rejected_total/)
  t.match(exprsOf(/^Duplicates/), /cio_gateway_events_duplicate_total/)
  const ack = find(/^Ack latency against the 4 s limit$/)
  t.match(exprsOf(/^Ack latency/), /histogram_quantile\(0\.5,[\s\S]*histogram_quantile\(0\.99,/)
  t.ok(ack.fieldConfig?.defaults?.thresholds?.steps.some((s) => s.value === 4), 'the 4 s limit is drawn')
  t.match(exprsOf(/^Queue depth per sink$/), /cio_gateway_queue_jobs/)
  t.match(exprsOf(/^Lag per sink/), /cio_gateway_event_lag_seconds_bucket/)
  t.match(exprsOf(/^Deliveries per sink$/), /cio_gateway_sink_events_delivered_total/)
  t.match(exprsOf(/^Errors per sink$/), /cio_gateway_sink_errors_total/)
  t.match(exprsOf(/^Dead letters per sink$/), /cio_gateway_sink_events_dead_lettered_total/)
  t.match(exprsOf(/^Since last poll$/), /cio_gateway_reporting_last_success_timestamp_seconds/)
  t.match(exprsOf(/^Reporting API requests$/), /cio_gateway_reporting_requests_total/)
  t.match(exprsOf(/^Reconciliation gap$/), /cio_gateway_reconciliation_gap/)
})

t.test('every PromQL expression of the dashboard parses (promtool check rules)', async (t) => {
  t.ok(expressions.length >= 20)
  const file = join(t.testdir(), 'dashboard-expressions.yaml')
  writeFileSync(file, stringify({
    groups: [{
      name: 'dashboard',
      rules: expressions.map((e, i) => ({ record: `dashboard:expression_${i}`, expr: substituteGrafanaVariables(e.expr) }))
    }]
  }))
  const result = run(requireTool('promtool'), ['check', 'rules', file])
  t.equal(result.status, 0, result.stdout + result.stderr)
  t.match(result.stdout, new RegExp(`SUCCESS: ${expressions.length} rules found`))
})

t.test('the metric-name extraction finds metrics and nothing else', async (t) => {
  t.same(metricNames('histogram_quantile(0.99, sum by (le) (rate(cio_gateway_ingest_duration_seconds_bucket{namespace=~"a|b"}[5m])))'), ['cio_gateway_ingest_duration_seconds_bucket'])
  t.same(metricNames('time() - max by (namespace, job) (x_seconds) > 3600 and (sum without (pod, status) (y_total offset 1h) > 0) unless on(sink) z'), ['x_seconds', 'y_total', 'z'])
  t.same(metricNames('up{job="cio-gateway"} == 0 or absent(up{job="cio-gateway"})'), ['up'])
  t.same(metricNames('max(cio_gateway_nodejs_eventloop_lag_p99_seconds) / 1e3'), ['cio_gateway_nodejs_eventloop_lag_p99_seconds'])
})

t.test('every metric the dashboard reads is declared by a live gateway', async (t) => {
  const live = await liveMetricNames(t)
  t.ok(live.has('cio_gateway_events_received_total'), 'the scrape is the gateway\'s')
  for (const { panel, expr } of [...expressions, ...variableQueries]) {
    const names = metricNames(substituteGrafanaVariables(expr))
    t.ok(names.length > 0, `${panel}: reads a metric`)
    for (const name of names) t.ok(live.has(name), `${panel}: ${name} is exposed`)
  }
})

t.test('every metric the alert rules read is declared by a live gateway', async (t) => {
  const live = await liveMetricNames(t)
  const rules = (readYaml(join(CHART_DIR, 'rules', 'alerts.yaml')) as { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> }).groups.flatMap((g) => g.rules)
  for (const rule of rules) {
    const names = metricNames(rule.expr)
    t.ok(names.length > 0, `${rule.alert}: reads a metric`)
    for (const name of names) t.ok(live.has(name), `${rule.alert}: ${name} is exposed`)
  }
})
