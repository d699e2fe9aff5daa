/**
 * Realistic signed Customer.io events for the load generator: the project's fixtures, each request
 * with its own event_id. A body is two precomputed halves around the id, so generating one costs a
 * string concatenation and one HMAC, the same for every target.
 */
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'

const FIXTURES = [
  'email-clicked-campaign', 'email-bounced-transactional', 'push-sent-broadcast', 'in-app-clicked',
  'sms-replied', 'subscription-preferences-changed', 'email-unsubscribed-customer-level', 'email-sent-vendor-example'
]
const ID_MARK = '@@event_id@@'

export interface SignedRequest {
  readonly body: string
  readonly headers: Record<string, string>
}

export class EventSource {
  private readonly templates: (readonly [string, string])[]
  private counter = 0

  /** `runId` keeps ids distinct across runs and targets. */
  constructor (fixtureDir: URL, private readonly secret: string, private readonly runId: string) {
    this.templates = FIXTURES.map((name) => {
      const event = JSON.parse(readFileSync(new URL(`${name}.json`, fixtureDir), 'utf8')) as Record<string, unknown>
      event.event_id = ID_MARK
      const [before, after] = JSON.stringify(event).split(ID_MARK) as [string, string]
      return [before, after] as const
    })
  }

  /** The next event with a fresh id, signed now. */
  next (): SignedRequest {
    const n = this.counter++
    const [before, after] = this.templates[n % this.templates.length] as readonly [string, string]
    const body = `${before}01BENCH${this.runId}${n.toString(36).toUpperCase().padStart(8, '0')}${after}`
    const timestamp = String(Math.floor(Date.now() / 1000))
    const signature = createHmac('sha256', this.secret).update(`v0:${timestamp}:`).update(body).digest('hex')
    return { body, headers: { 'content-type': 'application/json', 'x-cio-timestamp': timestamp, 'x-cio-signature': signature } }
  }

  get sent (): number {
    return this.counter
  }
}
