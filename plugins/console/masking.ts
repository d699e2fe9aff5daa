/**
 * What the console shows of an event: its values at the `redact` paths of the sinks it goes to
 * replaced as those sinks replace them (src/sinks/redact.ts), so the console never shows what the
 * sinks were configured not to see, and a digest shown here finds the row in the sink.
 *
 * A dead letter belongs to one sink: its redaction. An event of the live tail goes to the sinks
 * its routes choose: each of their redactions in turn (where two redact one path, the value is
 * digested twice; masked either way). A quarantined body was routed nowhere yet and may go
 * anywhere once replayed: every sink's redaction.
 */
import type { GatewayConfig, SinkConfig } from '../../src/config/types.js'
import { RoutingTable } from '../../src/routing.js'
import type { RoutingFields } from '../../src/sources/definition.js'
import { redactor, type Redactor } from '../../src/sinks/redact.js'
import { QUARANTINE_QUEUE } from '../queue/backend.js'

export class Masks {
  private readonly redactors = new WeakMap<SinkConfig, Redactor | undefined>()
  private routing: { config: GatewayConfig, table: RoutingTable } | undefined

  constructor (private readonly current: () => GatewayConfig) {}

  /** The event as the console shows it in the dead letters of `queue`. */
  forQueue (queue: string, event: unknown): unknown {
    const sinks = this.current().sinks
    return this.mask(queue === QUARANTINE_QUEUE ? [...sinks.keys()] : [queue], event)
  }

  /** The sinks an event goes to under the configuration in force; `fields` are its routing fields as its source type reads them. */
  routedSinks (source: string, event: Readonly<Record<string, unknown>>, fields: RoutingFields): string[] {
    const config = this.current()
    if (this.routing?.config !== config) this.routing = { config, table: new RoutingTable(config.routes) }
    return this.routing.table.sinksFor(source, event, fields)
  }

  mask (sinkNames: readonly string[], event: unknown): unknown {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return event
    let masked = event as Record<string, unknown>
    for (const name of sinkNames) {
      const redact = this.redactorOf(name)
      if (redact !== undefined) masked = redact(masked)
    }
    return masked
  }

  private redactorOf (name: string): Redactor | undefined {
    const sink = this.current().sinks.get(name)
    if (sink === undefined) return undefined
    if (!this.redactors.has(sink)) this.redactors.set(sink, redactor(sink.redact, sink.redactKey))
    return this.redactors.get(sink)
  }
}
