/**
 * The sink side of a config reload (src/reload/reloader.ts runs the steps in order):
 *
 * 1. `prepare`: the sinks added or changed are built and started (directories, tables, clients)
 *    before anything switches, so a sink that cannot start fails the reload with nothing changed;
 * 2. `startAdded`: the added sinks get their workers — their queues stay empty until the routes
 *    point at them, and from the first routed event on a worker is there;
 * 3. (the routes switch)
 * 4. `finish`: removed and changed sinks flush their batches, their workers stop once the running
 *    jobs are done, and they close; a changed sink then runs its new version on the same queue, so
 *    what waited in the meantime is delivered by the new one.
 *
 * A removed sink's waiting or delayed jobs stay in its queue (Redis keeps them) and are delivered if
 * a sink of that name comes back.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { SinkConfig } from '../../src/config/types.js'
import { describeError } from '../../src/errors.js'
import type { SinkRuntime } from '../../src/sinks/worker-runtime.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { QueueBackend } from './backend.js'
import { runSinkWorker, startSinkRuntime, type SinkWorkers } from './sink-workers.js'

export interface SinkChanges {
  readonly added: readonly SinkConfig[]
  /** The new configuration of each sink whose options changed. */
  readonly changed: readonly SinkConfig[]
  readonly removed: readonly string[]
}

export function sinkChanges (current: ReadonlyMap<string, SinkConfig>, next: ReadonlyMap<string, SinkConfig>): SinkChanges {
  const added: SinkConfig[] = []
  const changed: SinkConfig[] = []
  for (const sink of next.values()) {
    const before = current.get(sink.name)
    if (before === undefined) added.push(sink)
    else if (canonical(before.options) !== canonical(sink.options)) changed.push(sink)
  }
  const removed = [...current.keys()].filter((name) => !next.has(name))
  return { added, changed, removed }
}

export function hasSinkChanges (changes: SinkChanges): boolean {
  return changes.added.length + changes.changed.length + changes.removed.length > 0
}

export class SinkSwitch {
  private constructor (
    private readonly workers: SinkWorkers,
    private readonly backend: QueueBackend,
    private readonly changes: SinkChanges,
    /** Started runtimes of the added and changed sinks, not yet running jobs. */
    private readonly fresh: Map<string, SinkRuntime>,
    private readonly log: FastifyBaseLogger
  ) {}

  /** Starts the new runtimes; on a failure closes those already started and throws naming the sink. */
  static async prepare (workers: SinkWorkers, backend: QueueBackend, changes: SinkChanges, metrics: GatewayMetrics, log: FastifyBaseLogger): Promise<SinkSwitch> {
    const fresh = new Map<string, SinkRuntime>()
    for (const sink of [...changes.added, ...changes.changed]) {
      try {
        fresh.set(sink.name, await startSinkRuntime(sink, metrics, log))
      } catch (error) {
        await Promise.allSettled([...fresh.values()].map(async (runtime) => await runtime.close()))
        throw new Error(`sink '${sink.name}' cannot start: ${describeError(error)}`, { cause: error })
      }
    }
    return new SinkSwitch(workers, backend, changes, fresh, log)
  }

  startAdded (): void {
    for (const sink of this.changes.added) {
      const runtime = this.fresh.get(sink.name) as SinkRuntime
      this.workers.runtimes.set(sink.name, runtime)
      runSinkWorker(this.backend, runtime)
      this.log.info({ sink: sink.name, type: sink.type }, 'sink added')
    }
  }

  /** After the routes switched: retires removed sinks and swaps changed ones. Never throws: the new configuration is in force. */
  async finish (): Promise<void> {
    const retiring = [...this.changes.removed, ...this.changes.changed.map((sink) => sink.name)]
    await Promise.all(retiring.map(async (name) => {
      const old = this.workers.runtimes.get(name)
      try {
        await old?.drain()
        await this.backend.stopWorker(name)
        await old?.close()
      } catch (error) {
        this.log.error({ sink: name, error: describeError(error) }, 'sink did not close cleanly')
      }
      const replacement = this.fresh.get(name)
      if (replacement === undefined) {
        this.workers.runtimes.delete(name)
        await this.reportLeftovers(name)
        return
      }
      this.workers.runtimes.set(name, replacement)
      runSinkWorker(this.backend, replacement)
      this.log.info({ sink: name, type: replacement.config.type }, 'sink reconfigured')
    }))
  }

  /** Closes the prepared runtimes when the reload is abandoned before the routes switched. */
  async abort (): Promise<void> {
    await Promise.allSettled([...this.fresh.values()].map(async (runtime) => await runtime.close()))
  }

  private async reportLeftovers (name: string): Promise<void> {
    try {
      const counts = await this.backend.counts(name)
      const left = counts.waiting + counts.delayed + counts.failed
      if (left === 0) this.log.info({ sink: name }, 'sink removed')
      else this.log.warn({ sink: name, ...counts }, 'sink removed with events still in its queue: they stay there and are delivered if a sink of that name comes back')
    } catch {
      this.log.info({ sink: name }, 'sink removed')
    }
  }
}

/** JSON with sorted keys: the same options written in another order are not a change. */
function canonical (value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => item !== null && typeof item === 'object' && !Array.isArray(item)
    ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
    : item)
}
