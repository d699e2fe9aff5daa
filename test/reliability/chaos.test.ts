/**
 * kill -9 of ingest and worker processes under load never loses an acked event (SPEC §5).
 * CI runs it for CHAOS_SECONDS (default 40); `npm run test:chaos` runs it for 5 minutes.
 */
import t, { type Test } from 'tap'
import { runChaos, type ChaosReport } from './chaos-runner.js'
import { startCluster } from '../helpers/topology.js'

const seconds = Number(process.env.CHAOS_SECONDS ?? 40)
const clusterSeconds = Math.max(20, Math.round(seconds / 2))
// Each run, the drain after it (up to 90 s) and start-up: the suite's 300 s per file is too short for
// `npm run test:chaos`, whose first run alone lasts 300 s.
t.setTimeout((seconds + clusterSeconds + 300) * 1000)

function judge (t: Test, seconds: number, report: ChaosReport): void {
  t.comment(`chaos report: ${JSON.stringify(report)}`)
  t.ok(report.kills.ingest >= 1 && report.kills.worker >= 1 && report.kills.ingest + report.kills.worker >= 3, `killed ${report.kills.ingest} ingest and ${report.kills.worker} worker processes`)
  t.ok(report.acked > seconds * 10, `${report.acked} events acked`)
  t.equal(report.lost.file, 0, 'no acked event missing from the file sink')
  t.equal(report.lost.webhook, 0, 'no acked event missing from the webhook receiver')
  t.equal(report.tornLines, 0, 'no torn NDJSON line')
  t.equal(report.answers['200 accepted'] !== undefined && Object.keys(report.answers).every((answer) => ['200 accepted', '200 duplicate', '503', 'connection error'].includes(answer)), true,
    `only 200, 503 or a refused connection: ${JSON.stringify(report.answers)}`)
}

t.test('kill -9 under load: every acked event reaches both sinks', async (t) => {
  judge(t, seconds, await runChaos({ seconds, rate: 150, killEvery: [1000, 4000], log: (line) => t.comment(line) }))
})

// The same on a Redis Cluster (3 masters, 3 replicas, 48 shards): events spread over every master.
t.test('kill -9 under load on a Redis Cluster: every acked event reaches both sinks', async (t) => {
  const cluster = await startCluster(t)
  judge(t, clusterSeconds, await runChaos({
    seconds: clusterSeconds, rate: 150, killEvery: [1000, 4000], redis: `redis_cluster: { nodes: ${JSON.stringify(cluster.urls.slice(0, 2))} }`, log: (line) => t.comment(line)
  }))
})
