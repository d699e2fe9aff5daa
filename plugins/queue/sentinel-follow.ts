/**
 * Behind Sentinel, a primary that freezes (a stalled host, a long fork, DEBUG SLEEP) keeps its TCP
 * connections open: ioredis learns of the failover only from the sentinels' `+switch-master`, which
 * they announce after reconfiguring every replica, a second or more after the promotion itself. Yet
 * from the promotion on, SENTINEL GET-MASTER-ADDR-BY-NAME names the new primary. So once writes start
 * failing, this asks the sentinels every few hundred milliseconds, for a while, and reconnects the
 * clients as soon as they name another primary than the one the clients talk to. (ioredis' own
 * failover detector ends the old connection gracefully, which against a frozen primary takes as long
 * again.)
 */
import { Redis } from 'ioredis'
import type { RedisConnectionConfig } from '../../src/config/types.js'
import { withTimeout } from './timeout.js'

type SentinelConnection = Extract<RedisConnectionConfig, { kind: 'sentinel' }>

/** How often the sentinels are asked while writes fail, and for how long after the last failure. */
const ASK_EVERY_MS = 200
const FOLLOW_FOR_MS = 15_000
const ANSWER_TIMEOUT_MS = 500

export class SentinelFollower {
  private followUntil = 0
  private timer: NodeJS.Timeout | undefined
  private asking = false
  private sentinel: Redis | undefined
  private next = 0

  /** `clients` talk to the primary; each is reconnected (through the sentinels) when it is not the one named. */
  constructor (private readonly connection: SentinelConnection, private readonly clients: readonly Redis[]) {}

  /** A write failed: follow the sentinels for a while. */
  writeFailed (): void {
    this.followUntil = Date.now() + FOLLOW_FOR_MS
    if (this.timer !== undefined) return
    this.timer = setInterval(() => { void this.ask() }, ASK_EVERY_MS)
    this.timer.unref()
  }

  private async ask (): Promise<void> {
    if (Date.now() > this.followUntil) return this.stop()
    if (this.asking) return
    this.asking = true
    try {
      const named = await withTimeout(this.sentinelClient().call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.connection.name), ANSWER_TIMEOUT_MS, 'sentinel did not answer') as [string, string] | null
      if (named === null) return
      for (const client of this.clients) {
        const stream = (client as unknown as { stream?: { remoteAddress?: string, remotePort?: number, destroy: () => void } }).stream
        if (stream === undefined || client.status === 'end' || client.status === 'wait') continue
        // Destroyed, not ended: ending waits for the frozen primary's side of the close (seconds);
        // ioredis then reconnects through the sentinels, to the primary they name now.
        if (`${stream.remoteAddress ?? ''}:${stream.remotePort ?? ''}` !== `${named[0]}:${named[1]}`) stream.destroy()
      }
    } catch {
      // This sentinel is away: the next one is asked next time.
      this.sentinel?.disconnect()
      this.sentinel = undefined
      this.next++
    } finally {
      this.asking = false
    }
  }

  private sentinelClient (): Redis {
    if (this.sentinel === undefined) {
      const node = this.connection.nodes[this.next % this.connection.nodes.length] as string
      this.sentinel = new Redis(node, {
        password: this.connection.sentinelPassword,
        tls: node.startsWith('rediss://') ? {} : undefined,
        connectTimeout: ANSWER_TIMEOUT_MS,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null
      })
      this.sentinel.on('error', () => { /* the failed call moves on to the next sentinel */ })
    }
    return this.sentinel
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.sentinel?.disconnect()
    this.sentinel = undefined
  }
}
