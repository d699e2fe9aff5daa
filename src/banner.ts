/** The startup banner on stdout: what this process serves and where its data goes. */
import type { GatewayConfig } from './config/types.js'
import type { Role } from './app.js'

export function banner (config: GatewayConfig, role: Role, port: number): string {
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host
  const base = `http://${host}:${port}`
  const lines = [
    `cio-gateway listening on ${base} (role: ${role})`,
    `  queue: ${config.queue.redisUrl === '' ? 'EMBEDDED in memory (not durable; set queue.redis_url for production)' : `redis (prefix ${config.queue.prefix})`}`
  ]
  if (role !== 'worker') {
    for (const source of config.sources.values()) lines.push(`  source ${source.name}: POST ${base}/webhooks/${source.name} (${source.secrets.length} secret${source.secrets.length === 1 ? '' : 's'})`)
  }
  for (const sink of config.sinks.values()) lines.push(`  sink ${sink.name}: ${sink.type}`)
  for (const route of config.routes) lines.push(`  route ${route.name} → ${route.sinks.join(', ')}${route.stop ? ' (stop)' : ''}`)
  lines.push(`  metrics: ${base}/metrics`)
  return lines.join('\n') + '\n'
}
