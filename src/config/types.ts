/** The configuration after validation, with durations and sizes turned into numbers. */
import type { BatchSettings, RetrySettings } from '../sinks/contract.js'
import type { SourceType } from '../sources/registry.js'

export interface SourceConfig {
  readonly name: string
  /** Its type in the source registry (src/sources/registry.ts): signature scheme and body shape. */
  readonly type: SourceType
  readonly secrets: readonly string[]
  /** Largest allowed distance of a signed timestamp from now; the dedupe window for schemes that sign none. */
  readonly toleranceMs: number
}

export interface SinkConfig {
  readonly name: string
  readonly type: string
  readonly batch: BatchSettings
  readonly retry: RetrySettings
  readonly concurrency: number
  readonly redact: readonly string[]
  readonly redactKey: string | undefined
  /** The whole entry as written (after interpolation): the sink type's own options are read from it. */
  readonly options: Readonly<Record<string, unknown>>
}

export interface MatchCondition {
  /** `['source']`, `['object_type']`, `['data', 'campaign_id']` … */
  readonly path: readonly string[]
  /** undefined means `"*"`: the field must merely be present. */
  readonly values: ReadonlySet<string> | undefined
}

export interface RouteConfig {
  readonly name: string
  readonly conditions: readonly MatchCondition[]
  readonly sinks: readonly string[]
  readonly stop: boolean
}

/** How to reach Redis (SPEC §11); undefined in QueueConfig means the embedded in-process queue. */
export type RedisConnectionConfig =
  | { readonly kind: 'single', readonly url: string }
  | {
      readonly kind: 'sentinel'
      readonly name: string
      /** Sentinel URLs as configured. */
      readonly nodes: readonly string[]
      readonly password: string | undefined
      readonly username: string | undefined
      readonly sentinelPassword: string | undefined
      readonly tls: boolean
      readonly db: number
    }
  | {
      readonly kind: 'cluster'
      readonly nodes: readonly string[]
      readonly password: string | undefined
      readonly username: string | undefined
      readonly tls: boolean
    }

export interface QueueConfig {
  readonly redis: RedisConnectionConfig | undefined
  readonly prefix: string
  /** Hash-tag shards: 1 unless redis is a cluster. */
  readonly shards: number
  /** Replicas a write must reach (WAIT) before ingest answers 200. */
  readonly replicasAck: number
  readonly highWaterMark: number
  readonly maxBytes: number
  readonly lockDurationMs: number
}

export interface QuarantineConfig {
  readonly maxEvents: number
  readonly maxAgeMs: number
}

export interface ReportingConfig {
  readonly apiKey: string
  readonly baseUrl: string
  readonly intervalMs: number
  readonly lookbackDays: number
  readonly requestTimeoutMs: number
}

export interface GatewayConfig {
  /** The file it came from, as given on the command line. */
  readonly file: string
  readonly server: {
    /** The webhook listener (internet-facing). */
    readonly host: string
    readonly port: number
    /** The management listener: /metrics, /admin/*, /healthz, /readyz. */
    readonly managementHost: string
    readonly managementPort: number
    /** Per listener. */
    readonly maxConnections: number
    readonly bodyLimit: number
    readonly shutdownGraceMs: number
  }
  readonly admin: { readonly token: string }
  readonly queue: QueueConfig
  readonly quarantine: QuarantineConfig
  readonly dedupe: { readonly windowMs: number }
  readonly sources: ReadonlyMap<string, SourceConfig>
  readonly sinks: ReadonlyMap<string, SinkConfig>
  readonly routes: readonly RouteConfig[]
  readonly reporting: ReportingConfig | undefined
}
