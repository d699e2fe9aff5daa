/**
 * The explicit list of sink types. A new sink is added here and nowhere else: no filesystem
 * autoload, no side-effect imports.
 */
import type { TObject } from '@sinclair/typebox'
import type { SinkDefinition } from './sinks/definition.js'
import { bigquerySink } from '../plugins/sinks/bigquery/definition.js'
import { fileSink } from '../plugins/sinks/file/definition.js'
import { s3Sink } from '../plugins/sinks/s3/definition.js'
import { webhookSink } from '../plugins/sinks/webhook/definition.js'

// Each definition keeps its own option type; the registry only needs the common shape.
const SINK_DEFINITIONS: readonly SinkDefinition<TObject>[] = [
  bigquerySink as unknown as SinkDefinition<TObject>,
  fileSink as unknown as SinkDefinition<TObject>,
  s3Sink as unknown as SinkDefinition<TObject>,
  webhookSink as unknown as SinkDefinition<TObject>
]

const BY_TYPE = new Map(SINK_DEFINITIONS.map((definition) => [definition.type, definition]))

export function knownSinkTypes (): string[] {
  return [...BY_TYPE.keys()].sort()
}

export function sinkDefinition (type: string): SinkDefinition<TObject> | undefined {
  return BY_TYPE.get(type)
}

export function unknownSinkTypeMessage (type: string): string {
  return `sink type '${type}' is not known (known: ${knownSinkTypes().join(', ')})`
}

export function allSinkDefinitions (): readonly SinkDefinition<TObject>[] {
  return SINK_DEFINITIONS
}
