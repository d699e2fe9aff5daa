/**
 * kill -9 of ingest and worker processes under load never loses an acked event (SPEC §5).
 * CI runs it for CHAOS_SECONDS (default 40); `npm run test:chaos` runs it for 5 minutes.
 */
import t from 'tap'
import { runChaos } from './chaos-runner.js'

const seconds = Number(process.env.CHAOS_SECONDS ?? 40)
// The run, the drain after it (up to 90 s) and start-up: the suite's 300 s per file is too short for
// `npm run test:chaos`, whose run alone lasts 300 s.
t.setTimeout((seconds + 180) * 1000)

t.test('kill -9 under load: every acked event reaches both sinks', async (t) => {
  const report = await runChaos({ seconds, rate: 150, killEvery: [1000, 4000], log: (line) => t.comment(line) })
  t.comment(`chaos report: ${JSON.stringify(report)}`)
  t.ok(report.kills.ingest >= 1 && report.kills.worker >= 1 && report.kills.ingest + report.kills.worker >= 3, `killed ${report.kills.ingest} ingest and ${report.kills.worker} worker processes`)
  t.ok(report.acked > seconds * 10, `${report.acked} events acked`)
  t.equal(report.lost.file, 0, 'no acked event missing from the file sink')
  t.equal(report.lost.webhook, 0, 'no acked event missing from the webhook receiver')
  t.equal(report.tornLines, 0, 'no torn NDJSON line')
  t.equal(report.answers['200 accepted'] !== undefined && Object.keys(report.answers).every((answer) => ['200 accepted', '200 duplicate', '503', 'connection error'].includes(answer)), true,
    `only 200, 503 or a refused connection: ${JSON.stringify(report.answers)}`)
})
