/**
 * Checks of the two listeners (SPEC §3) that the schema cannot express: the MANAGEMENT_PORT
 * variable is a port, and the management listener does not take the webhook listener's address.
 * Messages name the variable or the setting, never the value.
 */
import type { RawConfig } from './schema.js'
import type { ConfigProblem, Locator } from './problems.js'
import type { GatewayConfig } from './types.js'

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', ''])

/** Where the two listeners bind: the environment (HOST, PORT, MANAGEMENT_HOST, MANAGEMENT_PORT) over the file. */
export function resolveListeners (raw: RawConfig, env: NodeJS.ProcessEnv): Pick<GatewayConfig['server'], 'host' | 'port' | 'managementHost' | 'managementPort'> {
  return {
    host: nonEmpty(env.HOST) ?? raw.server?.host ?? '0.0.0.0',
    port: Number(nonEmpty(env.PORT) ?? raw.server?.port ?? 8080),
    managementHost: nonEmpty(env.MANAGEMENT_HOST) ?? raw.server?.management_host ?? '127.0.0.1',
    managementPort: Number(nonEmpty(env.MANAGEMENT_PORT) ?? raw.server?.management_port ?? 8081)
  }
}

export function listenerProblems (raw: RawConfig, env: NodeJS.ProcessEnv, locator: Locator): ConfigProblem[] {
  const managementPort = nonEmpty(env.MANAGEMENT_PORT)
  if (managementPort !== undefined && !(/^[0-9]{1,5}$/.test(managementPort) && Number(managementPort) <= 65535)) {
    return [{ line: 1, col: 1, path: 'server.management_port', message: 'environment variable MANAGEMENT_PORT is not a port number (0 to 65535)' }]
  }
  const listeners = resolveListeners(raw, env)
  if (listeners.managementPort !== 0 && listeners.managementPort === listeners.port && hostsOverlap(listeners.host, listeners.managementHost)) {
    return [locator.problem(['server', 'management_port'],
      'the management listener needs a port of its own: it is the same as the webhook listener\'s (server.port, or PORT)')]
  }
  return []
}

/** Two binds of one port collide when the hosts are the same or either is a wildcard. */
function hostsOverlap (a: string, b: string): boolean {
  return a === b || WILDCARD_HOSTS.has(a) || WILDCARD_HOSTS.has(b)
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
