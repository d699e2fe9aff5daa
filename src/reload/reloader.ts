/**
 * Hot reload of routes.yaml, on SIGHUP and when the file changes (src/reload/watch.ts): the new file
 * is validated in full; if it is valid, sources, sinks and routes switch without dropping or failing
 * a request; if not, the process keeps its configuration and logs every error. Each attempt counts
 * in `cio_gateway_config_reloads_total{result="success"|"failure"}`.
 *
 * A switch, in order (one at a time):
 *   1. sinks added or changed are built and started; one that cannot start fails the reload and
 *      nothing has switched;
 *   2. the added sinks get their workers;
 *   3. the ingestor swaps sources, routes and sink settings in one assignment between two requests,
 *      then waits for the writes still routed by the old ones;
 *   4. removed and changed sinks flush their batches, stop once their running jobs are done and
 *      close; changed ones restart with their new options (plugins/queue/sink-reload.ts).
 *
 * Settings bound at start cannot change live: `server.*` (the listening socket), the Redis
 * connection, `queue.prefix` and `queue.shards` (connections and key names), `quarantine.*`, `dedupe.window` (the queue backend) and
 * `reporting.*` (the poller and its schedule). A file that changes any of them is refused as a whole
 * — a failure, with one log line per setting — rather than applied in part: a partial apply would
 * leave the process running a configuration that is in no file, and the next restart would then
 * change more than the operator saw change. Restart the process (a rollout) to apply them.
 */
import { readFile } from 'node:fs/promises'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, parseConfig } from '../config/load.js'
import { formatProblem } from '../config/problems.js'
import type { GatewayConfig } from '../config/types.js'
import type { Ingestor } from '../ingest.js'
import type { GatewayMetrics } from '../../plugins/metrics/metrics.js'
import type { QueueBackend } from '../../plugins/queue/backend.js'
import { SinkSwitch, sinkChanges, type SinkChanges } from '../../plugins/queue/sink-reload.js'
import type { SinkWorkers } from '../../plugins/queue/sink-workers.js'
import { watchConfigFile, type FileWatch } from './watch.js'

declare module 'fastify' {
  interface FastifyInstance {
    configReloader: ConfigReloader
  }
}

export type ReloadTrigger = 'signal' | 'file' | 'api'

export type ReloadOutcome =
  | { readonly result: 'success', readonly summary: ReloadSummary }
  | { readonly result: 'failure', readonly errors: readonly string[] }
  /** A file event with the same contents as last time, or a reload after shutdown began: nothing done, nothing counted. */
  | { readonly result: 'skipped' }

export interface ReloadSummary {
  readonly sinks: { readonly added: string[], readonly changed: string[], readonly removed: string[] }
  readonly sources: { readonly added: string[], readonly removed: string[] }
  readonly routes: number
}

/** The last reload that was tried (for the console): when, what triggered it, how it ended. */
export interface ReloadRecord {
  readonly at: number
  readonly trigger: ReloadTrigger
  readonly outcome: Exclude<ReloadOutcome, { result: 'skipped' }>
}

export interface ReloaderOptions {
  readonly ingestor: Ingestor
  readonly backend: QueueBackend
  /** The running sinks; undefined in the ingest role, where only routing switches. */
  readonly workers: SinkWorkers | undefined
  readonly metrics: GatewayMetrics
  readonly logger: FastifyBaseLogger
  /** The environment `${VAR}` reads: the process's own, as at start. */
  readonly env?: NodeJS.ProcessEnv
}

export class ConfigReloader {
  private chain: Promise<unknown> = Promise.resolve()
  private closed = false
  private watcher: FileWatch | undefined
  /** The file text last tried, so a file event without a change in content does nothing. */
  private lastText: string | undefined
  private last: ReloadRecord | undefined

  constructor (private readonly options: ReloaderOptions) {}

  /** The last reload that switched or failed; undefined before the first. */
  get lastReload (): ReloadRecord | undefined {
    return this.last
  }

  get current (): GatewayConfig {
    return this.options.ingestor.config
  }

  /** Watches the file's directory and reloads when the file's contents change. */
  watch (file: string): void {
    if (this.watcher !== undefined || this.closed) return
    readFile(file, 'utf8').then((text) => { this.lastText ??= text }, () => {})
    try {
      this.watcher = watchConfigFile(file, () => { void this.reloadFile(file, 'file') }, {
        onError: (error) => this.options.logger.warn({ file, error: error.message }, 'config file watch failed: reload with SIGHUP')
      })
    } catch (error) {
      this.options.logger.warn({ file, error: (error as Error).message }, 'cannot watch the config file: reload with SIGHUP')
    }
  }

  /**
   * Reads, validates and applies `file`. A `file` trigger does nothing when the contents did not
   * change. It never rejects (its callers, a signal handler and a file watch, cannot wait for it):
   * whatever goes wrong is a failed reload, logged and counted, and the process keeps running.
   */
  async reloadFile (file: string, trigger: ReloadTrigger): Promise<ReloadOutcome> {
    try {
      return await this.readAndSwitch(file, trigger)
    } catch (error) {
      return this.fail(file, trigger, [`${file}: reload failed: ${(error as Error).message}`])
    }
  }

  private async readAndSwitch (file: string, trigger: ReloadTrigger): Promise<ReloadOutcome> {
    return await this.serially(async () => {
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (error) {
        // Mid-swap a ConfigMap link can point nowhere for a moment; the next event brings the file.
        if (trigger === 'file') return { result: 'skipped' }
        return this.fail(file, trigger, [`${file}: cannot read the configuration: ${(error as Error).message}`])
      }
      if (trigger === 'file' && text === this.lastText) return { result: 'skipped' }
      this.lastText = text
      let next: GatewayConfig
      try {
        next = parseConfig(text, file, this.options.env ?? process.env)
      } catch (error) {
        // parseConfig reports what it refuses as a ConfigError; anything else is refused all the same.
        const errors = error instanceof ConfigError
          ? error.problems.map((problem) => formatProblem(file, problem))
          : [`${file}: cannot read the configuration: ${(error as Error).message}`]
        return this.fail(file, trigger, errors)
      }
      return await this.switchTo(next, trigger)
    })
  }

  /** Applies an already validated configuration (tests, and what reloadFile ends with). */
  async apply (next: GatewayConfig, trigger: ReloadTrigger = 'api'): Promise<ReloadOutcome> {
    return await this.serially(async () => await this.switchTo(next, trigger))
  }

  /** Stops watching and waits for a reload under way; later reloads are skipped. */
  async close (): Promise<void> {
    this.closed = true
    this.watcher?.close()
    await this.chain
  }

  private async serially (run: () => Promise<ReloadOutcome>): Promise<ReloadOutcome> {
    const result = this.chain.then(async () => this.closed ? { result: 'skipped' as const } : await run())
    this.chain = result.catch(() => {})
    return await result
  }

  private async switchTo (next: GatewayConfig, trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const { ingestor, workers, backend, metrics, logger } = this.options
    const current = ingestor.config
    const fixed = fixedSettingChanges(current, next)
    if (fixed.length > 0) return this.fail(next.file, trigger, fixed.map((setting) => `${next.file}: ${setting} changed, but it applies only at start: restart the process to change it`))

    const changes = sinkChanges(current.sinks, next.sinks)
    let sinks: SinkSwitch | undefined
    if (workers !== undefined) {
      try {
        sinks = await SinkSwitch.prepare(workers, backend, changes, metrics, logger)
      } catch (error) {
        return this.fail(next.file, trigger, [`${next.file}: ${(error as Error).message}`])
      }
    }
    sinks?.startAdded()
    await ingestor.reconfigure(next)
    await sinks?.finish()

    const summary = summarize(current, next, changes)
    // Counters that alerts watch start at 0 for new sources and sinks too, as at start.
    metrics.seed(next.sources.keys(), next.sinks.values())
    metrics.configReloads.inc({ result: 'success' })
    logger.info({ file: next.file, trigger, ...summary }, 'configuration reloaded')
    this.last = { at: Date.now(), trigger, outcome: { result: 'success', summary } }
    return this.last.outcome
  }

  private fail (file: string, trigger: ReloadTrigger, errors: readonly string[]): ReloadOutcome {
    const { metrics, logger } = this.options
    // Logged before the counter moves, so whoever sees the failure in /metrics finds its reasons in the log.
    for (const error of errors) logger.error({ file, trigger }, `config reload refused: ${error}`)
    logger.error({ file, trigger, errors: errors.length }, 'config reload failed: still running the previous configuration')
    metrics.configReloads.inc({ result: 'failure' })
    this.last = { at: Date.now(), trigger, outcome: { result: 'failure', errors } }
    return this.last.outcome
  }
}

/** Settings of the bound-at-start sections that may change live nonetheless: read per request. */
const LIVE_SETTINGS = new Set(['queue.highWaterMark', 'queue.maxBytes'])

/**
 * Names of the settings bound at start that differ, as written in routes.yaml (never their values:
 * URLs and keys may hold secrets). Every key of these sections counts, so a setting added later is
 * covered without a change here.
 */
export function fixedSettingChanges (current: GatewayConfig, next: GatewayConfig): string[] {
  const changed: string[] = []
  for (const section of ['server', 'queue', 'quarantine', 'dedupe'] as const) {
    const before = current[section] as Readonly<Record<string, unknown>>
    const after = next[section] as Readonly<Record<string, unknown>>
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (LIVE_SETTINGS.has(`${section}.${key}`)) continue
      if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changed.push(`${section}.${yamlKey(key)}`)
    }
  }
  if (JSON.stringify(current.reporting) !== JSON.stringify(next.reporting)) changed.push('reporting')
  return changed
}

/** `shutdownGraceMs` → `shutdown_grace`, `maxBytes` → `max_bytes`: the resolved name back to the YAML key. */
function yamlKey (key: string): string {
  // `redis` is resolved from whichever of the three connection keys is set.
  if (key === 'redis') return 'redis_url/redis_sentinel/redis_cluster'
  return key.replace(/Ms$/, '').replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
}

function summarize (current: GatewayConfig, next: GatewayConfig, changes: SinkChanges): ReloadSummary {
  return {
    sinks: {
      added: changes.added.map((sink) => sink.name),
      changed: changes.changed.map((sink) => sink.name),
      removed: [...changes.removed]
    },
    sources: {
      added: [...next.sources.keys()].filter((name) => !current.sources.has(name)),
      removed: [...current.sources.keys()].filter((name) => !next.sources.has(name))
    },
    routes: next.routes.length
  }
}
