/**
 * Connections to the configured Redis: one node, a primary found through Sentinel, or a Cluster
 * (SPEC §11), with settings chosen so that a dead or frozen primary costs seconds, not the ~20 s of
 * ioredis' defaults:
 *   - every command has a deadline (producer and state clients), so a frozen primary turns into a
 *     quick 503 instead of a hung request;
 *   - Sentinel: workers follow the sentinels' `+switch-master`; the write path asks the sentinels as
 *     soon as writes fail and moves at the promotion (sentinel-follow.ts);
 *   - Cluster: the request path's connections read the slot map several times a second, so a
 *     promoted replica is found without waiting for a MOVED; every connection reads it again on a
 *     failure; redirections and retries are bounded;
 *   - every kind reconnects on `READONLY` (a client still talking to a primary that was demoted, e.g.
 *     behind a DNS name that moved).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisConnectionConfig } from '../../src/config/types.js'
import { withTimeout } from './timeout.js'

export type RedisClient = Redis | Cluster

/**
 * What a connection is for:
 *   - `producer`: ingest writes and the reads on the request path; fails fast (no offline queue, a
 *     deadline per command) so the webhook is answered 503 within Customer.io's 4 s;
 *   - `worker`: BullMQ workers and schedulers; patient (BullMQ blocks on its markers and retries
 *     itself), so no command deadline and no retry limit (BullMQ requires `maxRetriesPerRequest: null`);
 *   - `state`: short-lived reads and writes off the request path (reporting state, admin, replay).
 */
export type ClientPurpose = 'producer' | 'worker' | 'state'

/** The producer's deadline per command: ingest answers 503 after it (Customer.io waits 4 s). */
export const PRODUCER_COMMAND_TIMEOUT_MS = 1500
const CONNECT_TIMEOUT_MS = 2000
const STATE_COMMAND_TIMEOUT_MS = 2000
/**
 * Cluster: how often the slot map is read even when nothing failed, and how long one node may take to
 * give it. The connections on the request path read it often, so a promoted replica takes writes soon
 * after the cluster promotes it; a node that does not answer CLUSTER SLOTS quickly (the frozen primary)
 * is skipped for the next. The producer's 250 ms: with 500 a frozen primary's shards came back 3.1 s
 * after the freeze once on a loaded machine (the limit is cluster-node-timeout + 2 s); CLUSTER SLOTS
 * costs a node about 55 µs, so four a second per ingest process are cheap.
 *
 * Workers' connections read it once a minute, as a backstop only: they follow a failover through
 * their commands' errors (ioredis reads the map again as soon as a command meets a closed connection
 * or a MOVED). There are many of them: BullMQ duplicates the connection for each worker's blocking
 * reads, one per sink and shard (144 with three queues on 48 shards). Each read costs a new
 * connection (a TLS handshake on ElastiCache) and a rebuild of the 16,384-slot map: an idle worker on
 * 48 shards used 18–26 % of a core with a read every 5 s, and 7 % with one a minute.
 */
const SLOTS_REFRESH = {
  producer: { intervalMs: 250, timeoutMs: 300 },
  state: { intervalMs: 500, timeoutMs: 300 },
  worker: { intervalMs: 60_000, timeoutMs: 1000 }
} as const
/** Cluster: MOVED/ASK/TRYAGAIN hops one command may take; each waits RETRY_DELAY_MS where Redis asks to. */
const MAX_REDIRECTIONS = 6
const RETRY_DELAY_MS = 100

interface Endpoint { readonly host: string, readonly port: number }

export class RedisTopology {
  constructor (readonly connection: RedisConnectionConfig) {}

  get kind (): RedisConnectionConfig['kind'] {
    return this.connection.kind
  }

  get clustered (): boolean {
    return this.connection.kind === 'cluster'
  }

  /** Where Redis is, for logs and messages: host:port list, never a password. */
  describe (): string {
    const { connection } = this
    switch (connection.kind) {
      case 'single': return `redis ${hostsOf([connection.url])}`
      case 'sentinel': return `sentinel ${hostsOf(connection.nodes)} (master set ${connection.name})`
      case 'cluster': return `cluster ${hostsOf(connection.nodes)}`
    }
  }

  /**
   * Resolves once Redis answers PING: attempts (each allowed `attemptTimeoutMs`) are started for
   * `tryForMs`, `pauseMs` after each failure, so a Redis that is restarting is ridden out. Rejects
   * with the connection's own error (ECONNREFUSED, ENOTFOUND, …), which says why.
   */
  async reachable (wait: { tryForMs: number, pauseMs: number, attemptTimeoutMs: number }): Promise<void> {
    const client = this.client('state')
    let cause: Error | undefined
    client.on('error', (error: Error) => { cause = error })
    const deadline = Date.now() + wait.tryForMs
    try {
      for (;;) {
        try {
          await withTimeout(waitForConnection(client).then(async () => await client.ping()), wait.attemptTimeoutMs, 'redis did not answer PING in time')
          return
        } catch (error) {
          if (Date.now() > deadline) throw cause ?? error
          await new Promise((resolve) => setTimeout(resolve, wait.pauseMs))
        }
      }
    } finally {
      await closeClient(client)
    }
  }

  /** A new client for `purpose`; it connects at once and reconnects by itself. */
  client (purpose: ClientPurpose): RedisClient {
    const { connection } = this
    const options = nodeOptions(purpose)
    switch (connection.kind) {
      case 'single':
        return new Redis(connection.url, options)
      case 'sentinel':
        return new Redis({
          ...options,
          sentinels: connection.nodes.map(endpointOf),
          name: connection.name,
          role: 'master',
          password: connection.password,
          username: connection.username,
          sentinelPassword: connection.sentinelPassword,
          db: connection.db,
          tls: connection.tls ? {} : undefined,
          enableTLSForSentinelMode: connection.nodes.some((node) => node.startsWith('rediss://')),
          // Reconnects to the new primary when the sentinels announce the end of a failover. Not the
          // producer's: the backend's sentinel follower moves it at the promotion already, a second
          // earlier (sentinel-follow.ts), and a second reconnect at the announcement would refuse
          // the writes of its 100 ms.
          failoverDetector: purpose !== 'producer',
          sentinelCommandTimeout: 1000,
          sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000)
        })
      case 'cluster': {
        const clusterOptions: ClusterOptions = {
          redisOptions: {
            ...options,
            password: connection.password ?? credentialsOf(connection.nodes).password,
            username: connection.username ?? credentialsOf(connection.nodes).username,
            tls: connection.tls ? {} : undefined
          },
          // A producer must not queue commands while the slot map is rebuilt: they would wait past 4 s.
          enableOfflineQueue: purpose !== 'producer',
          enableReadyCheck: true,
          slotsRefreshInterval: SLOTS_REFRESH[purpose].intervalMs,
          slotsRefreshTimeout: SLOTS_REFRESH[purpose].timeoutMs,
          clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
          maxRedirections: MAX_REDIRECTIONS,
          retryDelayOnFailover: RETRY_DELAY_MS,
          retryDelayOnClusterDown: RETRY_DELAY_MS,
          retryDelayOnTryAgain: RETRY_DELAY_MS,
          retryDelayOnMoved: 0,
          // TLS certificates of ElastiCache and Memorystore name the host, not the IP the slot map gives.
          dnsLookup: connection.tls ? (address, callback) => callback(null, address) : undefined
        }
        return new Cluster(connection.nodes.map(endpointOf), clusterOptions)
      }
    }
  }
}

/** Resolves when the client can take commands (a Cluster once it knows its slots); rejects if it ends. */
export async function waitForConnection (client: RedisClient): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error): void => {
      client.off('ready', onReady)
      client.off('end', onEnd)
      if (error === undefined) resolve()
      else reject(error)
    }
    const onReady = (): void => done()
    const onEnd = (): void => done(new Error('redis connection closed'))
    client.once('ready', onReady)
    client.once('end', onEnd)
  })
}

/**
 * Quits cleanly. A connection still in its handshake is let finish first: ioredis rejects its
 * internal ready check with nobody listening if it is cut off in the middle. A Cluster is
 * disconnected a second time a little later: ioredis 5 re-arms its slot-refresh timer when a refresh
 * was under way at the first disconnect, which would keep the process from exiting.
 */
export async function closeClient (client: RedisClient): Promise<void> {
  if (client.status === 'connecting' || client.status === 'connect') {
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); client.off('ready', done); client.off('error', done); resolve() }
      const timer = setTimeout(done, 1000)
      client.once('ready', done)
      client.once('error', done)
    })
  }
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect())
  } else {
    client.disconnect()
  }
  if ((client as Cluster).isCluster === true) setTimeout(() => client.disconnect(), SLOT_REFRESH_SETTLE_MS).unref()
}

/** Longer than any slot refresh takes (SLOTS_REFRESH's timeouts), so the second disconnect comes after it. */
const SLOT_REFRESH_SETTLE_MS = 1500

function nodeOptions (purpose: ClientPurpose): RedisOptions {
  const common: RedisOptions = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Resend after reconnecting: a command refused as READONLY was not run.
    reconnectOnError: (error) => error.message.startsWith('READONLY') ? 2 : false
  }
  switch (purpose) {
    case 'producer':
      return {
        ...common,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
        retryStrategy: (times) => Math.min(100 * times, 2000)
      }
    case 'state':
      return {
        ...common,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: STATE_COMMAND_TIMEOUT_MS,
        retryStrategy: (times) => Math.min(200 * times, 2000)
      }
    case 'worker':
      return {
        ...common,
        maxRetriesPerRequest: null,
        retryStrategy: (times) => Math.min(200 * times, 2000)
      }
  }
}

function endpointOf (url: string): Endpoint {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: parsed.port === '' ? 6379 : Number(parsed.port) }
}

/** Credentials written into the first node URL (`redis://user:pass@host`), when no password key is set. */
function credentialsOf (nodes: readonly string[]): { username: string | undefined, password: string | undefined } {
  const first = nodes[0] === undefined ? undefined : new URL(nodes[0])
  const decode = (text: string | undefined): string | undefined => text === undefined || text === '' ? undefined : decodeURIComponent(text)
  return { username: decode(first?.username), password: decode(first?.password) }
}

function hostsOf (urls: readonly string[]): string {
  return urls.map((url) => {
    try {
      const { host, port } = endpointOf(url)
      return `${host}:${port}`
    } catch {
      return 'unparsable URL'
    }
  }).join(',')
}
