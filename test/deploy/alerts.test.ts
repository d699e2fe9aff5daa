/**
 * The alert rules with Prometheus's own tooling: `promtool check rules` on the rule file and on
 * what the chart's PrometheusRule deploys, `promtool test rules` on test/deploy/alerts.promtest.yaml,
 * and a check that every alert has a unit test where it fires and one where it stays quiet.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { CHART_DIR, ROOT, find, readYaml, render } from './helpers/chart.js'
import { requireTool, run } from './helpers/tools.js'

const RULES = join(CHART_DIR, 'rules', 'alerts.yaml')
const UNIT_TESTS = join(ROOT, 'test', 'deploy', 'alerts.promtest.yaml')

interface RuleFile { groups: Array<{ name: string, rules: Array<{ alert?: string, record?: string, expr: string, labels?: Record<string, string>, annotations?: Record<string, string> }> }> }
interface UnitTests { rule_files: string[], tests: Array<{ name: string, alert_rule_test?: Array<{ alertname: string, exp_alerts: unknown[] }> }> }

const ALERTS_ASKED_FOR = {
  'signature failures for 5 minutes': 'CioGatewaySignatureFailures',
  'ingest answering 503': 'CioGatewayIngestUnavailable',
  'acks without the replicas replicas_ack asks for': 'CioGatewayReplicationDegraded',
  'ack p99 over 1 s': 'CioGatewayAckLatencyHigh',
  'dead letters growing': 'CioGatewayDeadLettersGrowing',
  'quarantined bodies dropped': 'CioGatewayQuarantineDropping',
  'sink lag over 15 minutes (delivered late)': 'CioGatewaySinkLagHigh',
  'sink lag over 15 minutes (nothing delivered)': 'CioGatewaySinkStalled',
  'poller stale': 'CioGatewayPollerStale',
  'gateway down': 'CioGatewayDown',
  'gateway gone from Prometheus': 'CioGatewayAbsent'
}

t.test('promtool check rules accepts the rule file', async (t) => {
  const result = run(requireTool('promtool'), ['check', 'rules', RULES])
  t.equal(result.status, 0, result.stdout + result.stderr)
  t.match(result.stdout, /SUCCESS: 11 rules found/)
})

t.test('promtool check rules accepts what the chart deploys, custom groups included', async (t) => {
  const rule = find(render({ valuesFiles: [join(ROOT, 'helm', 'ci', 'full-values.yaml')] }), 'PrometheusRule')
  const file = join(t.testdir(), 'deployed-rules.yaml')
  writeFileSync(file, stringify(rule.spec))
  const result = run(requireTool('promtool'), ['check', 'rules', file])
  t.equal(result.status, 0, result.stdout + result.stderr)
  t.match(result.stdout, /SUCCESS: 11 rules found/, 'ten of ours (one disabled) and one custom')
})

t.test('promtool check rules would catch a broken rule (the check is not a no-op)', async (t) => {
  const file = join(t.testdir(), 'broken.yaml')
  writeFileSync(file, stringify({ groups: [{ name: 'x', rules: [{ alert: 'Broken', expr: 'sum(rate(cio_gateway_events_received_total[5m])' }] }] }))
  const result = run(requireTool('promtool'), ['check', 'rules', file])
  t.not(result.status, 0)
})

t.test('every alert the issue asks for exists, with a severity, a summary and a description', async (t) => {
  const rules = (readYaml(RULES) as RuleFile).groups.flatMap((g) => g.rules)
  t.same(rules.map((r) => r.alert).sort(), Object.values(ALERTS_ASKED_FOR).sort())
  for (const rule of rules) {
    t.match(rule.labels?.severity, /^(critical|warning)$/, `${rule.alert} severity`)
    t.ok((rule.annotations?.summary ?? '').length > 10, `${rule.alert} summary`)
    t.ok((rule.annotations?.description ?? '').length > 30, `${rule.alert} description`)
  }
  const signature = rules.find((r) => r.alert === 'CioGatewaySignatureFailures')
  t.equal((signature as { for?: string } | undefined)?.for, '5m')
  t.match(rules.find((r) => r.alert === 'CioGatewayAckLatencyHigh')?.expr, /histogram_quantile\(0\.99,[\s\S]*\) > 1\s*$/)
  t.match(rules.find((r) => r.alert === 'CioGatewaySinkLagHigh')?.expr, /> 900\s*$/)
})

t.test('every alert has a promtool unit test where it fires and one where it does not', async (t) => {
  const tests = readYaml(UNIT_TESTS) as UnitTests
  t.same(tests.rule_files, ['../../helm/cio-gateway/rules/alerts.yaml'])
  const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? [])
  for (const alert of Object.values(ALERTS_ASKED_FOR)) {
    t.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires in a test`)
    t.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays quiet in a test`)
  }
})

t.test('promtool test rules passes', async (t) => {
  const result = run(requireTool('promtool'), ['test', 'rules', UNIT_TESTS], { cwd: join(ROOT, 'test', 'deploy') })
  t.equal(result.status, 0, result.stdout + result.stderr)
  t.match(result.stdout, /SUCCESS/)
})
