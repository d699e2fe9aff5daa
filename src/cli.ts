/**
 * The `cio-gateway` command (SPEC §9): serve (default), check-config, simulate, replay, reconcile.
 * The command line is parsed in src/command-line.ts; here each command gets its environment
 * fallbacks and runs.
 */
import { ConfigError, loadConfigFile } from './config/load.js'
import { USAGE, isRole, parseCommandLine } from './command-line.js'
import { ROLES } from './app.js'
import { DEFAULT_SOURCE_TYPE, type SourceType } from './sources/registry.js'

export { USAGE } from './command-line.js'

export async function main (argv: readonly string[]): Promise<number> {
  const line = parseCommandLine(argv)
  if ('help' in line) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if ('error' in line) return usageError(line.error)
  const env = process.env
  const configFile = ('config' in line.options ? line.options.config : undefined) ?? nonEmpty(env.CIO_GATEWAY_CONFIG) ?? 'routes.yaml'
  switch (line.command) {
    case 'serve': {
      const role = line.options.role ?? nonEmpty(env.CIO_GATEWAY_ROLE) ?? 'all'
      if (!isRole(role)) return usageError(`unknown role '${role}' in $CIO_GATEWAY_ROLE (known: ${ROLES.join(', ')})`)
      const { serve } = await import('./server.js')
      try {
        await serve({ configFile, role })
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
      const { replay } = await import('./commands/replay.js')
      try {
        const config = await loadConfigFile(configFile)
        return await replay(config, line.options.sink as string, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
      } catch (error) {
        return reportStartupError(error)
      }
    }
    case 'reconcile': {
      const { runReconcile } = await import('./commands/reconcile.js')
      const { options } = line
      return await runReconcile(configFile, { days: options.days, maxGap: options['max-gap'], json: options.json === true },
        { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
    }
    case 'simulate': {
      const { SIMULATE_DEFAULTS, simulate } = await import('./commands/simulate.js')
      const { options } = line
      const secret = options.secret ?? nonEmpty(env.CIO_WEBHOOK_SECRET)
      if (secret === undefined) return usageError('simulate needs the signing key: --secret KEY or $CIO_WEBHOOK_SECRET')
      try {
        return await simulate({
          url: options.url as string,
          secret,
          count: options.count ?? SIMULATE_DEFAULTS.count,
          rate: options.rate ?? SIMULATE_DEFAULTS.rate,
          seed: options.seed ?? Math.floor(Math.random() * 2 ** 32),
          json: options.json === true,
          verbose: options.verbose === true,
          // parseCommandLine has checked it is a known type.
          sourceType: (options['source-type'] ?? DEFAULT_SOURCE_TYPE) as SourceType
        }, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
      } catch (error) {
        process.stderr.write(`cio-gateway simulate: ${(error as Error).message}\n`)
        return 2
      }
    }
  }
}

function usageError (message: string): number {
  process.stderr.write(`${message}\n\n${USAGE}\n`)
  return 2
}

function reportStartupError (error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(error.message + '\n')
    return 1
  }
  process.stderr.write(`cio-gateway: ${(error as Error).message}\n`)
  return 1
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
