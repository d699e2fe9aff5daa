/** How a sink type describes itself to the registry. */
import type { TObject, Static } from '@sinclair/typebox'
import type { Sink, SinkContext, BatchSettings } from './contract.js'

export interface SinkDefinition<S extends TObject = TObject> {
  /** The `type:` value in routes.yaml. */
  readonly type: string
  /** One line for the configuration reference (docs/configuration.md) and error messages. */
  readonly summary: string
  /** Options of this type only; the common ones (batch, retry, …) are added by the config loader. */
  readonly schema: S
  /** Batch settings that suit this type when the user gives none. */
  readonly batchDefaults: BatchSettings
  /** Builds the sink from validated options. Does no I/O (that is `start`). */
  create(options: Static<S>, context: SinkContext): Sink
}

/** Keeps the option type of one sink definition while it is stored in the heterogeneous registry. */
export function defineSink<S extends TObject> (definition: SinkDefinition<S>): SinkDefinition<S> {
  return definition
}
