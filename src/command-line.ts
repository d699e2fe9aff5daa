/**
 * The command line of `cio-gateway` (SPEC §9), parsed by a pure function: no environment, no
 * files, no output. Strict, because it gates CI: an unknown option, a stray argument or an option
 * without its value is an error, never ignored (`check-config other.yaml` must not validate
 * ./routes.yaml and pass). Each command accepts only its own options.
 *
 * A command is one entry of COMMANDS (its usage lines and options) and one `case` in src/cli.ts.
 */
import { parseArgs } from 'node:util'
import { ROLES, type Role } from './app.js'
import { closest } from './did-you-mean.js'
import { DEFAULT_WEBHOOK_PATHS, webhookUrl } from './commands/simulate.js'
import { DEFAULT_SOURCE_TYPE, findSourceType, knownSourceTypes, unknownSourceTypeMessage } from './sources/registry.js'

interface StringOption { readonly type: 'string', readonly required?: string }
interface BooleanOption { readonly type: 'boolean', readonly short?: string }
/** A number within `min`..`max`; `problem` says so when the value is not. */
interface NumberOption { readonly type: 'number', readonly integer: boolean, readonly min: number, readonly max: number, readonly problem: string }
type OptionSpec = StringOption | BooleanOption | NumberOption

interface CommandSpec {
  /** Its lines of the usage text. */
  readonly usage: string
  readonly options: Readonly<Record<string, OptionSpec>>
  /** Problems with the values that each option alone cannot see. */
  readonly check?: (options: Readonly<Record<string, string | number | boolean | undefined>>) => string | undefined
}

const CONFIG: StringOption = { type: 'string' }

export const COMMANDS = {
  serve: {
    usage: 'cio-gateway [serve] [--config routes.yaml] [--role all|ingest|worker]',
    options: { config: CONFIG, role: { type: 'string' } },
    check: ({ role }) => role === undefined || isRole(role) ? undefined : `unknown role '${String(role)}' (known: ${ROLES.join(', ')})`
  },
  'check-config': {
    usage: 'cio-gateway check-config [--config routes.yaml]\n    validate the file and print every error; exit 0 when it is valid, 1 when not',
    options: { config: CONFIG }
  },
  replay: {
    usage: 'cio-gateway replay --sink NAME [--config routes.yaml]\n    re-queue a sink\'s dead-lettered events (or _quarantine\'s) in Redis; prints how many',
    options: { sink: { type: 'string', required: 'replay needs --sink NAME' }, config: CONFIG }
  },
  reconcile: {
    usage: 'cio-gateway reconcile [--days N] [--max-gap 0.5%,5] [--json] [--config routes.yaml]\n' +
      '    compare Customer.io\'s daily counts with the webhooks received, per campaign, newsletter,\n' +
      '    broadcast, day and metric; exit 1 when a completed day\'s gap is over the limit',
    // Their values are checked against the config (reporting.lookback) by the command itself.
    options: { days: { type: 'string' }, 'max-gap': { type: 'string' }, json: { type: 'boolean' }, config: CONFIG }
  },
  simulate: {
    usage: 'cio-gateway simulate --url URL [--secret KEY] [--count 100] [--rate 50] [--seed N] [--json] [--verbose]\n' +
      `                     [--source-type ${knownSourceTypes().join('|')}]\n` +
      '    send realistic signed events (every object type and metric, a few duplicates, one unknown\n' +
      '    metric) to a running gateway and print the answers; the key is --secret, else $CIO_WEBHOOK_SECRET;\n' +
      '    --source-type customerio_pipelines sends Data Pipelines batches of 1 to 1,000 events instead',
    options: {
      url: { type: 'string', required: 'simulate needs --url (the gateway, e.g. http://127.0.0.1:8080/webhooks/customerio)' },
      secret: { type: 'string' },
      count: { type: 'number', integer: true, min: 1, max: 1_000_000, problem: '--count must be an integer from 1 to 1000000' },
      rate: { type: 'number', integer: false, min: Number.MIN_VALUE, max: 100_000, problem: '--rate must be a number of events per second above 0, at most 100000' },
      seed: { type: 'number', integer: true, min: 0, max: 2 ** 32 - 1, problem: '--seed must be an integer from 0 to 4294967295' },
      'source-type': { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' }
    },
    check: ({ url, 'source-type': type = DEFAULT_SOURCE_TYPE }) => {
      const known = findSourceType(String(type))
      if (known === undefined) return `--source-type: ${unknownSourceTypeMessage(String(type))}`
      try {
        if (typeof url === 'string') webhookUrl(url, DEFAULT_WEBHOOK_PATHS[known.type])
        return undefined
      } catch (error) {
        return (error as Error).message
      }
    }
  }
} as const satisfies Record<string, CommandSpec>

export type CommandName = keyof typeof COMMANDS

type ValueOf<S> = S extends BooleanOption ? boolean : S extends NumberOption ? number : string
type OptionsOf<C extends CommandName> = { readonly [K in keyof typeof COMMANDS[C]['options']]?: ValueOf<typeof COMMANDS[C]['options'][K]> }

/** A command to run, with the options given on its command line (no environment applied). */
export type Invocation = { readonly [C in CommandName]: { readonly command: C, readonly options: OptionsOf<C> } }[CommandName]

export type CommandLine = Invocation | { readonly help: true } | { readonly error: string }

export const USAGE = `Usage:
${Object.values(COMMANDS).map((command: CommandSpec) => `  ${command.usage.replaceAll('\n', '\n  ')}`).join('\n')}
  cio-gateway --help

The config file is --config, else $CIO_GATEWAY_CONFIG, else ./routes.yaml.
The role is --role, else $CIO_GATEWAY_ROLE, else all.`

export function isRole (value: unknown): value is Role {
  return (ROLES as readonly unknown[]).includes(value)
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const

/** `argv` without the program: `['check-config', '--config', 'routes.yaml']`. */
export function parseCommandLine (argv: readonly string[]): CommandLine {
  const first = argv[0]
  const named = first !== undefined && !first.startsWith('-')
  const name = named ? first : 'serve'
  if (!Object.hasOwn(COMMANDS, name)) {
    if (argv.includes('--help') || argv.includes('-h')) return { help: true }
    const hint = closest(name, Object.keys(COMMANDS))
    return { error: `unknown command '${name}'${hint === undefined ? '' : ` (did you mean '${hint}'?)`}; the commands are ${Object.keys(COMMANDS).join(', ')}` }
  }
  const command = name as CommandName
  const spec: CommandSpec = COMMANDS[command]
  const { tokens } = parseArgs({
    args: named ? argv.slice(1) : [...argv],
    options: { ...parseArgsOptions(spec), ...HELP },
    strict: false,
    allowPositionals: true,
    tokens: true
  })
  if (tokens.some((token) => token.kind === 'option' && token.name === 'help')) return { help: true }

  const options: Record<string, string | number | boolean> = {}
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue
    if (token.kind === 'positional') return { error: unexpectedArgument(command, spec, token.value) }
    const option = spec.options[token.name]
    if (option === undefined) return { error: unknownOption(command, spec, token.rawName) }
    if (Object.hasOwn(options, token.name)) return { error: `${token.rawName} is given twice` }
    if (option.type === 'boolean') {
      if (token.value !== undefined) return { error: `${token.rawName} takes no value` }
      options[token.name] = true
      continue
    }
    const value = token.value
    // `--config --role x`: a value that is itself an option means the value was left out.
    if (value === undefined || value === '' || (token.inlineValue === false && value.startsWith('-') && value !== '-')) {
      return { error: `${token.rawName} needs a value` }
    }
    if (option.type === 'number') {
      const number = value.trim() === '' ? Number.NaN : Number(value)
      if (!Number.isFinite(number) || number < option.min || number > option.max || (option.integer && !Number.isInteger(number))) return { error: option.problem }
      options[token.name] = number
    } else {
      options[token.name] = value
    }
  }
  for (const [key, option] of Object.entries(spec.options)) {
    if (option.type === 'string' && option.required !== undefined && !Object.hasOwn(options, key)) return { error: option.required }
  }
  const problem = spec.check?.(options)
  if (problem !== undefined) return { error: problem }
  return { command, options } as Invocation
}

function parseArgsOptions (spec: CommandSpec): Record<string, { type: 'string' | 'boolean', short?: string }> {
  return Object.fromEntries(Object.entries(spec.options).map(([key, option]) =>
    [key, option.type === 'boolean' ? { type: 'boolean', ...(option.short === undefined ? {} : { short: option.short }) } : { type: 'string' }]))
}

function unknownOption (command: CommandName, spec: CommandSpec, rawName: string): string {
  const known = Object.keys(spec.options)
  const hint = closest(rawName.replace(/^-+/, ''), known)
  const takes = known.length === 0 ? 'no options' : known.map((key) => `--${key}`).join(', ')
  return `unknown option ${rawName} for ${command}${hint === undefined ? '' : ` (did you mean --${hint}?)`}; ${command} takes ${takes}`
}

function unexpectedArgument (command: CommandName, spec: CommandSpec, value: string): string {
  const asConfig = Object.hasOwn(spec.options, 'config') && /\.ya?ml$/i.test(value) ? ` (did you mean --config ${value}?)` : ''
  return `unexpected argument '${value}'${asConfig}: ${command} takes options only`
}
