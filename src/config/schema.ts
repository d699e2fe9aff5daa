/**
 * The JSON Schema of routes.yaml (SPEC §4), written with TypeBox so one definition gives the
 * TypeScript type, the ajv validation and the README's configuration reference. Source- and
 * sink-type options live with each type (plugins/sources/<type>/definition.ts,
 * plugins/sinks/<type>/definition.ts) and are checked in a second pass.
 */
import { Type, type Static, type TArray, type TString } from '@sinclair/typebox'
import { DURATION_PATTERN, SIZE_PATTERN } from '../units.js'

export const Duration = (description: string, defaultValue?: string): TString =>
  Type.String({ pattern: DURATION_PATTERN, expected: 'a duration such as 500ms, 30s, 5m, 24h or 7d', description, ...(defaultValue === undefined ? {} : { default: defaultValue }) })
export const Size = (description: string, defaultValue?: string): TString =>
  Type.String({ pattern: SIZE_PATTERN, expected: 'a size such as 512kb or 1mb', description, ...(defaultValue === undefined ? {} : { default: defaultValue }) })

const Strict = { additionalProperties: false } as const

export const ServerSchema = Type.Object({
  host: Type.String({ description: 'Address of the webhook listener (POST /webhooks/*, /healthz, /readyz), the one Customer.io reaches; the HOST environment variable overrides it.', default: '0.0.0.0' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, description: 'Port of the webhook listener; the PORT environment variable overrides it. 0 picks a free port (the startup banner names it).', default: 8080 }),
  management_host: Type.String({ description: 'Address of the management listener (/metrics, /admin/*, /healthz, /readyz); the MANAGEMENT_HOST environment variable overrides it. Keep it on loopback or inside the cluster: it is not meant for the internet.', default: '127.0.0.1' }),
  management_port: Type.Integer({ minimum: 0, maximum: 65535, description: 'Port of the management listener; the MANAGEMENT_PORT environment variable overrides it. 0 picks a free port (the startup banner names it).', default: 8081 }),
  max_connections: Type.Integer({ minimum: 1, maximum: 1000000, description: 'Most connections each listener holds open at once; one over the cap is closed as soon as it is accepted (and logged), while the others are served. With keep-alive a request takes a few milliseconds, so 512 carry well over 10,000 events/s. It also bounds the memory of bodies being read: up to max_connections × body_limit per listener (512 MB at the defaults), so lower one or both on small pods.', default: 512 }),
  body_limit: Size('Largest accepted webhook body; larger requests get 413. Reporting webhook events are a few KB, but email `sent` and `drafted` events may carry the rendered message content, and a Data Pipelines batch holds up to 1,000 events: 1mb leaves room for both.', '1mb'),
  shutdown_grace: Duration('How long SIGTERM/SIGINT may take to finish requests and flush batches before the process exits.', '25s')
}, { ...Strict, description: 'The two HTTP listeners: webhooks (internet-facing) and management (inside).' })

export const AdminSchema = Type.Object({
  token: Type.String({ description: 'Bearer token for /admin/*, at least 32 characters (e.g. `openssl rand -hex 32`). Empty turns the admin API off (404).', default: '' })
}, { ...Strict, description: 'The admin API.' })

const RedisNodes = (what: string): TArray<TString> => Type.Array(Type.String({ pattern: '^rediss?://', expected: 'a redis:// or rediss:// URL', description: 'redis://host:port, or rediss:// for TLS' }), {
  minItems: 1, description: `${what} as redis:// or rediss:// URLs; one is enough to find the others, more survive one being down.`
})
const RedisPassword = Type.String({ description: 'Password (Redis AUTH); pass it as `${VAR}` from a Secret.' })
const RedisUsername = Type.String({ description: 'ACL user name, when the password belongs to one (Redis 6+ ACLs).' })

export const RedisSentinelSchema = Type.Object({
  name: Type.String({ minLength: 1, description: 'The master set name the sentinels monitor (`sentinel monitor <name> …`; bitnami: `mymaster`).' }),
  nodes: RedisNodes('Sentinels'),
  password: Type.Optional(RedisPassword),
  username: Type.Optional(RedisUsername),
  sentinel_password: Type.Optional(Type.String({ description: 'Password of the sentinels themselves, when they require one (`requirepass` in sentinel.conf).' })),
  tls: Type.Optional(Type.Boolean({ description: 'TLS to the Redis nodes (and to the sentinels when their URLs are rediss://).', default: false })),
  db: Type.Optional(Type.Integer({ minimum: 0, maximum: 15, description: 'Database number.', default: 0 }))
}, { additionalProperties: false, required: ['name', 'nodes'], description: 'Redis behind Sentinel: the primary is asked from the sentinels and followed across failovers.' })

export const RedisClusterSchema = Type.Object({
  nodes: RedisNodes('Cluster nodes (the configuration endpoint of ElastiCache or Memorystore is one)'),
  password: Type.Optional(RedisPassword),
  username: Type.Optional(RedisUsername),
  tls: Type.Optional(Type.Boolean({ description: 'TLS to every node (also implied by rediss:// node URLs).', default: false }))
}, { additionalProperties: false, required: ['nodes'], description: 'Redis (or Valkey) Cluster: keys are spread over `shards` hash tags.' })

export const QueueSchema = Type.Object({
  redis_url: Type.String({ description: 'One Redis node for BullMQ (rediss:// for TLS). Empty, with neither redis_sentinel nor redis_cluster, runs the embedded in-process queue: one process, in memory, NOT durable.', default: '' }),
  redis_sentinel: RedisSentinelSchema,
  redis_cluster: RedisClusterSchema,
  shards: Type.Integer({ minimum: 1, maximum: 1024, description: 'Cluster only: hash-tag shards the queues and dedupe marks are spread over. Stored in Redis at first start; a later start with another value refuses to run (it would hide dedupe marks).', default: 48 }),
  replicas_ack: Type.Integer({ minimum: 0, maximum: 16, description: 'Replicas that must confirm a write (Redis WAIT) before ingest answers 200, so a primary that dies right after the answer loses nothing. Default 1 with redis_sentinel or redis_cluster, 0 with redis_url. On a cluster, when a primary has fewer healthy replicas (just after a failover), it waits for those it has and counts the write as degraded; behind Sentinel or on one node such writes are refused (503).' }),
  prefix: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', expected: 'made of letters, digits, _, . and -', description: 'Prefix of every Redis key the gateway writes.', default: 'cio' }),
  high_water_mark: Type.Integer({ minimum: 1, description: 'Events waiting (or delayed) over all sinks above which ingest answers 503 with Retry-After; with Redis, estimated from the jobs waiting and the events per job recently written. With shards, a shard may also hold at most twice its share.', default: 100000 }),
  max_bytes: Size('Bytes of events queued in Redis (waiting, delayed or being delivered in every sink queue, plus the quarantine) above which ingest answers 503 with Retry-After, like the high-water mark; estimated from the backlog and the sizes of recent events.', '512mb'),
  lock_duration: Duration('How long a worker holds a job before another may take it over; events of a crashed worker are delivered again after about this long.', '30s')
}, { ...Strict, description: 'The queue backend.' })

export const QuarantineSchema = Type.Object({
  max_events: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Quarantined bodies kept at most; beyond it the oldest are dropped and counted.', default: 10000 }),
  max_age: Duration('How long a quarantined body is kept; older ones are dropped and counted.', '7d')
}, { ...Strict, description: 'Signed bodies that are not routable events (not JSON, no object_type or metric): kept apart, deduplicated, bounded.' })

export const DedupeSchema = Type.Object({
  window: Duration('How long an event_id is remembered per source; a copy inside the window is answered `duplicate`.', '24h')
}, { ...Strict, description: 'Duplicate suppression.' })

/** Signing keys: every source type has them. */
export const SourceSecrets = Type.Array(Type.String({ minLength: 1 }), {
  minItems: 1, description: 'Signing keys; a request signed with any one of them is accepted (for key rotation).'
})

/** Options every source has, whatever its type; each type adds its own (plugins/sources/<type>/definition.ts). */
export const CommonSourceProperties = {
  type: Type.String({ description: 'The source type: how requests are signed and what their bodies hold (see the source types below).' })
}

export const BatchSchema = Type.Object({
  max_events: Type.Integer({ minimum: 1, maximum: 10000, description: 'Most events in one batch.' }),
  max_bytes: Size('Most bytes (NDJSON lines) in one batch.'),
  max_wait: Duration('Longest an event waits for its batch to fill.')
}, { ...Strict, description: 'How events are grouped before the sink sees them.' })

export const RetrySchema = Type.Object({
  attempts: Type.Integer({ minimum: 1, maximum: 1000, description: 'Deliveries tried in all before the event is dead-lettered.', default: 12 }),
  initial_delay: Duration('Delay before the second attempt; it doubles each time, with jitter.', '1s'),
  max_delay: Duration('Longest delay between two attempts.', '10m')
}, { ...Strict, description: 'Retries of failed deliveries.' })

/** Options every sink accepts, whatever its type. */
export const CommonSinkProperties = {
  type: Type.String({ description: 'The sink type (see the sink reference).' }),
  batch: Type.Optional(Type.Partial(BatchSchema)),
  retry: Type.Optional(Type.Partial(RetrySchema)),
  concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: 'Batches delivered in parallel.', default: 2 })),
  redact: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*$', expected: 'a dotted path such as data.recipient' }), {
    description: 'Dotted paths whose values this sink receives as a SHA-256 hex digest (for PII).'
  })),
  redact_key: Type.Optional(Type.String({ description: 'When set, redaction digests are HMAC-SHA256 keyed with it, so they cannot be reversed by dictionary.' }))
}

const MatchValue = Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })])

export const RouteSchema = Type.Object({
  name: Type.String({ minLength: 1, description: 'Unique name, used in logs.' }),
  match: Type.Record(Type.String({ pattern: '^(source|object_type|metric|[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)+)$' }), MatchValue, {
    ...Strict,
    expected: 'source, object_type, metric or a dotted path such as data.campaign_id',
    description: 'Conditions that must all hold: keys `source`, `object_type`, `metric` or a dotted path such as `data.campaign_id`; a value is a string, a list (any of), or "*". `{}` matches everything.'
  }),
  sinks: Type.Array(Type.String(), { minItems: 1, description: 'Sinks that receive the matching events.' }),
  stop: Type.Optional(Type.Boolean({ description: 'When true, routes after this one are not tried for a matching event.', default: false }))
}, { ...Strict, required: ['name', 'match', 'sinks'] })

export const ReportingSchema = Type.Object({
  api_key: Type.String({ description: 'Customer.io App API key; empty turns the poller off.', default: '' }),
  region: Type.Unsafe<'us' | 'eu'>({ type: 'string', enum: ['us', 'eu'], description: '`us` → https://api.customer.io, `eu` → https://api-eu.customer.io.', default: 'us' }),
  base_url: Type.String({ description: 'Overrides the region URL (tests, proxies).', default: '' }),
  interval: Duration('Time between two polls.', '10m'),
  lookback: Type.Integer({ minimum: 1, maximum: 90, description: 'Days of metrics fetched and reconciled per poll, today included; newsletters and broadcasts at most 45 (the most their metrics endpoints serve). Webhook counts are kept lookback + 2 days.', default: 7 }),
  timeout: Duration('Longest wait for one App API response, for its headers and again for its body.', '30s')
}, { ...Strict, description: 'The Reporting (App) API poller.' })

export const ConfigSchema = Type.Object({
  server: Type.Optional(Type.Partial(ServerSchema)),
  admin: Type.Optional(Type.Partial(AdminSchema)),
  queue: Type.Optional(Type.Partial(QueueSchema)),
  quarantine: Type.Optional(Type.Partial(QuarantineSchema)),
  dedupe: Type.Optional(Type.Partial(DedupeSchema)),
  // Each source's options are checked against its type's schema (src/config/checks.ts).
  sources: Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$' }), Type.Object({ type: Type.String() }, { required: ['type'] }), {
    ...Strict,
    expected: 'a source name of lowercase letters, digits, _ and -, starting with a letter or digit (it is the URL path /webhooks/<name>)',
    minProperties: 1, description: 'Webhook sources by name, each served at POST /webhooks/<name>.'
  }),
  sinks: Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]*$' }),
    Type.Object({ type: Type.String() }, { required: ['type'] }), {
      ...Strict,
      expected: 'a sink name of letters, digits, _ and -, starting with a letter or digit',
      description: 'Sinks by name.'
    }),
  routes: Type.Array(RouteSchema, { description: 'Walked in order for every event; every matching route adds its sinks.' }),
  reporting: Type.Optional(Type.Partial(ReportingSchema))
}, { ...Strict, required: ['sources', 'sinks', 'routes'] })

export type RawConfig = Static<typeof ConfigSchema>
export type RawRoute = Static<typeof RouteSchema>
