/**
 * What the reporting poller, the webhook counter and `cio-gateway reconcile` share between
 * processes: webhook counts per day and field; which report events were already emitted; and the
 * last poll's results (so every worker replica exposes the same gauges, not only the one that
 * happened to poll).
 *
 * With Redis the state lives under `<queue.prefix>:_reporting_state:` (sink names cannot start with
 * `_`, so these keys never meet a sink queue's); in embedded mode it lives in memory. Every Redis
 * key and connection of the state is made in this file: `stateKey` names the keys (a transaction
 * only ever spans keys of one state, under one prefix) and `openReportingState` the connection.
 */
import { DAY_MS } from './days.js'
import type { QueueConfig } from '../../src/config/types.js'
import { keyspaceOf } from '../queue/create.js'
import { RedisTopology, closeClient, waitForConnection, type RedisClient } from '../queue/redis-topology.js'
import { withTimeout } from '../queue/timeout.js'

/** Field (what the counter wrote, see reconciliation.ts) → webhooks accepted, for one day. */
export type DayCounts = ReadonlyMap<string, number>

export interface ReportingSnapshot {
  /** When the poll ran, ms. */
  readonly polledAt: number
  /** When a poll last completed without errors, ms (0 before the first). */
  readonly lastSuccessAt: number
  /** [campaign_id, metric, value]: today's counts. */
  readonly campaignMetrics: ReadonlyArray<readonly [string, string, number]>
  /** [campaign_id, metric, gap] for the last complete UTC day. */
  readonly gaps: ReadonlyArray<readonly [string, string, number]>
  /** [newsletter_id, metric, gap] for the last complete EST day; absent in snapshots of older versions. */
  readonly newsletterGaps?: ReadonlyArray<readonly [string, string, number]>
  /** [broadcast_id, metric, gap] for the last complete EST day; absent in snapshots of older versions. */
  readonly broadcastGaps?: ReadonlyArray<readonly [string, string, number]>
}

export interface ReportingState {
  /** Resolves once the state can be read and written; rejects, saying why, when it cannot be reached within a few seconds. */
  ready (): Promise<void>
  /** day → field → webhooks to add. */
  addReceived (counts: ReadonlyMap<string, ReadonlyMap<string, number>>): Promise<void>
  /** The counts of each of `days` (an empty map for a day without any). */
  received (days: readonly string[]): Promise<Map<string, DayCounts>>
  /** The ids among `ids` not yet marked emitted for `day`. */
  notEmitted (day: string, ids: readonly string[]): Promise<string[]>
  markEmitted (day: string, ids: readonly string[]): Promise<void>
  saveSnapshot (snapshot: ReportingSnapshot): Promise<void>
  loadSnapshot (): Promise<ReportingSnapshot | undefined>
  close (): Promise<void>
}

/** How long counts and emitted marks are kept: a few days past the lookback, which they serve. */
export interface StateRetention {
  readonly receivedDays: number
  readonly emittedDays: number
}

/** The retention a lookback needs: the counts and marks of every day it compares or emits, and two more. */
export function retentionFor (lookbackDays: number): StateRetention {
  return { receivedDays: lookbackDays + 2, emittedDays: lookbackDays + 2 }
}

/** Where the state lives: the queue's Redis, or this process's memory (embedded mode, where `now` dates what is old). */
export function openReportingState (queue: QueueConfig, retention: StateRetention, now: () => number = Date.now): ReportingState {
  if (queue.redis === undefined) return new MemoryReportingState(retention, now)
  // Like the ingest connection, it fails fast while Redis is away: callers keep what they could not
  // write. On a cluster the prefix carries one hash tag, so a transaction over several keys stays in one slot.
  return new RedisReportingState(new RedisTopology(queue.redis).client('state'), keyspaceOf(queue).globalPrefix, retention)
}

/** How long `ready()` waits for Redis. */
const READY_WAIT_MS = 3000

/** The name of one of the state's keys. */
function stateKey (prefix: string, ...parts: string[]): string {
  return [prefix, '_reporting_state', ...parts].join(':')
}

export class RedisReportingState implements ReportingState {
  /** `client` is the state's own: it is closed with the state. */
  constructor (private readonly client: RedisClient, private readonly prefix: string, private readonly retention: StateRetention) {
    this.client.on('error', () => { /* reported by the callers' failures; ioredis reconnects on its own */ })
  }

  async ready (): Promise<void> {
    // The connection's own error (ECONNREFUSED, a wrong password) says more than a timeout.
    let cause: Error | undefined
    const onError = (error: Error): void => { cause = error }
    this.client.on('error', onError)
    try {
      await withTimeout(waitForConnection(this.client), READY_WAIT_MS, `not connected after ${READY_WAIT_MS} ms`)
    } catch (error) {
      throw cause ?? error
    } finally {
      this.client.off('error', onError)
    }
  }

  async addReceived (counts: ReadonlyMap<string, ReadonlyMap<string, number>>): Promise<void> {
    const pipeline = this.client.multi()
    for (const [day, fields] of counts) {
      const key = stateKey(this.prefix, 'received', day)
      for (const [field, count] of fields) pipeline.hincrby(key, field, count)
      pipeline.pexpire(key, this.retention.receivedDays * DAY_MS)
    }
    checked(await pipeline.exec())
  }

  async received (days: readonly string[]): Promise<Map<string, DayCounts>> {
    const pipeline = this.client.pipeline()
    for (const day of days) pipeline.hgetall(stateKey(this.prefix, 'received', day))
    const results = checked(await pipeline.exec())
    return new Map(days.map((day, index) => {
      const hash = (results[index] ?? {}) as Record<string, string>
      return [day, new Map(Object.entries(hash).map(([field, count]) => [field, Number(count)]))]
    }))
  }

  async notEmitted (day: string, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return []
    const member = await this.client.smismember(stateKey(this.prefix, 'emitted', day), ...ids)
    return ids.filter((_id, index) => member[index] !== 1)
  }

  async markEmitted (day: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    const key = stateKey(this.prefix, 'emitted', day)
    checked(await this.client.multi().sadd(key, ...ids).pexpire(key, this.retention.emittedDays * DAY_MS).exec())
  }

  async saveSnapshot (snapshot: ReportingSnapshot): Promise<void> {
    await this.client.set(stateKey(this.prefix, 'snapshot'), JSON.stringify(snapshot))
  }

  async loadSnapshot (): Promise<ReportingSnapshot | undefined> {
    const text = await this.client.get(stateKey(this.prefix, 'snapshot'))
    return text === null ? undefined : JSON.parse(text) as ReportingSnapshot
  }

  async close (): Promise<void> {
    await closeClient(this.client)
  }
}

export class MemoryReportingState implements ReportingState {
  private readonly counts = new Map<string, Map<string, number>>()
  private readonly emitted = new Map<string, Set<string>>()
  private snapshot: ReportingSnapshot | undefined

  constructor (private readonly retention: StateRetention, private readonly now: () => number = Date.now) {}

  async ready (): Promise<void> {}

  async addReceived (counts: ReadonlyMap<string, ReadonlyMap<string, number>>): Promise<void> {
    for (const [day, fields] of counts) {
      let stored = this.counts.get(day)
      if (stored === undefined) this.counts.set(day, stored = new Map())
      for (const [field, count] of fields) stored.set(field, (stored.get(field) ?? 0) + count)
    }
    this.forgetOld(this.counts, this.retention.receivedDays)
  }

  async received (days: readonly string[]): Promise<Map<string, DayCounts>> {
    return new Map(days.map((day) => [day, new Map(this.counts.get(day) ?? [])]))
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

/** MULTI and pipelines answer each command separately: a failed one must fail the call. Returns the values. */
function checked (results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new Error('redis transaction was discarded')
  for (const [error] of results) if (error !== null) throw error
  return results.map(([, value]) => value)
}
