/**
 * The ingest write of the Redis backend, with the writes of concurrent requests merged.
 *
 * Every request that reaches `enqueue` during one turn of the event loop joins one batch; the batch
 * is cut by shard (keyspace.ts: one on a single node or Sentinel) and each shard's part is one call
 * of the batch script (ingest-script.ts), the calls sent in parallel. A busy gateway thus makes one
 * Redis round trip per shard and turn instead of one per request. Semantics stay those of one write
 * per request:
 *   - an event's dedupe check and its jobs (one per routed sink) are written together by a script,
 *     and Redis runs a script alone: concurrent copies of one event (always in the same shard) see
 *     all of the other's jobs or none;
 *   - a shard's call that fails as a whole (Redis away, no answer in time) fails every request in
 *     it, and nothing of it was written, so no dedupe mark stays behind;
 *   - with `replicas_ack`, a WAIT follows the script on the same connection (one round trip, a
 *     pipeline): the shard's requests are answered only once that many replicas hold the write, and
 *     rejected (503) when they do not confirm it in time;
 *   - results map back per request: `accepted`, `duplicate`, or an error for that request alone (a
 *     queue whose keys are broken in Redis).
 *
 * The job's data JSON (which holds the whole body as a string) is serialised once per event for all
 * its sinks, and each sink's encoded options once per sink and shard.
 */
import { randomBytes } from 'node:crypto'
import { Job, type JobsOptions, type Queue } from 'bullmq'
import type { Cluster, Redis } from 'ioredis'
import { EVENT_JOB_NAME, type EnqueueRequest, type IngestOutcome, type SinkQueueSettings } from './backend.js'
import {
  ERROR_PREFIX, INGEST_BATCH_LUA, MAX_EVENTS_PER_JOB, batchArguments, groupsNeeded, type BatchEvent, type BatchQueue, type BatchResult, type QueueTarget
} from './ingest-script.js'
import type { Keyspace } from './keyspace.js'
import { withTimeout } from './timeout.js'

type ScriptClient = Redis | Cluster
type BatchScript = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<BatchResult[]>

/** Requests merged into one batch at most; more wait for the next one (in the same turn). */
const MAX_REQUESTS_PER_BATCH = 256
const SCRIPT_COMMAND = 'cioIngestBatch'
/**
 * Longest WAIT for replicas. A healthy replica confirms within a millisecond or two; a WAIT that runs
 * long holds the producer's connection to that primary (Redis answers nothing else on it meanwhile),
 * so it is kept well inside the write's deadline.
 */
const WAIT_TIMEOUT_MS = 500

interface Pending {
  readonly request: EnqueueRequest
  readonly resolve: (outcome: IngestOutcome) => void
  readonly reject: (error: Error) => void
}

/** How many replicas must confirm a shard's write before its requests are answered. */
export interface ReplicaRequirement {
  /** Replicas to WAIT for (0: none). */
  readonly wait: number
  /** True when fewer than `replicas_ack` are connected, so the write is acked with fewer. */
  readonly degraded: boolean
}

export interface MergedEnqueueOptions {
  /** The producer connection, once ready; rejects when Redis cannot be reached in time. */
  readonly client: () => Promise<ScriptClient>
  readonly keyspace: Keyspace
  /** The BullMQ queue of a sink in a shard. */
  readonly queue: (name: string, shard: number) => Queue
  /** BullMQ options of a sink's jobs. */
  readonly jobOptions: (sink: SinkQueueSettings) => JobsOptions
  /** Events that may share one job in this queue (at most MAX_EVENTS_PER_JOB). */
  readonly eventsPerJob?: (queue: string) => number
  readonly dedupeTtlMs: number
  readonly timeoutMs: number
  /** Replicas a shard's write must reach (replicas_ack); none when absent. */
  readonly replicas?: (shard: number) => Promise<ReplicaRequirement>
  /** Told of events acked with fewer replicas than replicas_ack. */
  readonly onDegraded?: (events: number) => void
  /** Told when a shard's write failed as a whole (the connection may need to look for a new primary). */
  readonly onWriteFailed?: (error: unknown) => void
  /** The primary that serves a shard now, when known: a primary's shards share one pipeline per batch. */
  readonly nodeOf?: (shard: number) => string | undefined
}

interface ShardPart {
  readonly shard: number
  readonly items: Pending[]
}

interface PreparedCall {
  readonly items: readonly Pending[]
  readonly keys: string[]
  readonly args: (string | number)[]
  readonly events: readonly BatchEvent[]
  readonly names: readonly string[]
  readonly targets: readonly QueueTarget[]
}

export class MergedEnqueue {
  private pending: Pending[] = []
  private scheduled = false
  /** Job ids: unique per process start, then a counter; never an integer, never a ':' (BullMQ's rules). */
  private readonly idPrefix = `g${randomBytes(8).toString('hex')}-`
  private idCounter = 0
  /** Per sink settings object: a config reload brings new ones, with perhaps other retry options. */
  private readonly targets = new WeakMap<SinkQueueSettings, QueueTarget[]>()
  private readonly flushNow = (): void => this.flush()
  /** Moving average of the events per job written, per queue: the backlog in events is estimated from it. */
  private readonly groupSizes = new Map<string, number>()
  /** Moving average of an event's bytes, per queue: the backlog in bytes is estimated from it. */
  private readonly eventSizes = new Map<string, number>()

  constructor (private readonly options: MergedEnqueueOptions) {}

  /** Dedupes and enqueues one event for its sinks; resolves once Redis confirmed the batch it joined. */
  enqueue (request: EnqueueRequest): Promise<IngestOutcome> {
    return new Promise<IngestOutcome>((resolve, reject) => {
      this.pending.push({ request, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(this.flushNow)
      }
    })
  }

  private flush (): void {
    this.scheduled = false
    while (this.pending.length > 0) {
      const batch = this.pending.length <= MAX_REQUESTS_PER_BATCH ? this.pending : this.pending.slice(0, MAX_REQUESTS_PER_BATCH)
      this.pending = batch === this.pending ? [] : this.pending.slice(MAX_REQUESTS_PER_BATCH)
      this.write(batch).catch((error: unknown) => rejectAll(batch, error))
    }
  }

  private async write (batch: readonly Pending[]): Promise<void> {
    const client = await this.options.client()
    await Promise.all(this.byNode(this.byShard(batch)).map(async (parts) => {
      try {
        await this.writeNode(client, parts)
      } catch (error) {
        for (const part of parts) rejectAll(part.items, error)
        this.options.onWriteFailed?.(error)
      }
    }))
  }

  private byShard (batch: readonly Pending[]): ShardPart[] {
    const { keyspace } = this.options
    if (keyspace.shards === 1) return [{ shard: 0, items: [...batch] }]
    const parts = new Map<number, ShardPart>()
    for (const item of batch) {
      const shard = keyspace.shardOf(item.request.source, item.request.dedupeKey)
      let part = parts.get(shard)
      if (part === undefined) parts.set(shard, part = { shard, items: [] })
      part.items.push(item)
    }
    return [...parts.values()]
  }

  /** The shards' parts by the primary that serves them: each primary gets one pipeline (and one WAIT) per batch. */
  private byNode (parts: readonly ShardPart[]): ShardPart[][] {
    const nodeOf = this.options.nodeOf
    if (nodeOf === undefined || parts.length === 1) return parts.map((part) => [part])
    const nodes = new Map<string, ShardPart[]>()
    for (const part of parts) {
      const node = nodeOf(part.shard) ?? `shard ${part.shard}`
      const group = nodes.get(node)
      if (group === undefined) nodes.set(node, [part])
      else group.push(part)
    }
    return [...nodes.values()]
  }

  /**
   * One primary's shards: a script call per shard, and the WAIT for replicas (the same for every
   * shard of one primary) after them, sent together. A shard whose script failed fails alone; a WAIT
   * that falls short fails them all.
   */
  private async writeNode (client: ScriptClient, parts: readonly ShardPart[]): Promise<void> {
    const replicas = await this.options.replicas?.((parts[0] as ShardPart).shard) ?? { wait: 0, degraded: false }
    const prepared = parts.map((part) => this.prepare(part, replicas.wait > 0))
    const answers = await withTimeout(this.run(client, prepared, replicas.wait), this.options.timeoutMs, 'redis did not answer in time')
    let acceptedEvents = 0
    prepared.forEach((call, index) => {
      const answer = answers[index] as [Error | null, unknown]
      if (answer[0] !== null) {
        rejectAll(call.items, answer[0])
        this.options.onWriteFailed?.(answer[0])
      } else {
        acceptedEvents += this.settle(call, answer[1])
      }
    })
    if (replicas.degraded && acceptedEvents > 0) this.options.onDegraded?.(acceptedEvents)
  }

  /** A shard's part as the script's KEYS and ARGV. `sync`: a WAIT follows (see ingest-script.ts). */
  private prepare ({ shard, items }: ShardPart, sync: boolean): PreparedCall {
    const { keyspace } = this.options
    const dedupePrefix = keyspace.dedupePrefix(shard)
    const queueIndex = new Map<string, number>()
    const names: string[] = []
    const targets: QueueTarget[] = []
    const counts: number[] = []
    const events: BatchEvent[] = []
    for (const { request } of items) {
      const indexes: number[] = []
      for (const sink of request.sinks) {
        let index = queueIndex.get(sink.name)
        if (index === undefined) {
          index = targets.length
          queueIndex.set(sink.name, index)
          names.push(sink.name)
          targets.push(this.target(sink, shard))
          counts.push(0)
        }
        counts[index] = (counts[index] ?? 0) + 1
        indexes.push(index)
      }
      const { payload } = request
      events.push({ dedupeKey: `${dedupePrefix}${request.source}:${request.dedupeKey}`, timestamp: payload.r, data: JSON.stringify(payload), queues: indexes })
    }
    const queues: BatchQueue[] = targets.map((target, index) => ({
      target,
      jobIds: Array.from({ length: groupsNeeded(counts[index] ?? 0, target.eventsPerJob) }, () => this.idPrefix + (this.idCounter++).toString(36))
    }))
    const syncKey = sync ? `${keyspace.shardPrefixes[shard] as string}:_sync` : ''
    const { keys, args } = batchArguments(this.options.dedupeTtlMs, EVENT_JOB_NAME, queues, events, syncKey)
    return { items, keys, args, events, names, targets }
  }

  /** Answers a part's requests from its script's results; returns how many were accepted. */
  private settle (call: PreparedCall, results: unknown): number {
    const { items, events, names, targets } = call
    if (!Array.isArray(results) || results.length !== items.length) {
      rejectAll(items, new Error(`redis answered ${String((results as unknown[] | undefined)?.length)} results for ${items.length} events`))
      return 0
    }
    const accepted = new Array<number>(targets.length).fill(0)
    let acceptedEvents = 0
    for (let i = 0; i < items.length; i++) {
      const { resolve, reject } = items[i] as Pending
      const result = results[i] as BatchResult
      if (result === 1) {
        acceptedEvents++
        const event = events[i] as BatchEvent
        for (const index of event.queues) {
          accepted[index] = (accepted[index] ?? 0) + 1
          this.noteEventSize(names[index] as string, event.data.length)
        }
        resolve('accepted')
      } else if (result === 0) {
        resolve('duplicate')
      } else {
        reject(new Error(String(result).replace(ERROR_PREFIX, '')))
      }
    }
    names.forEach((name, index) => this.noteGroupSize(name, accepted[index] ?? 0, targets[index]?.eventsPerJob ?? MAX_EVENTS_PER_JOB))
    return acceptedEvents
  }

  /**
   * The calls, as [error, result] per call. One call without a WAIT is sent alone; otherwise they go
   * in one pipeline, the WAIT last (ioredis sends a cluster pipeline whole to the primary that serves
   * every slot in it; each script keeps to its own slot).
   */
  private async run (client: ScriptClient, calls: readonly PreparedCall[], replicas: number): Promise<Array<[Error | null, unknown]>> {
    const script = scriptOf(client)
    if (replicas === 0 && calls.length === 1) {
      const [call] = calls as [PreparedCall]
      try {
        return [[null, await script(call.keys.length, ...call.keys, ...call.args)]]
      } catch (error) {
        return [[error as Error, undefined]]
      }
    }
    const pipeline = client.pipeline() as unknown as Record<typeof SCRIPT_COMMAND, (...keysAndArgs: (string | number)[]) => unknown> & {
      wait: (replicas: number, timeoutMs: number) => unknown
      exec: () => Promise<Array<[Error | null, unknown]> | null>
    }
    for (const call of calls) pipeline[SCRIPT_COMMAND](call.keys.length, ...call.keys, ...call.args)
    if (replicas > 0) pipeline.wait(replicas, Math.min(WAIT_TIMEOUT_MS, this.options.timeoutMs))
    const answers = await pipeline.exec()
    if (answers === null || answers.length !== calls.length + (replicas > 0 ? 1 : 0)) throw new Error('redis answered no results for the write')
    if (replicas > 0) {
      const [waitError, confirmed] = answers[calls.length] as [Error | null, unknown]
      if (waitError !== null) throw waitError
      if (Number(confirmed) < replicas) throw new Error(`only ${Number(confirmed)} of ${replicas} replicas confirmed the write in time`)
    }
    return answers.slice(0, calls.length)
  }

  /** Events per job in the queue's recent writes (1 before any): the jobs it holds times this estimates its events. */
  eventsPerJob (queue: string): number {
    return this.groupSizes.get(queue) ?? 1
  }

  /** Bytes per event in the queue's recent writes (0 before any). */
  bytesPerEvent (queue: string): number {
    return this.eventSizes.get(queue) ?? 0
  }

  private noteGroupSize (queue: string, events: number, eventsPerJob: number): void {
    if (events === 0) return
    const jobs = Math.ceil(events / eventsPerJob)
    const previous = this.groupSizes.get(queue) ?? events / jobs
    this.groupSizes.set(queue, previous + 0.1 * (events / jobs - previous))
  }

  private noteEventSize (queue: string, bytes: number): void {
    const previous = this.eventSizes.get(queue) ?? bytes
    this.eventSizes.set(queue, previous + 0.05 * (bytes - previous))
  }

  /** A sink's queue keys and encoded options in a shard, computed once per sink settings and shard. */
  private target (sink: SinkQueueSettings, shard: number): QueueTarget {
    let perShard = this.targets.get(sink)
    if (perShard === undefined) this.targets.set(sink, perShard = [])
    let target = perShard[shard]
    if (target === undefined) {
      const queue = this.options.queue(sink.name, shard)
      const { wait, paused, meta, active, marker } = queue.keys
      target = {
        wait: wait as string,
        paused: paused as string,
        meta: meta as string,
        active: active as string,
        marker: marker as string,
        jobPrefix: `${queue.qualifiedName}:`,
        optionsJson: JSON.stringify(Job.optsAsJSON(this.options.jobOptions(sink))),
        eventsPerJob: Math.min(MAX_EVENTS_PER_JOB, this.options.eventsPerJob?.(sink.name) ?? MAX_EVENTS_PER_JOB)
      }
      perShard[shard] = target
    }
    return target
  }
}

function rejectAll (items: readonly Pending[], error: unknown): void {
  const reason = error instanceof Error ? error : new Error(String(error))
  for (const item of items) item.reject(reason)
}

const scripts = new WeakMap<ScriptClient, BatchScript>()

/** The batch script as a command of the connection (ioredis sends EVALSHA, and EVAL when Redis lost it). */
function scriptOf (client: ScriptClient): BatchScript {
  let script = scripts.get(client)
  if (script === undefined) {
    // No numberOfKeys: the number of keys is the first argument of each call.
    client.defineCommand(SCRIPT_COMMAND, { lua: INGEST_BATCH_LUA })
    script = (client as unknown as Record<typeof SCRIPT_COMMAND, BatchScript>)[SCRIPT_COMMAND].bind(client)
    scripts.set(client, script)
  }
  return script
}
