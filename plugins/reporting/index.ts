/**
 * The reporting plugin (SPEC §7): counts accepted webhooks per campaign, newsletter or broadcast,
 * day and metric in every role, and where workers run (roles `all` and `worker`) polls the App API
 * on one shared schedule, emits report events and publishes the campaign and reconciliation gauges.
 *
 * Registered after the queue plugin: Fastify runs onClose hooks in reverse order of registration,
 * so the poller stops (and its report events are written) before the queue closes its workers.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { GatewayConfig, ReportingConfig } from '../../src/config/types.js'
import type { Ingestor } from '../../src/ingest.js'
import type { RoutableEvent } from '../../src/events.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import { AppApiClient } from './app-api.js'
import { ReportingGauges } from './gauges.js'
import { ReportingPoller } from './poller.js'
import { WebhookCounter } from './reconciliation.js'
import { BullmqPollSchedule, TimerPollSchedule, type PollSchedule } from './schedule.js'
import { openReportingState, retentionFor } from './state.js'
import { keyspaceOf } from '../queue/create.js'
import { RedisTopology } from '../queue/redis-topology.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The poller where this process polls (roles `all` and `worker`); undefined elsewhere. */
    reportingPoller: ReportingPoller | undefined
  }
}

export interface ReportingPluginOptions {
  config: GatewayConfig
  reporting: ReportingConfig
  ingestor: Ingestor
  metrics: GatewayMetrics
  /** Poll the API (roles `all` and `worker`); counting webhooks happens in every role. */
  runPoller: boolean
  /** The clock that decides today and yesterday (and, in embedded mode, which days' counts are old); tests pin it. */
  now?: () => number
}

/** How often a replica that did not poll picks up the last poll's results for its gauges. */
const FOLLOW_MS = 15_000

async function reportingPlugin (app: FastifyInstance, options: ReportingPluginOptions): Promise<void> {
  const { config, reporting, ingestor, metrics } = options
  const log = app.log.child({ component: 'reporting' })
  const state = openReportingState(config.queue, retentionFor(reporting.lookbackDays), options.now)
  const counter = new WebhookCounter(state, log)
  counter.start()
  ingestor.onAccepted((_source, part) => counter.count(part.event as RoutableEvent), (type) => type.reconciled)

  let client: AppApiClient | undefined
  let gauges: ReportingGauges | undefined
  let schedule: PollSchedule | undefined
  app.decorate('reportingPoller', undefined)
  if (options.runPoller) {
    client = new AppApiClient({ baseUrl: reporting.baseUrl, apiKey: reporting.apiKey, timeoutMs: reporting.requestTimeoutMs, metrics, logger: log })
    gauges = new ReportingGauges(metrics, state, log)
    const poller = new ReportingPoller({ client, state, counter, ingestor, gauges, lookbackDays: reporting.lookbackDays, logger: log, now: options.now })
    app.reportingPoller = poller
    const run = async (signal: AbortSignal): Promise<unknown> => await poller.poll(signal)
    const redis = config.queue.redis
    schedule = redis === undefined
      ? new TimerPollSchedule({ intervalMs: reporting.intervalMs, logger: log, run })
      : new BullmqPollSchedule({ connect: () => new RedisTopology(redis).client('worker'), prefix: keyspaceOf(config.queue).globalPrefix, intervalMs: reporting.intervalMs, logger: log, run })
    gauges.startFollowing(Math.min(FOLLOW_MS, reporting.intervalMs))
    app.addHook('onReady', async () => schedule?.start())
  }

  app.addHook('onClose', async () => {
    await schedule?.close()
    gauges?.stop()
    await counter.close()
    await client?.close()
    await state.close()
  })
}

export default fp(reportingPlugin, { fastify: '5.x', name: 'reporting', dependencies: ['metrics', 'queue'] })
