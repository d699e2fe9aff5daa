/**
 * The `cio-gateway` command (SPEC §9): serve (default), check-config, simulate, replay.
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile } from './config/load.js'
import { ROLES, type Role } from './app.js'

const USAGE = `Usage:
  cio-gateway [serve] [--config routes.yaml] [--role all|ingest|worker]
  cio-gateway check-config [--config routes.yaml]
  cio-gateway replay --sink NAME [--config routes.yaml]
      re-queue a sink's dead-lettered events (or _quarantine's) in Redis; prints how many

The config file is --config, else $CIO_GATEWAY_CONFIG, else ./routes.yaml.
The role is --role, else $CIO_GATEWAY_ROLE, else all.`

export async function main (argv: readonly string[]): Promise<number> {
  const command = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : 'serve'
  const rest = command === argv[0] ? argv.slice(1) : argv
  const { values } = parseArgs({
    args: [...rest],
    options: {
      config: { type: 'string' },
      role: { type: 'string' },
      sink: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: false
  })
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const configFile = stringOption(values.config) ?? nonEmpty(process.env.CIO_GATEWAY_CONFIG) ?? 'routes.yaml'
  switch (command) {
    case 'serve': {
      const role = stringOption(values.role) ?? nonEmpty(process.env.CIO_GATEWAY_ROLE) ?? 'all'
      if (!ROLES.includes(role as Role)) {
        process.stderr.write(`unknown role '${role}' (known: ${ROLES.join(', ')})\n`)
        return 2
      }
      const { serve } = await import('./server.js')
      try {
        await serve({ configFile, role: role as Role })
      } catch (error) {
        return reportStartupError(error)
      }
      return -1 // keep running
    }
    case 'check-config':
      try {
        const config = await loadConfigFile(configFile)
        process.stdout.write(`${configFile}: ok (${config.sources.size} sources, ${config.sinks.size} sinks, ${config.routes.length} routes)\n`)
        return 0
      } catch (error) {
        return reportStartupError(error)
      }
    case 'replay': {
      const sink = stringOption(values.sink)
      if (sink === undefined) {
        process.stderr.write(`replay needs --sink NAME\n${USAGE}\n`)
        return 2
      }
      const { replay } = await import('./commands/replay.js')
      try {
        const config = await loadConfigFile(configFile)
        return await replay(config, sink, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
      } catch (error) {
        return reportStartupError(error)
      }
    }
    default:
      process.stderr.write(`unknown command '${command}'\n${USAGE}\n`)
      return 2
  }
}

function reportStartupError (error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(error.message + '\n')
    return 1
  }
  process.stderr.write(`cio-gateway: ${(error as Error).message}\n`)
  return 1
}

function stringOption (value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
