/**
 * Realistic Customer.io Data Pipelines traffic for `cio-gateway simulate --source-type
 * customerio_pipelines`: Journeys Message Metrics events (the reporting metrics of the simulator's
 * workspace, src/simulate/events.ts, as the track calls Data Pipelines sends for them), with
 * identify and page calls among them, in batches of 1 to 1,000 events such as a webhook
 * destination sends; about 3 % of the events come again in a later batch, as a destination's retry
 * would send them.
 */
import { createHash } from 'node:crypto'
import { JOURNEYS_METRIC_EVENTS } from '../../plugins/sources/customerio-pipelines/catalog.js'
import { EventFactory, pickFrom, weightedPair, type SimulatedEvent } from './events.js'

export interface PipelinesEvent {
  readonly messageId: string
  readonly type: string
  /** The event name of a track call. */
  readonly event?: string
}

export interface PlannedBatch {
  readonly events: readonly PipelinesEvent[]
  /** The exact bytes to send: a JSON array. */
  readonly body: string
  /** How many of its events an earlier batch carried (the gateway must answer them duplicate). */
  readonly duplicates: number
  /** The earlier batches it repeats events of: sent, and answered, before it. */
  readonly after: readonly number[]
}

export interface PipelinesPlan {
  readonly batches: readonly PlannedBatch[]
  readonly events: number
  readonly duplicates: number
}

export const MAX_BATCH = 1000
/** Share of the events that come again in a later batch. */
const DUPLICATE_SHARE = 0.03

type Member = { readonly json: string, readonly event: PipelinesEvent }

export function planPipelinesSimulation (options: { count: number, random: () => number, now?: () => number }): PipelinesPlan {
  const { count, random } = options
  const now = options.now ?? Date.now
  const factory = new EventFactory(random, now)
  const duplicates = count >= 10 ? Math.max(1, Math.round(count * DUPLICATE_SHARE)) : 0
  const originals = Array.from({ length: count - duplicates }, (): Member => call(factory, random, now))

  // Batch sizes as a destination's: most batches small, some full.
  const batches: { members: Member[], repeats: Set<number> }[] = []
  /** The batch that carries each event first. */
  const home = new Map<Member, number>()
  for (let at = 0; at < originals.length;) {
    const size = Math.min(originals.length - at, 1 + Math.floor(random() * random() * MAX_BATCH))
    const members = originals.slice(at, at + size)
    for (const member of members) home.set(member, batches.length)
    batches.push({ members, repeats: new Set() })
    at += size
  }
  // Copies go into later batches (a batch of their own when there is no later one with room).
  for (let n = 0; n < duplicates; n++) {
    const from = Math.floor(random() * Math.max(1, batches.length - 1))
    const source = batches[from] as { members: Member[] }
    const member = source.members[Math.floor(random() * source.members.length)] as Member
    let into = from + 1 + Math.floor(random() * (batches.length - from - 1))
    if (into >= batches.length || (batches[into]?.members.length ?? 0) >= MAX_BATCH) {
      into = batches.length
      batches.push({ members: [], repeats: new Set() })
    }
    const target = batches[into] as { members: Member[], repeats: Set<number> }
    target.members.splice(Math.floor(random() * (target.members.length + 1)), 0, member)
    target.repeats.add(home.get(member) as number)
  }
  const seen = new Set<string>()
  const planned = batches.map(({ members, repeats }): PlannedBatch => {
    let repeated = 0
    for (const { event } of members) {
      if (seen.has(event.messageId)) repeated++
      seen.add(event.messageId)
    }
    return { events: members.map((member) => member.event), body: `[${members.map((member) => member.json).join(',')}]`, duplicates: repeated, after: [...repeats].sort((a, b) => a - b) }
  })
  return { batches: planned, events: count, duplicates }
}

/** One call: mostly Journeys Message Metrics, some identify and page calls. */
function call (factory: EventFactory, random: () => number, now: () => number): Member {
  const roll = random()
  const seconds = Math.floor(now() / 1000) - factory.int(120)
  const event = roll < 0.08 ? identify(factory, random, seconds) : roll < 0.13 ? page(factory, random, seconds) : track(factory, random)
  return { json: JSON.stringify(event), event: { messageId: event.messageId as string, type: event.type as string, ...(event.type === 'track' ? { event: event.event as string } : {}) } }
}

/** The common fields every call carries, at a time within the last two minutes. */
function common (factory: EventFactory, type: string, seconds: number): Record<string, unknown> {
  const timestamp = new Date(seconds * 1000).toISOString()
  const sent = new Date(seconds * 1000 + 50 + factory.int(200))
  return {
    type,
    messageId: uuidOf(factory.ulid()),
    timestamp,
    originalTimestamp: timestamp,
    sentAt: sent.toISOString(),
    receivedAt: new Date(sent.getTime() + 20 + factory.int(100)).toISOString(),
    integrations: { All: true }
  }
}

function track (factory: EventFactory, random: () => number): Record<string, unknown> {
  let webhook: SimulatedEvent
  let name: string | undefined
  do {
    const [objectType, metric] = weightedPair(random)
    name = JOURNEYS_METRIC_EVENTS[objectType]?.[metric]
    webhook = factory.event(objectType, metric)
  } while (name === undefined)
  const { identifiers, customer_id: customerId, ...properties } = webhook.data as { identifiers: { id: string, email: string | null }, customer_id: string }
  return {
    ...common(factory, 'track', webhook.timestamp),
    event: name,
    userId: customerId,
    properties,
    context: { traits: { email: identifiers.email } }
  }
}

function identify (factory: EventFactory, random: () => number, seconds: number): Record<string, unknown> {
  const person = factory.person()
  return {
    ...common(factory, 'identify', seconds),
    userId: person.id,
    traits: { email: person.email, phone: person.phone, plan: pickFrom(['trial', 'pro', 'team'], random) },
    context: { library: { name: '@customerio/cdp-analytics-node', version: '0.2.0' } }
  }
}

function page (factory: EventFactory, random: () => number, seconds: number): Record<string, unknown> {
  const path = pickFrom(['/', '/pricing', '/docs', '/blog/launch'], random)
  const url = `https://example.com${path}`
  return {
    ...common(factory, 'page', seconds),
    anonymousId: uuidOf(factory.ulid()),
    name: path === '/' ? 'Home' : path.slice(1),
    properties: { path, url, referrer: 'https://www.google.com/' },
    context: { page: { path, url }, library: { name: 'analytics.js', version: 'next-1.70.0' } }
  }
}

/** A UUID-shaped id from a ULID, so that a seed replays the same ids. */
function uuidOf (ulid: string): string {
  const hex = createHash('sha256').update(ulid).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}
