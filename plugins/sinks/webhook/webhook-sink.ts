import { Agent, request } from 'undici'
import { Webhook } from 'standardwebhooks'
import { PermanentSinkError, RetryableSinkError, type SinkError } from '../../../src/errors.js'
import type { Logger } from '../../../src/logger.js'
import type { BatchOutcome, DeliveryEvent, Sink } from '../../../src/sinks/contract.js'
import { retryAfterMs, statusError, transportErrorType } from '../common/http-errors.js'
import { SsrfRefusedError, guardedConnector } from './ssrf-guard.js'

export interface WebhookSinkOptions {
  readonly url: string
  /** Standard Webhooks secret (`whsec_<base64>`); undefined sends unsigned requests. */
  readonly secret: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number
  readonly allowPrivateNetworks: boolean
}

export class WebhookSink implements Sink {
  private readonly agent: Agent
  private readonly signer: Webhook | undefined
  private closed = false

  constructor (private readonly options: WebhookSinkOptions, private readonly logger: Logger) {
    this.agent = new Agent({
      connect: options.allowPrivateNetworks ? { timeout: options.timeoutMs } : guardedConnector(options.timeoutMs),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs
    })
    this.signer = options.secret === undefined ? undefined : new Webhook(options.secret)
  }

  /** One request per event, all of the batch at once; each event succeeds or fails on its own. */
  async deliver (batch: readonly DeliveryEvent[]): Promise<BatchOutcome> {
    const failures = new Map<number, Error>()
    await Promise.all(batch.map(async (event, index) => {
      try {
        await this.post(event)
      } catch (error) {
        failures.set(index, webhookError(error, this.options.url))
      }
    }))
    return { failures }
  }

  private async post (event: DeliveryEvent): Promise<void> {
    // The event object as received (after redaction), without the gateway's `_gateway` field.
    // The bytes as received, so large integers and key order survive the hop.
    const body = event.body
    const headers: Record<string, string> = {
      ...this.options.headers,
      'content-type': 'application/json',
      'user-agent': 'cio-gateway',
      // The same id on every retry of an event, so the receiver can drop a copy it already has.
      'webhook-id': event.eventId
    }
    if (this.signer !== undefined) {
      const now = new Date()
      headers['webhook-timestamp'] = String(Math.floor(now.getTime() / 1000))
      headers['webhook-signature'] = this.signer.sign(event.eventId, now, body)
    }
    // undici's request() never follows redirects: a 3xx comes back as an answer and is refused below.
    const response = await request(this.options.url, {
      method: 'POST',
      headers,
      body,
      dispatcher: this.agent,
      signal: AbortSignal.timeout(this.options.timeoutMs)
    })
    await response.body.dump()
    const status = response.statusCode
    if (status >= 200 && status < 300) return
    throw statusError(status, `POST ${redactedUrl(this.options.url)} answered ${status}`, {
      // SPEC §5: 4xx other than 408/429 dead-letters at once; so does a redirect, which is never followed.
      permanent: (status >= 300 && status < 500) && status !== 408 && status !== 429,
      retryAfter: retryAfterMs(response.headers['retry-after'])
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.agent.close()
  }
}

function webhookError (error: unknown, url: string): SinkError {
  if (error instanceof PermanentSinkError || error instanceof RetryableSinkError) return error
  const refused = findCause(error, SsrfRefusedError)
  if (refused !== undefined) return new PermanentSinkError(refused.message, 'ssrf_refused', { cause: error })
  const message = `POST ${redactedUrl(url)} failed: ${(error as Error).message}`
  return new RetryableSinkError(message, transportErrorType(error) ?? 'error', undefined, { cause: error })
}

function findCause<T extends Error> (error: unknown, type: new (...args: never[]) => T): T | undefined {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof type) return current
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** The URL without credentials or query, for messages kept in dead letters and logs (tokens often hide there). */
function redactedUrl (url: string): string {
  const parsed = new URL(url)
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
}
