/** The webhook sink: one POST per event, signed per Standard Webhooks, behind an SSRF guard. */
import { Type } from '@sinclair/typebox'
import { defineSink } from '../../../src/sinks/definition.js'
import { Duration } from '../../../src/config/schema.js'
import { parseDuration } from '../../../src/units.js'
import { lazySink } from '../../../src/sinks/lazy.js'

export const webhookSink = defineSink({
  type: 'webhook',
  summary: 'POSTs each event as JSON to an HTTP endpoint, signed per Standard Webhooks when a secret is set.',
  schema: Type.Object({
    url: Type.String({ pattern: '^https?://[^\\s]+$', expected: 'an http:// or https:// URL without spaces', description: 'Endpoint that receives one POST per event. Redirects are not followed.' }),
    secret: Type.Optional(Type.String({
      pattern: '^((whsec_)?[A-Za-z0-9+/]{32,}={0,2})?$',
      expected: 'empty, or a Standard Webhooks secret: whsec_ and base64 of at least 24 random bytes, with no spaces or line breaks',
      description: 'Standard Webhooks signing secret, `whsec_` + base64 of 24 to 64 random bytes. Empty: requests are not signed.',
      default: ''
    })),
    headers: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9-]+$' }), Type.String(), {
      additionalProperties: false,
      expected: 'a header name of letters, digits and -',
      description: 'Extra request headers, e.g. `Authorization`.'
    })),
    timeout: Type.Optional(Duration('Longest one request may take, connecting included.', '10s')),
    allow_private_networks: Type.Optional(Type.Boolean({
      description: 'Allow targets that resolve to loopback, private, link-local, CGNAT or other reserved addresses. Off by default (SSRF guard).',
      default: false
    }))
  }, { required: ['url'] }),
  batchDefaults: { maxEvents: 20, maxBytes: 1024 * 1024, maxWaitMs: 10 },
  // The client library loads when a worker starts the sink (see src/sinks/lazy.ts).
  create: (options, context) => lazySink(async () => new (await import('./webhook-sink.js')).WebhookSink({
    url: options.url,
    secret: options.secret === undefined || options.secret === '' ? undefined : options.secret,
    headers: Object.fromEntries(Object.entries(options.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
    timeoutMs: parseDuration(options.timeout ?? '10s'),
    allowPrivateNetworks: options.allow_private_networks ?? false
  }, context.logger))
})
