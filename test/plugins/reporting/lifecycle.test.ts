import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, defaultYaml, eventually } from '../../helpers/app.js'
import { parseConfig } from '../../../src/config/load.js'
import { API_KEY, reportingYaml, startFakeAppApi } from './fixtures/fake-app-api.js'

for (const redis of [true, false]) {
  t.test(`${redis ? 'with Redis' : 'embedded'}: closing the app aborts a poll under way instead of waiting for it`, async (t) => {
    const api = await startFakeAppApi(t, { apiKey: API_KEY, campaigns: [], campaignSeries: () => ({}), hang: (path) => path === '/v1/campaigns' })
    const { app } = await build(t, { yaml: reportingYaml(api.url, { redis, interval: '1s' }) })
    await app.ready()
    await eventually(() => (api.requests.length > 0 ? true : undefined), 5000, 'the poll to start')
    const begin = Date.now()
    await app.close()
    const took = Date.now() - begin
    t.ok(took < 2000, `closed in ${took} ms though the API never answered (the timeout is 30 s)`)
    const requests = api.requests.length
    await sleep(1200)
    t.equal(api.requests.length, requests, 'no poll after close')
  })
}

t.test('without an api_key there is no poller', async (t) => {
  const api = await startFakeAppApi(t, { apiKey: API_KEY, campaigns: [], campaignSeries: () => ({}) })
  const yaml = defaultYaml({ redis: false }) + `\nreporting:\n  api_key: ""\n  base_url: "${api.url}"\n  interval: 500ms\n`
  const { app, config } = await build(t, { yaml })
  await app.ready()
  t.equal(config.reporting, undefined)
  await sleep(700)
  t.equal(api.requests.length, 0)
})

t.test('the region picks the API host; base_url overrides it', async (t) => {
  const withReporting = (lines: string): ReturnType<typeof parseConfig>['reporting'] =>
    parseConfig(defaultYaml({ redis: false }).replaceAll('{{dir}}', '/tmp/x').replaceAll('{{prefix}}', 'p') + `\nreporting:\n${lines}\n`, 'test.yaml', {}).reporting
  t.same(withReporting('  api_key: k'), { apiKey: 'k', baseUrl: 'https://api.customer.io', intervalMs: 600_000, lookbackDays: 7, requestTimeoutMs: 30_000 })
  t.equal(withReporting('  api_key: k\n  region: eu')?.baseUrl, 'https://api-eu.customer.io')
  t.equal(withReporting('  api_key: k\n  region: eu\n  base_url: "http://127.0.0.1:9"')?.baseUrl, 'http://127.0.0.1:9')
  t.equal(withReporting('  api_key: k\n  timeout: 5s')?.requestTimeoutMs, 5000)
  t.throws(() => withReporting('  api_key: k\n  region: ap'), /reporting\.region/)
})
