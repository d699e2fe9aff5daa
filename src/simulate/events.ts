/**
 * Realistic Customer.io reporting events for `cio-gateway simulate`: every object type and metric
 * of the catalogue (src/events.ts), in the proportions a real workspace sends them (many sends,
 * deliveries and opens, few bounces and spam reports), shaped like the samples in test/fixtures,
 * plus a few duplicates (Customer.io retries the same body) and one metric from the future.
 */
import { METRICS_BY_OBJECT_TYPE } from '../events.js'

export type SendKind = 'original' | 'duplicate' | 'unknown_metric'

export interface PlannedSend {
  readonly kind: SendKind
  readonly eventId: string
  readonly objectType: string
  readonly metric: string
  /** The exact bytes to send; a duplicate carries its original's. */
  readonly body: string
  /** For a duplicate: the index of the original it repeats (sent, and answered, before it). */
  readonly duplicateOf?: number
}

export interface Plan {
  readonly sends: readonly PlannedSend[]
  /** Whether every (object_type, metric) pair of the catalogue is in the plan (false when count is too small). */
  readonly coversCatalog: boolean
}

/** The metric the gateway has never heard of: it must be accepted and routed like any other. */
export const UNKNOWN_METRIC = { objectType: 'email', metric: 'x_simulated_future_metric' } as const

/** Share of each object type in the traffic of a typical workspace. */
const OBJECT_TYPE_WEIGHTS: Readonly<Record<string, number>> = {
  email: 55, push: 15, in_app: 8, sms: 8, whatsapp: 5, webhook: 4, customer: 3, slack: 2
}

/** Relative frequency of each metric within an object type's events: the message funnel. */
const METRIC_WEIGHTS: Readonly<Record<string, number>> = {
  drafted: 0.5,
  attempted: 3,
  sent: 30,
  delivered: 27,
  opened: 14,
  clicked: 4,
  converted: 0.8,
  replied: 1,
  deferred: 0.6,
  bounced: 0.6,
  failed: 0.4,
  undeliverable: 0.3,
  dropped: 0.2,
  unsubscribed: 0.3,
  spammed: 0.05,
  subscribed: 5,
  cio_subscription_preferences_changed: 2
}

/** Customer-level unsubscribes and subscription changes weigh more among customer events. */
const CUSTOMER_METRIC_WEIGHTS: Readonly<Record<string, number>> = { subscribed: 5, unsubscribed: 3, cio_subscription_preferences_changed: 2 }

export const CATALOG_PAIRS: readonly (readonly [string, string])[] = Object.entries(METRICS_BY_OBJECT_TYPE)
  .flatMap(([objectType, metrics]) => (metrics as readonly string[]).map((metric) => [objectType, metric] as const))

export interface PlanOptions {
  readonly count: number
  /** Uniform in [0, 1): seeded for reproducible runs. */
  readonly random: () => number
  readonly now?: () => number
}

export function planSimulation (options: PlanOptions): Plan {
  const { count, random } = options
  const now = options.now ?? Date.now
  const duplicates = count >= 10 ? Math.max(1, Math.round(count * 0.03)) : 0
  const unknown = count >= 2 ? 1 : 0
  const originals = count - duplicates - unknown
  const coversCatalog = originals >= CATALOG_PAIRS.length

  const pairs: (readonly [string, string])[] = coversCatalog ? [...CATALOG_PAIRS] : []
  while (pairs.length < originals) pairs.push(weightedPair(random))
  shuffle(pairs, random)

  const factory = new EventFactory(random, now)
  const sends: PlannedSend[] = pairs.map(([objectType, metric]) => factory.send('original', objectType, metric))
  if (unknown === 1) sends.splice(Math.floor(random() * (sends.length + 1)), 0, factory.send('unknown_metric', UNKNOWN_METRIC.objectType, UNKNOWN_METRIC.metric))
  for (let n = 0; n < duplicates; n++) {
    // A copy goes after its original, as a retry would.
    let originalIndex = Math.floor(random() * sends.length)
    while ((sends[originalIndex] as PlannedSend).kind !== 'original') originalIndex = (originalIndex + 1) % sends.length
    const original = sends[originalIndex] as PlannedSend
    const at = originalIndex + 1 + Math.floor(random() * (sends.length - originalIndex))
    sends.splice(at, 0, { ...original, kind: 'duplicate', duplicateOf: originalIndex })
    // Later originals moved one place: keep the duplicates' references right.
    for (let index = at + 1; index < sends.length; index++) {
      const send = sends[index] as PlannedSend
      if (send.duplicateOf !== undefined && send.duplicateOf >= at) sends[index] = { ...send, duplicateOf: send.duplicateOf + 1 }
    }
  }
  return { sends, coversCatalog }
}

/** An (object_type, metric) pair drawn in the proportions of a typical workspace's traffic. */
export function weightedPair (random: () => number): readonly [string, string] {
  const objectType = pick(Object.entries(OBJECT_TYPE_WEIGHTS), random)
  const metrics = METRICS_BY_OBJECT_TYPE[objectType as keyof typeof METRICS_BY_OBJECT_TYPE] as readonly string[]
  const weights = objectType === 'customer' ? CUSTOMER_METRIC_WEIGHTS : METRIC_WEIGHTS
  return [objectType, pick(metrics.map((metric) => [metric, weights[metric] ?? 0.5] as const), random)]
}

function pick (weighted: readonly (readonly [string, number])[], random: () => number): string {
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0)
  let left = random() * total
  for (const [value, weight] of weighted) {
    left -= weight
    if (left < 0) return value
  }
  return (weighted[weighted.length - 1] as readonly [string, number])[0]
}

function shuffle<T> (items: T[], random: () => number): void {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1))
    ;[items[index], items[other]] = [items[other] as T, items[index] as T]
  }
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** A reporting-webhook event as the simulator sends it. */
export interface SimulatedEvent {
  event_id: string
  object_type: string
  metric: string
  timestamp: number
  data: Record<string, unknown>
}

/** Realistic events of a workspace of 40 people: ids, recipients, origins and failures as Customer.io writes them. */
export class EventFactory {
  private readonly people = 40

  constructor (private readonly random: () => number, private readonly now: () => number) {}

  send (kind: SendKind, objectType: string, metric: string): PlannedSend {
    const event = this.event(objectType, metric)
    return { kind, eventId: event.event_id, objectType, metric, body: JSON.stringify(event) }
  }

  event (objectType: string, metric: string): SimulatedEvent {
    return {
      event_id: this.ulid(),
      object_type: objectType,
      metric,
      timestamp: Math.floor(this.now() / 1000) - this.int(120),
      data: objectType === 'customer' || this.customerLevel(objectType, metric) ? this.customerData(metric) : this.messageData(objectType, metric)
    }
  }

  /** Half of the email unsubscribes are customer-level (no delivery), as Customer.io sends them. */
  private customerLevel (objectType: string, metric: string): boolean {
    return objectType === 'email' && metric === 'unsubscribed' && this.random() < 0.5
  }

  private customerData (metric: string): Record<string, unknown> {
    const person = this.person()
    return {
      customer_id: person.id,
      email_address: person.email,
      identifiers: { id: person.id, email: person.email, cio_id: person.cioId },
      ...(metric === 'cio_subscription_preferences_changed' ? { content: JSON.stringify({ topics: { [`topic_${1 + this.int(3)}`]: this.random() < 0.5 } }) } : {})
    }
  }

  private messageData (objectType: string, metric: string): Record<string, unknown> {
    const person = this.person()
    const data: Record<string, unknown> = { ...this.origin(), action_id: 10 + this.int(90), delivery_id: this.deliveryId(), customer_id: person.id }
    data.identifiers = { id: person.id, email: objectType === 'sms' || objectType === 'whatsapp' ? null : person.email, cio_id: person.cioId }
    data.recipient = this.recipient(objectType, person)
    if (objectType === 'email') data.subject = pickFrom(['Welcome aboard', 'Your trial ends soon', 'Your receipt', 'New this week'], this.random)
    if (objectType === 'push' && metric === 'sent') data.recipients = [{ device_id: `device-${person.id}`, device_platform: this.random() < 0.5 ? 'ios' : 'android' }]
    if (metric === 'clicked') Object.assign(data, { href: `https://example.com/${pickFrom(['pricing', 'upgrade', 'docs', 'blog'], this.random)}`, link_id: 1 + this.int(9) })
    if (['bounced', 'failed', 'dropped', 'undeliverable', 'deferred', 'spammed'].includes(metric)) data.failure_message = failureMessage(objectType, metric)
    if (metric === 'replied') Object.assign(data, { inbound_event_id: `IN${this.ulid().slice(0, 12)}`, to: '+12025550100' })
    return data
  }

  private origin (): Record<string, number> {
    const roll = this.random()
    if (roll < 0.6) return { campaign_id: 1 + this.int(12) }
    if (roll < 0.75) return { broadcast_id: 1 + this.int(4) }
    if (roll < 0.9) return { newsletter_id: 1 + this.int(6) }
    return { transactional_message_id: 1 + this.int(5) }
  }

  private recipient (objectType: string, person: Person): string {
    switch (objectType) {
      case 'email': return person.email
      case 'sms': case 'whatsapp': return person.phone
      case 'slack': return `#${pickFrom(['alerts', 'growth', 'support'], this.random)}`
      case 'webhook': return 'https://hooks.example.com/customerio'
      default: return person.id
    }
  }

  person (): Person {
    const n = this.int(this.people)
    return { id: String(1000 + n), email: `person${n}@example.com`, phone: `+1202555${String(100 + n).padStart(4, '0')}`, cioId: `d9c1060${String(n).padStart(5, '0')}` }
  }

  private deliveryId (): string {
    let id = ''
    for (let n = 0; n < 24; n++) id += 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[this.int(62)]
    return id
  }

  /** 26 Crockford base-32 characters: 48 bits of milliseconds, then 80 random bits (the ULID layout). */
  ulid (): string {
    let time = this.now()
    let head = ''
    for (let n = 0; n < 10; n++) {
      head = CROCKFORD[time % 32] + head
      time = Math.floor(time / 32)
    }
    let tail = ''
    for (let n = 0; n < 16; n++) tail += CROCKFORD[this.int(32)]
    return head + tail
  }

  int (below: number): number {
    return Math.floor(this.random() * below)
  }
}

export interface Person { id: string, email: string, phone: string, cioId: string }

export function pickFrom<T> (items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T
}

function failureMessage (objectType: string, metric: string): string {
  if (objectType === 'email') return metric === 'spammed' ? 'Marked as spam by the recipient' : '550 5.1.1 mailbox does not exist'
  if (objectType === 'push') return 'Unregistered device token'
  if (objectType === 'sms' || objectType === 'whatsapp') return '30003 Unreachable destination handset'
  return `${metric}: the target answered 500`
}

/** mulberry32: a small seeded generator, so `--seed` replays the same plan. */
export function seededRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let value = state
    value = Math.imul(value ^ (value >>> 15), value | 1)
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61)
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296
  }
}
