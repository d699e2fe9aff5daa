import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, eventually, sampleValue, type Built } from '../../helpers/app.js'
import { deleteKeys, uniquePrefix } from '../../helpers/redis.js'
import { API_KEY, reportingYaml, startFakeAppApi } from './fixtures/fake-app-api.js'

const pollsBy = async (built: Built): Promise<number> =>
  await sampleValue(built.registry, 'cio_gateway_reporting_requests_total', { endpoint: '/v1/campaigns' })

t.test('two gateway processes sharing one Redis poll once per interval between them, and one takes over when the other stops', async (t) => {
  const shared = uniquePrefix('replicas')
  // Registered first, so it runs last: after both apps have closed.
  t.teardown(async () => { await deleteKeys(shared) })
  const api = await startFakeAppApi(t, {
    apiKey: API_KEY,
    campaigns: [{ id: 1, name: 'Welcome', state: 'running' }],
    campaignSeries: (_id, days) => ({ delivered: days.map((_day, index) => 40 + index) })
  })
  const yaml = reportingYaml(api.url, { redis: true, interval: '1s' }).replaceAll('{{prefix}}', shared)
  const replicas = [await build(t, { yaml }), await build(t, { yaml })] as const
  const begin = Date.now()
  await Promise.all(replicas.map(async (replica) => await replica.app.ready()))
  await sleep(3500)

  // Whichever replica polled, both expose the results: today's value is the 7th of 40, 41, …
  for (const [index, replica] of replicas.entries()) {
    await eventually(async () => ((await sampleValue(replica.registry, 'cio_gateway_campaign_metric', { campaign_id: '1', metric: 'delivered' })) === 46 ? true : undefined),
      3000, `replica ${index}'s campaign gauge`)
    t.ok(await sampleValue(replica.registry, 'cio_gateway_reporting_last_success_timestamp_seconds') > begin / 1000, `replica ${index} shows the last success`)
  }

  // Stop a replica that has been polling; the other carries on with the same schedule.
  const counts = await Promise.all(replicas.map(pollsBy))
  const [stopped, survivor] = (counts[0] as number) > 0 ? [replicas[0], replicas[1]] : [replicas[1], replicas[0]]
  const survivorBefore = await pollsBy(survivor)
  await stopped.app.close()
  await sleep(3000)
  const elapsed = Date.now() - begin

  const polls = api.requests.filter((request) => request.path === '/v1/campaigns').map((request) => request.at)
  const intervals = Math.floor(elapsed / 1000) + 1
  t.ok(polls.length >= intervals - 2 && polls.length <= intervals, `${polls.length} polls in ${elapsed} ms at one per second (at most ${intervals})`)
  const spacing = polls.slice(1).map((at, index) => at - (polls[index] as number))
  t.ok(spacing.every((gap) => gap >= 500), `polls are an interval apart, never two at once: ${spacing.join(', ')} ms`)
  // A replica counts a request when its answer arrives: the one the stop aborted, and one under way now, are not counted.
  const made = await Promise.all(replicas.map(pollsBy))
  const uncounted = polls.length - (made[0] as number) - (made[1] as number)
  t.ok(uncounted >= 0 && uncounted <= 2, `the polls the API saw were made by the replicas (${made.join(' + ')} answered of ${polls.length})`)
  t.ok((await pollsBy(survivor)) - survivorBefore >= 2, `the surviving replica took over (${(await pollsBy(survivor)) - survivorBefore} polls since)`)
})
