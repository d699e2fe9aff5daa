/**
 * The environment variables reference (docs/configuration.md): the variables the code reads itself,
 * listed here (test/docs/references.test.ts checks the list against the sources), and the `${VAR}`
 * references of the default routes.yaml, read from the file itself.
 */
import { parse } from 'yaml'

interface ReadVariable {
  name: string
  meaning: string
}

/** Every variable the gateway reads directly, whatever its config says. */
export const READ_VARIABLES: readonly ReadVariable[] = [
  { name: 'CIO_GATEWAY_CONFIG', meaning: 'The config file when `--config` is not given; else `./routes.yaml`.' },
  { name: 'CIO_GATEWAY_ROLE', meaning: 'The role (`all`, `ingest`, `worker`) when `--role` is not given; else `all`.' },
  { name: 'HOST', meaning: 'Overrides `server.host`.' },
  { name: 'PORT', meaning: 'Overrides `server.port`.' },
  { name: 'MANAGEMENT_HOST', meaning: 'Overrides `server.management_host` (the management listener: `/metrics`, `/admin/*`).' },
  { name: 'MANAGEMENT_PORT', meaning: 'Overrides `server.management_port`.' },
  { name: 'LOG_LEVEL', meaning: 'The log level (`trace`, `debug`, `info`, `warn`, `error`, `fatal`); default `info`.' },
  { name: 'CIO_WEBHOOK_SECRET', meaning: '`simulate`: the signing key when `--secret` is not given (it keeps the key out of the process list).' }
]

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** `[dotted path, scalar]` of every string in a parsed YAML value. */
function strings (value: unknown, path: string): Array<[string, string]> {
  if (typeof value === 'string') return [[path, value]]
  if (Array.isArray(value)) return value.flatMap((item, index) => strings(item, `${path}[${index}]`))
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => strings(item, path === '' ? key : `${path}.${key}`))
  }
  return []
}

function cell (text: string): string {
  return text.replace(/\|/g, '\\|')
}

/** The reference, given the text of the default routes.yaml. */
export function renderEnvironmentReference (defaultRoutesYaml: string): string {
  const read = READ_VARIABLES.map(({ name, meaning }) => `| \`${name}\` | ${meaning} |`)
  const referenced = strings(parse(defaultRoutesYaml), '').flatMap(([path, text]) =>
    [...text.matchAll(REFERENCE)].map(([, name, fallback]) =>
      `| \`${name ?? ''}\` | \`${path}\` | ${fallback === undefined ? '(none: must be set)' : fallback === '' ? 'empty' : `\`${cell(fallback)}\``} |`))
  return [
    'Read by the gateway itself:',
    '',
    '| variable | meaning |',
    '|---|---|',
    ...read,
    '',
    'Read by the default `routes.yaml` (what `npm start` runs), through `${VAR}` and `${VAR:-default}`:',
    '',
    '| variable | sets | when unset |',
    '|---|---|---|',
    ...referenced
  ].join('\n')
}
