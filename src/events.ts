/**
 * Types of the Customer.io reporting-webhook envelope, for the gateway and for users' own code.
 *
 * These types describe what Customer.io documents today. Customer.io adds object types, metrics and
 * fields without notice, so every union below is open (`string & {}` keeps editor completion while
 * accepting any string) and the gateway never rejects an event for a value it does not know.
 */

/** An open string union: the known values complete in editors, any other string is still valid. */
export type Open<T extends string> = T | (string & {})

/** Metrics that may arrive under any object type (subscription changes). */
export type SubscriptionMetric = 'subscribed' | 'unsubscribed' | 'cio_subscription_preferences_changed'

/** Object type → metrics, as published in Customer.io's webhook OpenAPI (see test/fixtures/catalog.json). */
export interface MetricsByObjectType {
  customer: SubscriptionMetric
  email:
    | 'drafted' | 'attempted' | 'sent' | 'delivered' | 'opened' | 'clicked' | 'converted' | 'unsubscribed'
    | 'bounced' | 'dropped' | 'spammed' | 'failed' | 'undeliverable' | 'deferred'
  push:
    | 'drafted' | 'attempted' | 'sent' | 'delivered' | 'opened' | 'clicked' | 'converted' | 'bounced'
    | 'dropped' | 'failed' | 'undeliverable'
  in_app: 'drafted' | 'attempted' | 'sent' | 'opened' | 'clicked' | 'converted' | 'failed' | 'undeliverable'
  sms:
    | 'drafted' | 'attempted' | 'sent' | 'delivered' | 'clicked' | 'converted' | 'bounced' | 'failed'
    | 'undeliverable' | 'replied'
  whatsapp:
    | 'drafted' | 'attempted' | 'sent' | 'delivered' | 'opened' | 'clicked' | 'converted' | 'bounced'
    | 'dropped' | 'failed' | 'undeliverable' | 'replied'
  slack: 'drafted' | 'attempted' | 'sent' | 'clicked' | 'failed' | 'undeliverable'
  webhook: 'drafted' | 'attempted' | 'sent' | 'clicked' | 'failed' | 'undeliverable'
}

export type KnownObjectType = keyof MetricsByObjectType
export type KnownMetric = MetricsByObjectType[KnownObjectType] | SubscriptionMetric

/** The catalogue at run time, for bounding metric labels and for the simulator. */
export const METRICS_BY_OBJECT_TYPE: { readonly [K in KnownObjectType]: readonly MetricsByObjectType[K][] } = {
  customer: ['subscribed', 'unsubscribed', 'cio_subscription_preferences_changed'],
  email: ['drafted', 'attempted', 'sent', 'delivered', 'opened', 'clicked', 'converted', 'unsubscribed', 'bounced',
    'dropped', 'spammed', 'failed', 'undeliverable', 'deferred'],
  push: ['drafted', 'attempted', 'sent', 'delivered', 'opened', 'clicked', 'converted', 'bounced', 'dropped',
    'failed', 'undeliverable'],
  in_app: ['drafted', 'attempted', 'sent', 'opened', 'clicked', 'converted', 'failed', 'undeliverable'],
  sms: ['drafted', 'attempted', 'sent', 'delivered', 'clicked', 'converted', 'bounced', 'failed', 'undeliverable',
    'replied'],
  whatsapp: ['drafted', 'attempted', 'sent', 'delivered', 'opened', 'clicked', 'converted', 'bounced', 'dropped',
    'failed', 'undeliverable', 'replied'],
  slack: ['drafted', 'attempted', 'sent', 'clicked', 'failed', 'undeliverable'],
  webhook: ['drafted', 'attempted', 'sent', 'clicked', 'failed', 'undeliverable']
}

/** Who a message was sent to, as Customer.io identifies the person. */
export interface Identifiers {
  id?: string | null
  email?: string | null
  cio_id?: string | null
  [field: string]: unknown
}

/** Fields common to the `data` of message events, whatever sent the message. */
export interface MessageDataBase {
  delivery_id?: string
  action_id?: number
  customer_id?: string
  identifiers?: Identifiers
  recipient?: string
  subject?: string
  href?: string
  link_id?: number
  failure_message?: string
  journey_id?: string
  [field: string]: unknown
}

/** Sent by a campaign (triggered or segment). */
export interface CampaignData extends MessageDataBase { campaign_id: number }
/** Sent by an API-triggered broadcast. */
export interface BroadcastData extends MessageDataBase { broadcast_id: number; trigger_id?: number }
/** Sent as a newsletter. */
export interface NewsletterData extends MessageDataBase { newsletter_id: number; content_id?: number }
/** Sent through the transactional API. */
export interface TransactionalData extends MessageDataBase { transactional_message_id: number | string }

/** Customer-level subscription events carry the person, not a delivery. */
export interface CustomerSubscriptionData {
  customer_id?: string
  email_address?: string
  identifiers?: Identifiers
  content?: string
  [field: string]: unknown
}

export type MessageData = CampaignData | BroadcastData | NewsletterData | TransactionalData | MessageDataBase
export type EventData = MessageData | CustomerSubscriptionData

/** One reporting webhook request body: Customer.io sends exactly one event per request. */
export interface CioEvent<O extends string = Open<KnownObjectType>, M extends string = Open<KnownMetric>> {
  event_id: string
  object_type: O
  metric: M
  /** Event time, unix seconds. */
  timestamp: number
  data: EventData
  [field: string]: unknown
}

/** An event of one known object type, with that type's metrics. */
export type KnownCioEvent = {
  [K in KnownObjectType]: CioEvent<K, MetricsByObjectType[K] | SubscriptionMetric>
}[KnownObjectType]

/** Narrowing helpers for the origin of a message event. */
export function isCampaignData (data: EventData): data is CampaignData {
  return typeof (data as CampaignData).campaign_id === 'number'
}
export function isBroadcastData (data: EventData): data is BroadcastData {
  return typeof (data as BroadcastData).broadcast_id === 'number'
}
export function isNewsletterData (data: EventData): data is NewsletterData {
  return typeof (data as NewsletterData).newsletter_id === 'number'
}
export function isTransactionalData (data: EventData): data is TransactionalData {
  return (data as TransactionalData).transactional_message_id !== undefined
}

/** The envelope as the gateway needs it: object_type and metric present, everything else passes through. */
export interface RoutableEvent {
  event_id?: unknown
  object_type: string
  metric: string
  timestamp?: unknown
  data?: unknown
  [field: string]: unknown
}

/**
 * Checks only what routing needs; any other field may be missing or of any type (SPEC §2: never
 * reject an event for its shape). Returns the reason it cannot be routed, or undefined.
 */
export function unroutableReason (value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not_a_json_object'
  const record = value as Record<string, unknown>
  if (typeof record.object_type !== 'string' || record.object_type === '') return 'missing_object_type'
  if (typeof record.metric !== 'string' || record.metric === '') return 'missing_metric'
  return undefined
}
