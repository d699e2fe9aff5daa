/**
 * The BigQuery the end-to-end scenario delivers to: the tests' local stand-in for the REST API and
 * its token endpoint (test/helpers/bigquery-server.ts), run in the bench process. Each insertAll is
 * answered at once and only counted: rows, the time they arrived, and each row's receipt-to-delivery
 * lag (arrival minus the row's `received_at`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DATASET, PROJECT, startFakeBigQuery } from '../test/helpers/bigquery-server.js'

export interface Arrival {
  readonly at: number
  readonly rows: number
}

export interface BigQueryTarget {
  readonly url: string
  readonly keyFile: string
  readonly project: string
  readonly dataset: string
  readonly arrivals: Arrival[]
  /** Receipt-to-delivery lag of every row, in ms. */
  readonly lagsMs: number[]
  /** Distinct insertIds seen (rows sent twice count once). */
  readonly distinct: Set<string>
  rows: number
  /** Forgets what arrived so far (between phases). */
  reset (): void
  close (): Promise<void>
}

export async function startBigQueryTarget (): Promise<BigQueryTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'cio-bench-bigquery-'))
  const teardowns: (() => unknown)[] = []
  const fake = await startFakeBigQuery({ teardown: (fn) => { teardowns.push(fn) } }, dir)
  const target: BigQueryTarget = {
    url: fake.url,
    keyFile: fake.keyFile,
    project: PROJECT,
    dataset: DATASET,
    arrivals: [],
    lagsMs: [],
    distinct: new Set(),
    rows: 0,
    reset: () => {
      target.arrivals.length = 0
      target.lagsMs.length = 0
      target.distinct.clear()
      target.rows = 0
    },
    close: async () => {
      for (const teardown of teardowns) await teardown()
      rmSync(dir, { recursive: true, force: true })
    }
  }
  fake.answerInsert = (request) => {
    const now = Date.now()
    // Only counted, never kept: a long run would otherwise hold every row.
    fake.inserts.length = 0
    target.arrivals.push({ at: now, rows: request.rows.length })
    target.rows += request.rows.length
    for (const row of request.rows) {
      target.distinct.add(row.insertId)
      target.lagsMs.push(now - Date.parse(String(row.json.received_at)))
    }
    return undefined
  }
  return target
}
