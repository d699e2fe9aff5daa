/** What the console's pages read and act on, built once by the plugin (index.ts). */
import type { GatewayConfig } from '../../src/config/types.js'
import type { ConfigReloader } from '../../src/reload/reloader.js'
import type { Collected } from '../reporting/collect.js'
import type { QueueBackend } from '../queue/backend.js'
import type { MetricHistory } from './history.js'
import type { Masks } from './masking.js'
import type { LiveTail } from './tail.js'

export interface ConsoleContext {
  readonly backend: QueueBackend
  /** The configuration in force (a reload swaps it). */
  readonly current: () => GatewayConfig
  readonly history: MetricHistory
  readonly masks: Masks
  readonly tail: LiveTail
  readonly reloader: ConfigReloader
  readonly role: string
  readonly isClosing: () => boolean
  /** What this process's last reporting poll read; undefined when it has not polled. */
  readonly reconciliation: () => Collected | undefined
  readonly startedAt: number
  /** Shown on every page: the embedded queue's warning. */
  readonly warning: string | undefined
}
