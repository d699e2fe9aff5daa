/** Signs test requests the way Customer.io does (SPEC §2, §13), independently of the gateway's verifier. */
import { createHmac } from 'node:crypto'

export const TEST_SECRET = 'test-secret-for-cio-gateway'

export function signature (secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')
}

export function signedHeaders (body: string | Buffer, options: { secret?: string, timestamp?: number } = {}): Record<string, string> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000))
  return {
    'content-type': 'application/json',
    'x-cio-timestamp': timestamp,
    'x-cio-signature': signature(options.secret ?? TEST_SECRET, timestamp, body)
  }
}

export const PIPELINES_SECRET = 'test-secret-for-data-pipelines'

/** Headers of a Data Pipelines webhook destination: X-Signature = hex HMAC-SHA1 of the body. */
export function pipelinesHeaders (body: string | Buffer, options: { secret?: string } = {}): Record<string, string> {
  return { 'content-type': 'application/json', 'x-signature': createHmac('sha1', options.secret ?? PIPELINES_SECRET).update(body).digest('hex') }
}

let counter = 0
/** A realistic event with a distinct event_id. */
export function sampleEvent (overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter++
  return {
    event_id: `01TEST${Date.now().toString(36).toUpperCase()}${String(counter).padStart(6, '0')}`,
    object_type: 'email',
    metric: 'delivered',
    timestamp: Math.floor(Date.now() / 1000),
    data: { campaign_id: 5, action_id: 42, delivery_id: `D${counter}`, identifiers: { id: '42', email: 'person@example.com' }, recipient: 'person@example.com' },
    ...overrides
  }
}

/** A realistic Data Pipelines event (a Journeys Message Metrics `track` unless overridden) with a distinct messageId. */
export function samplePipelinesEvent (overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter++
  return {
    type: 'track',
    event: 'Email Delivered',
    userId: '42',
    messageId: `test-${Date.now().toString(36)}-${String(counter).padStart(7, '0')}`,
    timestamp: new Date().toISOString(),
    properties: { delivery_id: `D${counter}`, campaign_id: 5, action_id: 42, recipient: 'person@example.com' },
    context: { traits: { email: 'person@example.com' } },
    ...overrides
  }
}
