/**
 * The `cio-gateway` command (SPEC §9): serve (default), check-config, simulate, replay, reconcile.
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile } from './config/load.js'
import { ROLES, type Role } from './app.js'
import { DEFAULT_SOURCE_TYPE, findSourceType, unknownSourceTypeMessage, type SourceType } from './sources/registry.js'

export const USAGE = `Usage:
  cio-gateway [serve] [--config routes.yaml] [--role all|ingest|worker]
  cio-gateway check-config [--config routes.yaml]
  cio-gateway replay --sink NAME [--config routes.yaml]
      re-queue a sink's dead-lettered events (or _quarantine's) in Redis; prints how many
  cio-gateway reconcile [--days N] [--max-gap 0.5%,5] [--json] [--config routes.yaml]
      compare Customer.io's daily counts with the webhooks received, per campaign, newsletter,
      broadcast, day and metric; exit 1 when a completed day's gap is over the limit
  cio-gateway simulate --url URL [--secret KEY] [--count 100] [--rate 50] [--seed N] [--json] [--verbose]
                       [--source-type customerio|customerio_pipelines]
      send realistic signed events (every object type and metric, a few duplicates, one unknown
      metric) to a running gateway and print the answers; the key is --secret, else $CIO_WEBHOOK_SECRET;
      --source-type customerio_pipelines sends Data Pipelines batches of 1 to 1,000 events instead

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
      url: { type: 'string' },
      secret: { type: 'string' },
      count: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      'source-type': { type: 'string' },
      days: { type: 'string' },
      'max-gap': { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
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
    case 'reconcile': {
      const { runReconcile } = await import('./commands/reconcile.js')
      return await runReconcile(configFile, { days: stringOption(values.days), maxGap: stringOption(values['max-gap']), json: values.json === true },
        { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
    }
    case 'simulate': {
      const { SIMULATE_DEFAULTS, simulate } = await import('./commands/simulate.js')
      const url = stringOption(values.url)
      const secret = stringOption(values.secret) ?? nonEmpty(process.env.CIO_WEBHOOK_SECRET)
      const count = numberOption(values.count, SIMULATE_DEFAULTS.count, (n) => Number.isInteger(n) && n >= 1 && n <= 1_000_000)
      const rate = numberOption(values.rate, SIMULATE_DEFAULTS.rate, (n) => n > 0 && n <= 100_000)
      const seed = numberOption(values.seed, Math.floor(Math.random() * 2 ** 32), (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32)
      const sourceType = stringOption(values['source-type']) ?? DEFAULT_SOURCE_TYPE
      const problems = [
        url === undefined ? 'simulate needs --url (the gateway, e.g. http://127.0.0.1:8080/webhooks/customerio)' : '',
        secret === undefined ? 'simulate needs the signing key: --secret KEY or $CIO_WEBHOOK_SECRET' : '',
        count === undefined ? '--count must be an integer from 1 to 1000000' : '',
        rate === undefined ? '--rate must be a number of events per second above 0' : '',
        seed === undefined ? '--seed must be an integer from 0 to 4294967295' : '',
        findSourceType(sourceType) === undefined ? `--source-type: ${unknownSourceTypeMessage(sourceType)}` : ''
      ].filter((problem) => problem !== '')
      if (problems.length > 0) {
        process.stderr.write(`${problems.join('\n')}\n${USAGE}\n`)
        return 2
      }
      try {
        return await simulate({ url: url as string, secret: secret as string, count: count as number, rate: rate as number, seed: seed as number, json: values.json === true, verbose: values.verbose === true, sourceType: sourceType as SourceType },
          { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
      } catch (error) {
        process.stderr.write(`cio-gateway simulate: ${(error as Error).message}\n`)
        return 2
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

/** The option as a number: `fallback` when absent, undefined when present but not `valid`. */
function numberOption (value: string | boolean | undefined, fallback: number, valid: (n: number) => boolean): number | undefined {
  if (value === undefined) return fallback
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN
  return Number.isFinite(n) && valid(n) ? n : undefined
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
