/**
 * The explicit list of source types. A new signature scheme or body shape is a folder under
 * plugins/sources/ and one line here: no filesystem autoload, no side-effect imports.
 */
import type { TObject } from '@sinclair/typebox'
import type { SourceDefinition } from './definition.js'
import { customerioSource } from '../../plugins/sources/customerio/definition.js'
import { customerioPipelinesSource } from '../../plugins/sources/customerio-pipelines/definition.js'

const DEFINITIONS = [customerioSource, customerioPipelinesSource] as const

/** The `type:` values of sources. */
export type SourceType = typeof DEFINITIONS[number]['type']

/** The type of a source when none is recorded (jobs written before source types existed, report events). */
export const DEFAULT_SOURCE_TYPE: SourceType = 'customerio'

// Each definition keeps its own option type; the registry only needs the common shape.
const BY_TYPE = new Map<string, SourceDefinition<SourceType, TObject>>(
  DEFINITIONS.map((definition) => [definition.type, definition as unknown as SourceDefinition<SourceType, TObject>]))

export function knownSourceTypes (): string[] {
  return [...BY_TYPE.keys()].sort()
}

/** The definition of a configured type (config validation has checked it is known). */
export function sourceType (type: SourceType): SourceDefinition<SourceType, TObject> {
  return BY_TYPE.get(type) as SourceDefinition<SourceType, TObject>
}

/** The definition of a type read from outside the config (a routes.yaml entry, a job), if known. */
export function findSourceType (type: string): SourceDefinition<SourceType, TObject> | undefined {
  return BY_TYPE.get(type)
}

export function unknownSourceTypeMessage (type: string): string {
  return `source type '${type}' is not known (known: ${knownSourceTypes().join(', ')})`
}

export function allSourceDefinitions (): readonly SourceDefinition<SourceType, TObject>[] {
  return [...BY_TYPE.values()]
}
