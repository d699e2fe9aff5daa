/**
 * What the reporting poller and the webhook counter share between processes: webhook counts per
 * campaign, day and metric; which report events were already emitted; and the last poll's results
 * (so every worker replica exposes the same gauges, not only the one that happened to poll).
 *
 * With Redis the state lives under `<prefix>:_reporting_state:` (sink names cannot start with `_`, so
 * these keys never meet a sink queue's; on a cluster the prefix is `{<queue.prefix>}`, one slot, so a
 * MULTI over several days' keys stays in it); in embedded mode it lives in memory.
 */
import { DAY_MS } from './days.js'
import type { RedisClient } from '../queue/redis-topology.js'

/** `<campaign_id>:<metric>` → webhooks accepted, for one UTC day. */
export type DayCounts = Map<string, number>

export interface ReportingSnapshot {
  /** When the poll ran, ms. */
  readonly polledAt: number
  /** When a poll last completed without errors, ms (0 before the first). */
  readonly lastSuccessAt: number
  /** [campaign_id, metric, value]: today's counts. */
  readonly campaignMetrics: ReadonlyArray<readonly [string, string, number]>
  /** [campaign_id, metric, gap] for the last complete UTC day. */
  readonly gaps: ReadonlyArray<readonly [string, string, number]>
}

export interface ReportingState {
  addReceived (counts: ReadonlyMap<string, ReadonlyMap<string, number>>): Promise<void>
  received (day: string): Promise<DayCounts>
  /** The ids among `ids` not yet marked emitted for `day`. */
  notEmitted (day: string, ids: readonly string[]): Promise<string[]>
  markEmitted (day: string, ids: readonly string[]): Promise<void>
  saveSnapshot (snapshot: ReportingSnapshot): Promise<void>
  loadSnapshot (): Promise<ReportingSnapshot | undefined>
  close (): Promise<void>
}

/** How long counts and emitted marks are kept: past any lookback (at most 90 days) is not needed. */
export interface StateRetention {
  readonly receivedDays: number
  readonly emittedDays: number
}

export class RedisReportingState implements ReportingState {
  private readonly base: string

  /** `client` fails fast while Redis is away (callers keep what they could not write); it is closed with the state. */
  constructor (private readonly client: RedisClient, prefix: string, private readonly retention: StateRetention) {
    this.client.on('error', () => { /* reported by the callers' failures; ioredis reconnects on its own */ })
    this.base = `${prefix}:_reporting_state`
  }

  async addReceived (counts: ReadonlyMap<string, ReadonlyMap<string, number>>): Promise<void> {
    const pipeline = this.client.multi()
    for (const [day, fields] of counts) {
      const key = `${this.base}:received:${day}`
      for (const [field, count] of fields) pipeline.hincrby(key, field, count)
      pipeline.pexpire(key, this.retention.receivedDays * DAY_MS)
    }
    checked(await pipeline.exec())
  }

  async received (day: string): Promise<DayCounts> {
    const hash = await this.client.hgetall(`${this.base}:received:${day}`)
    return new Map(Object.entries(hash).map(([field, count]) => [field, Number(count)]))
  }

  async notEmitted (day: string, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return []
    const member = await this.client.smismember(`${this.base}:emitted:${day}`, ...ids)
    return ids.filter((_id, index) => member[index] !== 1)
  }

  async markEmitted (day: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    const key = `${this.base}:emitted:${day}`
    checked(await this.client.multi().sadd(key, ...ids).pexpire(key, this.retention.emittedDays * DAY_MS).exec())
  }

  async saveSnapshot (snapshot: ReportingSnapshot): Promise<void> {
    await this.client.set(`${this.base}:snapshot`, JSON.stringify(snapshot))
  }

  async loadSnapshot (): Promise<ReportingSnapshot | undefined> {
    const text = await this.client.get(`${this.base}:snapshot`)
    return text === null ? undefined : JSON.parse(text) as ReportingSnapshot
  }

  async close (): Promise<void> {
    this.client.disconnect()
  }
}

export class MemoryReportingState implements ReportingState {
  private readonly counts = new Map<string, DayCounts>()
  private readonly emitted = new Map<string, Set<string>>()
  private snapshot: ReportingSnapshot | undefined

  constructor (private readonly retention: StateRetention, private readonly now: () => number = Date.now) {}

  async addReceived (counts: ReadonlyMap<string, ReadonlyMap<string, number>>): Promise<void> {
    for (const [day, fields] of counts) {
      let stored = this.counts.get(day)
      if (stored === undefined) this.counts.set(day, stored = new Map())
      for (const [field, count] of fields) stored.set(field, (stored.get(field) ?? 0) + count)
    }
    this.forgetOld(this.counts, this.retention.receivedDays)
  }

  async received (day: string): Promise<DayCounts> {
    return new Map(this.counts.get(day) ?? [])
  }

  async notEmitted (day: string, ids: readonly string[]): Promise<string[]> {
    const marked = this.emitted.get(day)
    return ids.filter((id) => marked?.has(id) !== true)
  }

  async markEmitted (day: string, ids: readonly string[]): Promise<void> {
    let marked = this.emitted.get(day)
    if (marked === undefined) this.emitted.set(day, marked = new Set())
    for (const id of ids) marked.add(id)
    this.forgetOld(this.emitted, this.retention.emittedDays)
  }

  async saveSnapshot (snapshot: ReportingSnapshot): Promise<void> {
    this.snapshot = snapshot
  }

  async loadSnapshot (): Promise<ReportingSnapshot | undefined> {
    return this.snapshot
  }

  async close (): Promise<void> {}

  private forgetOld (byDay: Map<string, unknown>, days: number): void {
    const oldest = new Date(this.now() - days * DAY_MS).toISOString().slice(0, 10)
    for (const day of byDay.keys()) if (day < oldest) byDay.delete(day)
  }
}

/** MULTI answers each command separately: a failed one must fail the write. */
function checked (results: Array<[Error | null, unknown]> | null): void {
  if (results === null) throw new Error('redis transaction was discarded')
  for (const [error] of results) if (error !== null) throw error
}
