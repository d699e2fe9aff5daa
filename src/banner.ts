/** The startup banner on stdout: what this process serves and where its data goes. */
import type { GatewayConfig } from './config/types.js'
import type { Role } from './app.js'
import { RedisTopology } from '../plugins/queue/redis-topology.js'

export function banner (config: GatewayConfig, role: Role, port: number): string {
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host
  const base = `http://${host}:${port}`
  const lines = [
    `cio-gateway listening on ${base} (role: ${role})`,
    `  queue: ${config.queue.redis === undefined ? 'EMBEDDED in memory (not durable; configure Redis for production)' : `${new RedisTopology(config.queue.redis).describe()} (prefix ${config.queue.prefix})`}`
  ]
  if (role !== 'worker') {
    for (const source of config.sources.values()) lines.push(`  source ${source.name}: POST ${base}/webhooks/${source.name} (${source.secrets.length} secret${source.secrets.length === 1 ? '' : 's'})`)
  }
  for (const sink of config.sinks.values()) lines.push(`  sink ${sink.name}: ${sink.type}${sink.redact.length > 0 ? ` (redacts ${sink.redact.join(', ')})` : ''}`)
  for (const route of config.routes) lines.push(`  route ${route.name} → ${route.sinks.join(', ')}${route.stop ? ' (stop)' : ''}`)
  lines.push(`  metrics: ${base}/metrics`)
  lines.push(config.admin.token === '' ? '  admin: off (no admin.token)' : `  admin: ${base}/admin/queues (bearer token)`)
  lines.push(`  config: ${config.file} (reloaded on SIGHUP and when the file changes)`)
  return lines.join('\n') + '\n'
}
