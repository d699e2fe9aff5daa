/**
 * The routing table (SPEC §4): every route whose conditions all hold adds its sinks, in order,
 * until a matching route with `stop: true`. Values compare as strings, so `data.campaign_id: "5"`
 * matches the number 5; an array field matches when any element does.
 */
import type { RouteConfig, MatchCondition } from './config/types.js'
import type { RoutableEvent } from './events.js'

export class RoutingTable {
  constructor (private readonly routes: readonly RouteConfig[]) {}

  /** Sink names for this event, each once, in the order routes name them. */
  sinksFor (source: string, event: RoutableEvent): string[] {
    const chosen = new Set<string>()
    for (const route of this.routes) {
      if (!route.conditions.every((condition) => holds(condition, source, event))) continue
      for (const sink of route.sinks) chosen.add(sink)
      if (route.stop) break
    }
    return [...chosen]
  }
}

function holds (condition: MatchCondition, source: string, event: RoutableEvent): boolean {
  const value = condition.path.length === 1 && condition.path[0] === 'source' ? source : valueAt(event, condition.path)
  if (value === undefined || value === null) return false
  if (condition.values === undefined) return true
  const wanted = condition.values
  if (Array.isArray(value)) return value.some((item) => wanted.has(scalarText(item)))
  return wanted.has(scalarText(value))
}

function valueAt (event: RoutableEvent, path: readonly string[]): unknown {
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
