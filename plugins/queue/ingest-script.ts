/**
 * One Lua script that dedupes and enqueues a whole batch of events for all their sinks: the ingest
 * write of the Redis backend (merged-enqueue.ts sends one per event-loop turn).
 *
 * Why not BullMQ's own add script: it is general (parents, delays, priorities, debounce, a stream
 * event per step) and cost about 50 µs of Redis CPU per job here, one job per event and sink, so Redis
 * did twice the baseline's work for two sinks. This script writes only what a BullMQ worker reads for
 * a plain job (the job hash, the wait or paused list, the marker that wakes workers), in BullMQ's key
 * layout of the pinned version; a test compares the result with what `Job.addJob` writes and has
 * BullMQ workers process it.
 *
 * The events of one batch that go to the same sink share a job (up to MAX_EVENTS_PER_JOB):
 * `{"m":[event, ...]}`. A BullMQ worker spends two scripts and about 0.15 ms of CPU (its own and
 * Redis') per job whatever the job holds, which capped a worker at a few thousand events per second
 * with one job per event; event-group.ts settles the events of a group one by one.
 *
 * What it leaves out, on purpose: no `added`/`waiting` entries in the queue's event stream (nothing
 * here reads them; QueueEvents listeners would not see ingest's adds), no job counter increment (job
 * ids are ours), and no BullMQ deduplication key per queue: one dedupe mark per event, under
 * `{prefix}:_dedupe:{source}:{key}`, which no queue name can collide with (sink names start with a
 * letter or digit).
 *
 * Every key it touches is declared in KEYS (queue keys, one job key per possible group, one dedupe
 * key per event), and it starts with Redis 7's `#!lua` shebang: without the `allow-cross-slot-keys`
 * flag Redis refuses a script that reaches a key of another slot, so a hash-tag mistake fails in
 * tests on a cluster instead of working by luck when two slots share a node (keyspace.ts, SPEC §11).
 * The caller sends one call per shard; every key of a call carries that shard's tag.
 *
 * Atomicity: a script runs alone, so concurrent copies of one event see all of the other's writes or
 * none. Every key that could hold the wrong type is checked before the first write, so the script
 * never stops half way: an event routed to a queue whose keys are broken gets an error of its own and
 * nothing of it is written (no dedupe mark), while the other events of the batch are stored.
 */

/** Redis keys of one queue the script touches, in BullMQ's layout (`queue.keys`). */
export interface QueueTarget {
  readonly wait: string
  readonly paused: string
  readonly meta: string
  readonly active: string
  readonly marker: string
  /** Job hashes are `{jobPrefix}{jobId}`. */
  readonly jobPrefix: string
  /** The job options as BullMQ stores them: JSON of `Job.optsAsJSON(options)`. */
  readonly optionsJson: string
  /** Events that share one job at most. */
  readonly eventsPerJob: number
}

export interface BatchEvent {
  /** The dedupe mark's key. */
  readonly dedupeKey: string
  readonly timestamp: number
  /** The event's JSON (a JobPayload), shared by its jobs in every queue. */
  readonly data: string
  /** Indexes into the batch's queue list. */
  readonly queues: readonly number[]
}

/** What the script answers per event: 1 stored, 0 a duplicate, or the reason nothing was stored. */
export type BatchResult = 1 | 0 | string

const KEYS_PER_QUEUE = 5
/**
 * Events of one batch that share a queue share a job, up to this many. A job is what BullMQ moves
 * through its states (two scripts per job in the worker), so grouping is what lets a worker keep up
 * with a busy ingest; it stays small enough that a job is cheap to retry or to show.
 */
export const MAX_EVENTS_PER_JOB = 64
export const ERROR_PREFIX = 'error:'

export const INGEST_BATCH_LUA = `#!lua
local rcall = redis.call
local ttl, jobName, queueCount, eventCount, syncKey = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local target, marker, eventsPerJob, options, jobKeyBase, jobIdBase, broken = {}, {}, {}, {}, {}, {}, {}

local function typeIs (key, allowed)
  local found = rcall('TYPE', key)['ok']
  return found == 'none' or found == allowed
end

-- Per queue, once: where jobs go (paused or wait, as BullMQ decides) and whether workers are woken.
local jobKeys, jobIds = queueCount * ${KEYS_PER_QUEUE}, 5 + 3 * queueCount
for q = 1, queueCount do
  local k = (q - 1) * ${KEYS_PER_QUEUE}
  local waitKey, pausedKey, metaKey, activeKey, markerKey = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local a = 5 + (q - 1) * 3
  eventsPerJob[q] = tonumber(ARGV[a + 1])
  options[q] = ARGV[a + 2]
  jobKeyBase[q], jobIdBase[q] = jobKeys, jobIds
  local groups = tonumber(ARGV[a + 3])
  jobKeys, jobIds = jobKeys + groups, jobIds + groups
  -- A key of the wrong type is read with pcall (an error marks the queue broken) or TYPE-checked
  -- before anything is written, so no write of the script can fail half way.
  local meta = redis.pcall('HMGET', metaKey, 'paused', 'concurrency')
  if meta['err'] then
    broken[q] = 'WRONGTYPE in the keys of queue ' .. metaKey
  else
    local maxed = false
    if not meta[1] and meta[2] then
      local active = redis.pcall('LLEN', activeKey)
      if type(active) == 'table' then
        broken[q] = 'WRONGTYPE in the keys of queue ' .. metaKey
      else
        maxed = active >= tonumber(meta[2])
      end
    end
    target[q] = meta[1] and pausedKey or waitKey
    marker[q] = (not meta[1] and not maxed) and markerKey or false
    if not typeIs(target[q], 'list') or (marker[q] and not typeIs(markerKey, 'zset')) then
      broken[q] = 'WRONGTYPE in the keys of queue ' .. metaKey
    end
  end
end

local results, accepted, duplicates = {}, {}, false
for q = 1, queueCount do accepted[q] = {} end
local i = jobIds + 1
for n = 1, eventCount do
  local timestamp, data, count = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local failure = false
  for s = 1, count do
    local q = tonumber(ARGV[i + 2 + s])
    if broken[q] then failure = broken[q] end
  end
  if failure then
    results[n] = '${ERROR_PREFIX}' .. failure
  else
    -- The mark names the job the event joins in its first queue.
    local first = tonumber(ARGV[i + 3])
    local group = math.floor(#accepted[first] / eventsPerJob[first]) + 1
    if rcall('SET', KEYS[jobKeys + n], ARGV[jobIdBase[first] + group], 'PX', ttl, 'NX') then
      for s = 1, count do
        local events = accepted[tonumber(ARGV[i + 2 + s])]
        events[#events + 1] = { timestamp, data }
      end
      results[n] = 1
    else
      results[n] = 0
      duplicates = true
    end
  end
  i = i + 3 + count
end

-- One job per queue for up to eventsPerJob of the events it got; its id and key were declared.
for q = 1, queueCount do
  local events = accepted[q]
  local group = 0
  for first = 1, #events, eventsPerJob[q] do
    group = group + 1
    local last = math.min(first + eventsPerJob[q] - 1, #events)
    local parts = {}
    for e = first, last do parts[#parts + 1] = events[e][2] end
    local jobId = ARGV[jobIdBase[q] + group]
    rcall('HSET', KEYS[jobKeyBase[q] + group], 'name', jobName, 'data', '{"m":[' .. table.concat(parts, ',') .. ']}',
      'opts', options[q], 'timestamp', events[first][1], 'delay', 0, 'priority', 0)
    rcall('LPUSH', target[q], jobId)
  end
  if #events > 0 and marker[q] then rcall('ZADD', marker[q], 0, '0') end
end

-- A duplicate's mark may have been written by another connection after this one's last write: a
-- write here makes the WAIT that follows (replicas_ack) cover it too.
if duplicates and syncKey ~= '' then rcall('INCR', KEYS[#KEYS]) end
return results
`

/** The jobs (and their ids) a queue's events of one batch may need: one per started group. */
export function groupsNeeded (events: number, eventsPerJob: number): number {
  return Math.ceil(events / eventsPerJob)
}

export interface BatchQueue {
  readonly target: QueueTarget
  /** Ids for the queue's possible groups, in order; the script uses as many as it fills. */
  readonly jobIds: readonly string[]
}

/**
 * The script's KEYS and ARGV for one batch of one shard. `syncKey` (in the shard's slot) is written
 * when the batch met a duplicate, for the WAIT of replicas_ack; empty when no WAIT follows.
 */
export function batchArguments (ttlMs: number, jobName: string, queues: readonly BatchQueue[], events: readonly BatchEvent[],
  syncKey: string): { keys: string[], args: (string | number)[] } {
  const keys: string[] = []
  const args: (string | number)[] = [ttlMs, jobName, queues.length, events.length, syncKey === '' ? '' : '1']
  for (const { target } of queues) keys.push(target.wait, target.paused, target.meta, target.active, target.marker)
  for (const { target, jobIds } of queues) {
    args.push(target.eventsPerJob, target.optionsJson, jobIds.length)
    for (const id of jobIds) keys.push(target.jobPrefix + id)
  }
  for (const { jobIds } of queues) args.push(...jobIds)
  for (const event of events) {
    keys.push(event.dedupeKey)
    args.push(event.timestamp, event.data, event.queues.length)
    // Lua reads indexes from 1.
    for (const index of event.queues) args.push(index + 1)
  }
  if (syncKey !== '') keys.push(syncKey)
  return { keys, args }
}
