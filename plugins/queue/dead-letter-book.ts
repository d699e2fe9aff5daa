/**
 * A queue's dead letters event by event, the same on both backends: listed with filters and pages,
 * grouped by error, read one at a time, and re-queued, discarded or exported by reference or by
 * filter. What the operator console (plugins/console) shows and does.
 *
 * A backend stores dead letters as jobs, each holding one event or a group of events that failed
 * together (src/sinks/job.ts); it provides only reading its jobs and rewriting one
 * (`DeadLetterJobs`). Everything else is here, so the two backends cannot drift apart.
 *
 * An event is named by a reference, `<job key>:<digest>`, where the digest is taken from the
 * event's source, dedupe key and receipt time, not from its place in the job: taking events out of
 * a group moves the others, and a page read a minute ago must never act on the wrong event.
 *
 * Replay semantics are those of `retryDeadLetters`: re-queued events get the sink's full attempt
 * budget, and events taken from a group split off as dead letters lose that group's history (its
 * `a` and `d` fields), so they are tried again rather than failed at once.
 */
import { createHash } from 'node:crypto'
import type { JobPayload } from '../../src/sinks/job.js'
import { DEFAULT_SOURCE_TYPE, findSourceType } from '../../src/sources/registry.js'

/** One dead-letter job as a backend keeps it. */
export interface StoredDeadLetterJob {
  /** Where the backend finds the job again; never holds a ':' after its last one (references split there). */
  readonly key: string
  readonly events: readonly JobPayload[]
  /** When the job failed for good, ms. */
  readonly failedAt: number | undefined
  /** Attempts its events had. */
  readonly attempts: number
  readonly error: string
}

/** What each backend provides: its dead-letter jobs, and a rewrite of one that refuses when the job changed since it was read. */
export interface DeadLetterJobs<J extends StoredDeadLetterJob> {
  /**
   * The queue's dead-letter jobs, newest failure first, in pages. The jobs are those dead-lettered
   * when the walk began: jobs rewritten during the walk (by the caller, say) are not met twice.
   */
  pages (queue: string): AsyncIterable<readonly J[]>
  job (queue: string, key: string): Promise<J | undefined>
  /**
   * Re-queues `taken` (events of `job`) with a fresh budget of `attempts`; the job keeps `kept` as
   * dead letters, and is gone when it keeps none. False when the job is no longer as it was read.
   */
  requeue (queue: string, job: J, taken: readonly JobPayload[], kept: readonly JobPayload[], attempts: number): Promise<boolean>
  /** Drops the job's events but `kept` (the whole job when none). False when the job is no longer as it was read. */
  discard (queue: string, job: J, kept: readonly JobPayload[]): Promise<boolean>
}

export interface DeadLetterFilter {
  /** The error, exactly as shown (the groups' key). */
  readonly error?: string
  readonly source?: string
  readonly objectType?: string
  readonly metric?: string
  /** A part of the event_id (or, for bodies without one, of the SHA-256 they are known by). */
  readonly eventId?: string
  /** Failed at or after this time, ms. */
  readonly failedFrom?: number
  /** Failed before this time, ms. */
  readonly failedTo?: number
}

/** Which dead letters an action takes: those named, or every one matching a filter. */
export type DeadLetterSelection = { readonly refs: readonly string[] } | { readonly filter: DeadLetterFilter }

/** One dead-lettered event, as a row of the list. */
export interface DeadLetterRow {
  readonly ref: string
  readonly eventId: string
  readonly source: string
  /** undefined for a body that is not an event (quarantine). */
  readonly objectType: string | undefined
  readonly metric: string | undefined
  readonly receivedAt: number
  readonly failedAt: number | undefined
  readonly attempts: number
  readonly error: string
}

/** A dead-lettered event with the event itself: parsed JSON when it parses, else the raw text. */
export interface DeadLetterDetail extends DeadLetterRow {
  readonly event: unknown
}

export interface DeadLetterGroup {
  readonly error: string
  readonly events: number
  readonly firstFailedAt: number | undefined
  readonly lastFailedAt: number | undefined
}

export interface DeadLetterListing {
  /** Events matching the filter. */
  readonly total: number
  /** The page asked for, newest failure first. */
  readonly rows: readonly DeadLetterRow[]
  /** Per error, the events matching every part of the filter but the error; most events first. */
  readonly groups: readonly DeadLetterGroup[]
  /** Dead-lettered events read to make the listing. */
  readonly scanned: number
  /** False when the queue holds more than `LISTING_SCAN_LIMIT` events and only the newest were read. */
  readonly complete: boolean
}

/**
 * Most events a listing reads (newest first). Each costs a parse of its body and about 300 bytes
 * while the page is made; actions and exports by filter are not bounded, they stream.
 */
export const LISTING_SCAN_LIMIT = 200_000

export class DeadLetterBook<J extends StoredDeadLetterJob = StoredDeadLetterJob> {
  constructor (private readonly jobs: DeadLetterJobs<J>) {}

  async list (queue: string, filter: DeadLetterFilter, offset: number, limit: number): Promise<DeadLetterListing> {
    const rows: DeadLetterRow[] = []
    const groups = new Map<string, { events: number, first: number | undefined, last: number | undefined }>()
    let total = 0
    let scanned = 0
    let complete = true
    const { error, ...others } = filter
    walk: for await (const page of this.jobs.pages(queue)) {
      for (const job of page) {
        for (const event of job.events) {
          if (scanned >= LISTING_SCAN_LIMIT) {
            complete = false
            break walk
          }
          scanned++
          if (!matches(candidateOf(job, event, others), others)) continue
          const group = groups.get(job.error) ?? { events: 0, first: undefined, last: undefined }
          group.events++
          group.first = earliest(group.first, job.failedAt)
          group.last = latest(group.last, job.failedAt)
          groups.set(job.error, group)
          if (error !== undefined && job.error !== error) continue
          if (total >= offset && total < offset + limit) rows.push(rowOf(job, event).row)
          total++
        }
      }
    }
    return {
      total,
      rows,
      groups: [...groups].map(([text, group]) => ({ error: text, events: group.events, firstFailedAt: group.first, lastFailedAt: group.last }))
        .sort((a, b) => b.events - a.events || a.error.localeCompare(b.error)),
      scanned,
      complete
    }
  }

  async get (queue: string, ref: string): Promise<DeadLetterDetail | undefined> {
    const named = parseRef(ref)
    if (named === undefined) return undefined
    const job = await this.jobs.job(queue, named.key)
    const event = job?.events.find((candidate) => digestOf(candidate) === named.digest)
    if (job === undefined || event === undefined) return undefined
    const { row, parsed } = rowOf(job, event)
    return { ...row, event: parsed }
  }

  /** How many events an action on `selection` would take now: the preview before it. */
  async count (queue: string, selection: DeadLetterSelection): Promise<number> {
    let count = 0
    await this.each(queue, selection, async (_job, taken) => { count += taken.length })
    return count
  }

  /** Re-queues the selected events with `attempts` attempts; answers how many were. */
  async retry (queue: string, selection: DeadLetterSelection, attempts: number): Promise<number> {
    let retried = 0
    await this.each(queue, selection, async (job, taken, kept) => {
      if (await this.jobs.requeue(queue, job, taken, kept, attempts)) retried += taken.length
    })
    return retried
  }

  /** Drops the selected events for good; answers how many were. */
  async discard (queue: string, selection: DeadLetterSelection): Promise<number> {
    let discarded = 0
    await this.each(queue, selection, async (job, taken, kept) => {
      if (await this.jobs.discard(queue, job, kept)) discarded += taken.length
    })
    return discarded
  }

  /** Every dead letter matching `filter`, newest failure first, one at a time (for an export). */
  async * export (queue: string, filter: DeadLetterFilter): AsyncIterable<DeadLetterDetail> {
    for await (const page of this.jobs.pages(queue)) {
      for (const job of page) {
        for (const event of job.events) {
          const { row, parsed } = rowOf(job, event)
          if (matches(row, filter)) yield { ...row, event: parsed }
        }
      }
    }
  }

  /** Calls `act` once per job holding selected events, with those (`taken`) and the job's others (`kept`). */
  private async each (queue: string, selection: DeadLetterSelection,
    act: (job: J, taken: readonly JobPayload[], kept: readonly JobPayload[]) => Promise<void>): Promise<void> {
    const split = async (job: J, selected: (event: JobPayload) => boolean): Promise<void> => {
      const chosen = job.events.map(selected)
      const taken = job.events.filter((_event, index) => chosen[index])
      if (taken.length > 0) await act(job, taken, job.events.filter((_event, index) => !chosen[index]))
    }
    if ('filter' in selection) {
      for await (const page of this.jobs.pages(queue)) {
        await severally(page, async (job) => await split(job, (event) => matches(candidateOf(job, event, selection.filter), selection.filter)))
      }
      return
    }
    const byJob = new Map<string, Set<string>>()
    for (const ref of selection.refs) {
      const named = parseRef(ref)
      if (named === undefined) continue
      const digests = byJob.get(named.key) ?? new Set<string>()
      digests.add(named.digest)
      byJob.set(named.key, digests)
    }
    await severally([...byJob], async ([key, digests]) => {
      const job = await this.jobs.job(queue, key)
      if (job !== undefined) await split(job, (event) => digests.has(digestOf(event)))
    })
  }
}

/** Jobs acted on at once: each is a few round trips to Redis, and thousands one after the other would take minutes. */
const ACTION_CONCURRENCY = 16

/** `act` on every item, `ACTION_CONCURRENCY` at a time (items are distinct jobs, so their changes do not meet). */
async function severally<T> (items: readonly T[], act: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += ACTION_CONCURRENCY) {
    await Promise.all(items.slice(start, start + ACTION_CONCURRENCY).map(act))
  }
}

/** The reference of an event in a job. */
function refOf (job: Pick<StoredDeadLetterJob, 'key'>, event: JobPayload): string {
  return `${job.key}:${digestOf(event)}`
}

function parseRef (ref: string): { key: string, digest: string } | undefined {
  const at = ref.lastIndexOf(':')
  if (at <= 0 || at === ref.length - 1) return undefined
  return { key: ref.slice(0, at), digest: ref.slice(at + 1) }
}

function digestOf (event: JobPayload): string {
  return createHash('sha256').update(`${event.s}\n${event.e}\n${event.r}`).digest('base64url').slice(0, 16)
}

function rowOf (job: StoredDeadLetterJob, event: JobPayload): { row: DeadLetterRow, parsed: unknown } {
  const { objectType, metric, parsed } = typesOf(event)
  return {
    row: { ref: refOf(job, event), eventId: event.e, source: event.s, objectType, metric, receivedAt: event.r, failedAt: job.failedAt, attempts: job.attempts, error: job.error },
    parsed
  }
}

/** Its routing fields as its source type reads them (`t`, reporting webhooks when absent), as routes and sinks see them. */
function typesOf (event: JobPayload): { objectType: string | undefined, metric: string | undefined, parsed: unknown } {
  let parsed: unknown = event.b
  try { parsed = JSON.parse(event.b) } catch { /* a quarantined body may not be JSON: shown raw */ }
  const routing = findSourceType(event.t ?? DEFAULT_SOURCE_TYPE)?.fieldsOf(parsed)
  if (routing !== undefined && typeof routing !== 'string') return { objectType: routing.object_type, metric: routing.metric, parsed }
  // Not a routable event (a quarantined body): whatever of the two it has.
  const fields = typeof parsed === 'object' && parsed !== null ? parsed as Record<string, unknown> : {}
  return {
    objectType: typeof fields.object_type === 'string' ? fields.object_type : undefined,
    metric: typeof fields.metric === 'string' ? fields.metric : undefined,
    parsed
  }
}

type Candidate = Pick<DeadLetterRow, 'eventId' | 'source' | 'objectType' | 'metric' | 'failedAt' | 'error'>

/**
 * What a filter looks at. The body is parsed only when the filter names a type or a metric: over
 * thousands of dead letters, the rows of the page asked for are the only others that need it.
 */
function candidateOf (job: StoredDeadLetterJob, event: JobPayload, filter: DeadLetterFilter): Candidate {
  const types = filter.objectType !== undefined || filter.metric !== undefined ? typesOf(event) : undefined
  return { eventId: event.e, source: event.s, objectType: types?.objectType, metric: types?.metric, failedAt: job.failedAt, error: job.error }
}

function matches (row: Candidate, filter: DeadLetterFilter): boolean {
  if (filter.error !== undefined && row.error !== filter.error) return false
  if (filter.source !== undefined && row.source !== filter.source) return false
  if (filter.objectType !== undefined && row.objectType !== filter.objectType) return false
  if (filter.metric !== undefined && row.metric !== filter.metric) return false
  if (filter.eventId !== undefined && !row.eventId.includes(filter.eventId)) return false
  if (filter.failedFrom !== undefined && (row.failedAt === undefined || row.failedAt < filter.failedFrom)) return false
  if (filter.failedTo !== undefined && (row.failedAt === undefined || row.failedAt >= filter.failedTo)) return false
  return true
}

function earliest (a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b)
}

function latest (a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b)
}
