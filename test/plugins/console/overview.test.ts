/**
 * The overview (SPEC §12): readiness and the embedded warning, per sink the events waiting and how
 * long the oldest has waited, the last config reload and how it ended, and the reconciliation gaps
 * of this process's last poll (against a local stand-in of the App API).
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build, eventually } from '../../helpers/app.js'
import { signedHeaders } from '../../helpers/sign.js'
import { API_KEY, reportingYaml, startFakeAppApi } from '../reporting/fixtures/fake-app-api.js'
import { ConsoleClient, TOKEN, consoleOf, consoleYaml } from './helpers.js'

const sinkRow = (page: string, sink: string): string => new RegExp(`<tr>\\s*<td><a href="/admin/ui/dead-letters/${sink}">[\\s\\S]*?</tr>`).exec(page)?.[0] ?? ''

t.test('redis, role ingest: events waiting per sink and the oldest one\'s age; the last reload, applied then refused', async (t) => {
  const built = await build(t, { yaml: consoleYaml({ redis: true }), role: 'ingest' })
  for (const id of ['W-1', 'W-2', 'W-3']) {
    const body = JSON.stringify({ event_id: id, object_type: 'email', metric: 'sent', timestamp: 1_750_000_000, data: {} })
    await built.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
  }
  const client = await ConsoleClient.logIn(consoleOf(built))
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const page = (await client.get('/admin/ui')).body
  t.match(page, /<dt>Readiness<\/dt><dd><span class="badge ok">ready<\/span> config loaded, queue answers<\/dd>/)
  t.match(page, new RegExp(`<dt>Queue</dt><dd>Redis node, prefix ${built.prefix}</dd>`))
  t.match(page, /<dt>Process<\/dt><dd>role ingest, up [0-9]+ s, config test\.yaml<\/dd>/)
  t.notMatch(page, /Embedded queue/, 'no embedded warning on Redis')
  t.match(sinkRow(page, 'local'), /<td class="n">3<\/td><td class="n">0<\/td><td class="n">0<\/td>\s*<td class="n"><a href="\/admin\/ui\/dead-letters\/local">0<\/a><\/td>\s*<td>[12] s<\/td>/,
    'three events waiting (three jobs, counted exactly), none delayed or dead, the oldest for a second or two')
  t.match(page, /<dt>Last config reload<\/dt><dd>none since the process started<\/dd>/)
  t.match(page, /Off: no <code>reporting\.api_key<\/code> is configured/)

  const file = join(built.dir, 'routes.yaml')
  writeFileSync(file, consoleYaml({ redis: true }).replaceAll('{{dir}}', built.dir).replaceAll('{{redis}}', built.config.queue.redis?.kind === 'single' ? built.config.queue.redis.url : '').replaceAll('{{prefix}}', built.prefix) +
    '\n  - { name: again, match: { metric: sent }, sinks: [local] }\n')
  t.match(await built.app.configReloader.reloadFile(file, 'signal'), { result: 'success' })
  t.match((await client.get('/admin/ui')).body, /<dd><span class="badge ok">applied<\/span> 20[0-9-]+ [0-9:]+ UTC \(signal\): sinks added none, changed none, removed none; 2 routes<\/dd>/)
  writeFileSync(file, 'sinks: [not, a, map\n')
  t.match(await built.app.configReloader.reloadFile(file, 'file'), { result: 'failure' })
  const refused = (await client.get('/admin/ui')).body
  t.match(refused, /<span class="badge bad">refused<\/span> 20[0-9-]+ [0-9:]+ UTC \(file\), still running the previous configuration:/)
  t.match(refused, /<ul class="errors"><li><code>[^<]*routes\.yaml:[0-9]+:[0-9]+[^<]*<\/code><\/li>/, 'each error, with its place')
})

t.test('embedded: the warning on every page; reconciliation gaps of this process\'s poll, with their likely cause', async (t) => {
  const api = await startFakeAppApi(t, {
    apiKey: API_KEY,
    campaigns: [{ id: 7, name: 'Welcome', state: 'running' }],
    campaignSeries: (_id, days) => ({ delivered: days.map(() => 40), sent: days.map(() => 0) })
  })
  const built = await build(t, { yaml: `\nadmin: { token: "${TOKEN}" }\n${reportingYaml(api.url, { redis: false, interval: '1s', lookback: 3 })}` })
  await built.app.ready()
  const client = await ConsoleClient.logIn(consoleOf(built))
  for (const url of ['/admin/ui', '/admin/ui/dead-letters', '/admin/ui/tail']) {
    t.match((await client.get(url)).body, /<p class="banner warning" role="alert">Embedded queue: events are kept in memory only and are lost if this process stops\./, url)
  }
  const page = await eventually(async () => {
    const body = (await client.get('/admin/ui')).body
    return body.includes("This process's poll at") ? body : undefined
  }, 15_000, 'a poll shown on the overview')
  t.match(page, /[0-9]+ rows compared, [1-9][0-9]* gaps? over the limit/)
  t.match(page, /<tr class="bad"><td>campaign<\/td><td class="n">7<\/td><td>20[0-9-]+<\/td><td>delivered<\/td>\s*<td class="n">40<\/td><td class="n">0<\/td><td class="n">40<\/td>\s*<td title="Customer\.io counted events the gateway did not accept[^"]*">missing_webhooks<\/td><\/tr>/,
    'a gap over the limit: 40 delivered, no webhook received')
})
