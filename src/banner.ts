/**
 * The startup banner, for the person who started the gateway: what this process serves, where, and
 * where its data goes. Written to stderr, so that every line on stdout is a JSON log line.
 */
import type { AddressInfo } from 'node:net'
import type { GatewayConfig } from './config/types.js'
import { SERVES } from './listeners.js'
import { formatDuration } from './units.js'
import type { Role } from './app.js'
import { RedisTopology } from '../plugins/queue/redis-topology.js'

/** The addresses the listeners got (port 0 becomes the port the system chose); no webhooks in role worker. */
export interface ListenerAddresses {
  readonly webhooks: AddressInfo | undefined
  readonly management: AddressInfo
}

export function banner (config: GatewayConfig, role: Role, listeners: ListenerAddresses): string {
  const management = urlOf(listeners.management)
  const webhooks = listeners.webhooks === undefined ? undefined : urlOf(listeners.webhooks)
  const lines = [
    `cio-gateway listening on ${webhooks ?? management} (role: ${role})`,
    listeners.webhooks === undefined ? '  webhooks: not served in role worker' : `  webhooks:   ${webhooks}  ${SERVES.webhooks}${exposure(listeners.webhooks)}`,
    `  management: ${management}  ${SERVES.management}${exposure(listeners.management)}`,
    `  queue: ${config.queue.redis === undefined ? 'EMBEDDED in memory (not durable; configure Redis for production)' : `${new RedisTopology(config.queue.redis).describe()} (prefix ${config.queue.prefix})`}`
  ]
  if (webhooks !== undefined) {
    for (const source of config.sources.values()) lines.push(`  source ${source.name}: POST ${webhooks}/webhooks/${source.name} (${source.secrets.length} secret${source.secrets.length === 1 ? '' : 's'})`)
  }
  for (const sink of config.sinks.values()) lines.push(`  sink ${sink.name}: ${sink.type}${sink.redact.length > 0 ? ` (redacts ${sink.redact.join(', ')})` : ''}`)
  for (const route of config.routes) lines.push(`  route ${route.name} → ${route.sinks.join(', ')}${route.stop ? ' (stop)' : ''}`)
  lines.push(`  metrics: ${management}/metrics`)
  lines.push(config.admin.token === '' ? '  admin: off (no admin.token)' : `  admin: ${management}/admin/queues (bearer token), console ${management}/admin/ui`)
  if (config.reporting !== undefined) {
    lines.push(role === 'ingest' ? '  reporting poller: off in role ingest (the workers poll)' : `  reporting poller: on, every ${formatDuration(config.reporting.intervalMs)}`)
  }
  lines.push(`  config: ${config.file} (reloaded on SIGHUP and when the file changes)`)
  return lines.join('\n') + '\n'
}

/** A URL to paste: a wildcard bind is reached through loopback from this machine. */
function urlOf (address: AddressInfo): string {
  const host = isWildcard(address) ? '127.0.0.1' : address.address
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`
}

function exposure (address: AddressInfo): string {
  return isWildcard(address) ? ' (all interfaces)' : ''
}

function isWildcard (address: AddressInfo): boolean {
  return address.address === '0.0.0.0' || address.address === '::'
}
