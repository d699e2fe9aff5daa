/**
 * The routing table (SPEC §4): every route whose conditions all hold adds its sinks, in order,
 * until a matching route with `stop: true`. Values compare as strings, so `data.campaign_id: "5"`
 * matches the number 5; an array field matches when any element does. `object_type` and `metric`
 * are the source type's routing fields (a reporting webhook's own fields; for Data Pipelines the
 * call type and the event name), dotted paths are read from the event as received.
 */
import type { RouteConfig, MatchCondition } from './config/types.js'
import type { RoutableEvent } from './events.js'
import type { RoutingFields } from './sources/definition.js'

export class RoutingTable {
  constructor (private readonly routes: readonly RouteConfig[]) {}

  /** Sink names for this event, each once, in the order routes name them. */
  sinksFor (source: string, event: Readonly<Record<string, unknown>>, fields: RoutingFields = event as RoutableEvent): string[] {
    const chosen = new Set<string>()
    for (const route of this.routes) {
      if (!route.conditions.every((condition) => holds(condition, source, event, fields))) continue
      for (const sink of route.sinks) chosen.add(sink)
      if (route.stop) break
    }
    return [...chosen]
  }
}

function holds (condition: MatchCondition, source: string, event: Readonly<Record<string, unknown>>, fields: RoutingFields): boolean {
  const value = condition.path.length === 1 ? topLevel(condition.path[0] as string, source, event, fields) : valueAt(event, condition.path)
  if (value === undefined || value === null) return false
  if (condition.values === undefined) return true
  const wanted = condition.values
  if (Array.isArray(value)) return value.some((item) => wanted.has(scalarText(item)))
  return wanted.has(scalarText(value))
}

/** Single-segment match keys are `source`, `object_type` and `metric` only (the config schema allows no others). */
function topLevel (key: string, source: string, event: Readonly<Record<string, unknown>>, fields: RoutingFields): unknown {
  if (key === 'source') return source
  if (key === 'object_type') return fields.object_type
  if (key === 'metric') return fields.metric
  return event[key]
}

function valueAt (event: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let node: unknown = event
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string, unknown>)[segment]
  }
  return node
}

function scalarText (value: unknown): string {
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}
