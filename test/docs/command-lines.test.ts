/**
 * Every `cio-gateway …` command line the docs show (README.md, CONTRIBUTING.md, the chart's README,
 * docs/**) is one the CLI accepts: its arguments go through the CLI's own parser,
 * parseCommandLine, which starts nothing. A command line is found in shell code blocks, in inline
 * code, and in the `args` of a container in a YAML block, in each of the forms the docs use:
 * `cio-gateway`, `npx cio-gateway`, `node bin/cio-gateway.js`, `npm start -- …`,
 * `deno task start …`, `deno run … bin/cio-gateway.js …`, `docker run … IMAGE …` and
 * `kubectl exec … -- …`.
 *
 * Synopses are checked as the shortest and the longest line they describe: `[…]` left out, then
 * kept, and each of the alternatives `a|b` in turn. A placeholder (`<sink>`, `NAME`, `N`) stands
 * for the example value PLACEHOLDERS gives it; one it does not know is reported, never guessed.
 * Blocks of ```text are output, not commands, and are not read.
 */
import t from 'tap'
import { marked, type Token, type Tokens } from 'marked'
import { parse as parseShell } from 'shell-quote'
import { parseAllDocuments } from 'yaml'
import { parseCommandLine } from '../../src/command-line.js'
import { docFiles, readDoc } from './helpers/markdown.js'

/** The value each placeholder of the docs stands for: one of the kind the option takes. */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  '<command>': 'check-config', // "npm start -- <command>": any command; this one needs no option
  '<sink>': 'crm',
  NAME: 'crm',
  URL: 'http://127.0.0.1:8080',
  KEY: 'dev-signing-key',
  N: '2',
  PCT: '0.5',
  MIN: '5',
  F: 'routes.yaml',
  R: 'worker'
}

/** Where a line of a shell block or of inline code is a command line the test reads. */
const MENTIONS_GATEWAY = /cio-gateway|npm (run )?start|deno task start/

interface Found {
  /** Where it is shown: the line as the docs write it. */
  shown: string
  /** The gateway's own arguments, or what stopped the test from reading them. */
  args: string[] | { problem: string }
}

/** The lines a synopsis describes: optional groups left out and kept, each alternative in turn. */
function expandSynopsis (line: string): string[] {
  const variants = [withOptionalGroups(line, ''), withOptionalGroups(line, '$1')].flatMap(alternatives)
  return [...new Set(variants.map((variant) => variant.replace(/\s+/g, ' ').trim()))]
}

/** Every `[…]` group, innermost first, replaced by `replacement` (`$1` keeps its text). */
function withOptionalGroups (line: string, replacement: string): string {
  const next = line.replace(/\[([^[\]]*)\]/g, replacement)
  return next === line ? line : withOptionalGroups(next, replacement)
}

function alternatives (line: string): string[] {
  // `all|ingest|worker`; a pipe between two commands has spaces around it.
  const choice = /[\w.-]+(?:\|[\w.-]+)+/.exec(line)
  if (choice === null) return [line]
  const [whole] = choice
  return whole.split('|').flatMap((option) => alternatives(line.slice(0, choice.index) + option + line.slice(choice.index + whole.length)))
}

/** `<name>` placeholders, put in before the shell reads the line (it would take `<` for a redirection). */
function fillAnglePlaceholders (line: string): string {
  return line.replace(/<([a-z][a-z0-9 _-]*)>/gi, (placeholder, name: string) =>
    PLACEHOLDERS[placeholder] ?? `UNKNOWN_PLACEHOLDER_${name.replaceAll(' ', '_')}`)
}

/** The simple commands of a shell line, as words: split at `&&`, `|`, `;`, without redirections and comments. */
function simpleCommands (line: string): string[][] {
  const commands: string[][] = [[]]
  let redirected = false
  for (const entry of parseShell(line, (name) => `$${name}`)) {
    const current = commands[commands.length - 1] as string[]
    if (typeof entry === 'string') {
      if (redirected) redirected = false
      else current.push(entry)
    } else if ('comment' in entry) {
      break
    } else if (entry.op === 'glob') {
      current.push(entry.pattern)
    } else if (/[<>]/.test(entry.op)) {
      redirected = true
    } else {
      commands.push([])
    }
  }
  return commands.filter((words) => words.length > 0)
}

const DOCKER_OPTIONS_WITH_VALUE = new Set(['-p', '--publish', '-e', '--env', '--env-file', '-v', '--volume', '--mount', '--name', '--network', '-u', '--user', '-w', '--workdir'])
const DOCKER_FLAGS = new Set(['--rm', '-d', '--detach', '-i', '-t', '-it', '--init', '--read-only'])
const OUR_IMAGE = /(^|\/)cio-gateway([:@]|$)|^IMAGE$/

/** The arguments `docker run` hands the image's entrypoint (`node bin/cio-gateway.js`), when the image is ours. */
function dockerRunArguments (words: string[]): Found['args'] | undefined {
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string
    if (word === '--entrypoint' || word.startsWith('--entrypoint=')) return undefined
    if (!word.startsWith('-')) return OUR_IMAGE.test(word) ? words.slice(i + 1) : undefined
    if (DOCKER_OPTIONS_WITH_VALUE.has(word)) i++
    else if (!DOCKER_FLAGS.has(word) && !word.includes('=')) return { problem: `docker run option ${word} is not one this test knows: add it` }
  }
  return undefined
}

/** The gateway's arguments in one simple command, or undefined when it does not run the gateway. */
function gatewayArguments (command: readonly string[]): Found['args'] | undefined {
  // Variables set for the command (`REDIS_URL=… npm start`) come first.
  const start = command.findIndex((word) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(word))
  if (start < 0) return undefined
  const words = command.slice(start)
  const [first, second, third] = words
  if (first === 'npx' && second !== 'cio-gateway') return gatewayArguments(words.slice(1))
  if (first === 'cio-gateway' || (first === 'npx' && second === 'cio-gateway')) return words.slice(first === 'npx' ? 2 : 1)
  if (first === 'node' && second !== undefined && /^(\.\/)?bin\/cio-gateway\.js$/.test(second)) return words.slice(2)
  if (first === 'npm' && (second === 'start' || (second === 'run' && third === 'start'))) {
    const rest = words.slice(second === 'start' ? 2 : 3)
    if (rest.length === 0) return []
    // Without `--`, npm takes the options for itself and the gateway never sees them.
    return rest[0] === '--' ? rest.slice(1) : { problem: 'npm start hands the gateway only the arguments after --' }
  }
  if (first === 'deno' && second === 'task' && third === 'start') return words.slice(3)
  if (first === 'deno' && second === 'run') {
    const script = words.findIndex((word) => /(^|\/)bin\/cio-gateway\.js$/.test(word))
    return script < 0 ? undefined : words.slice(script + 1)
  }
  if (first === 'kubectl' && words.includes('exec') && words.includes('--')) return gatewayArguments(words.slice(words.indexOf('--') + 1))
  if (first === 'docker' && second === 'run') return dockerRunArguments(words.slice(2))
  return undefined
}

/** The arguments with their placeholders filled in, or the placeholder PLACEHOLDERS lacks. */
function fillPlaceholders (args: readonly string[]): Found['args'] {
  const filled = args.map((arg) => arg.replace(/\b[A-Z][A-Z_]*\b/g, (word) => PLACEHOLDERS[word] ?? word))
  const unknown = filled.find((arg) => /^[A-Z][A-Z_]*$|^(\.\.\.|…)$|UNKNOWN_PLACEHOLDER_/.test(arg))
  return unknown === undefined ? filled : { problem: `placeholder ${unknown.replace('UNKNOWN_PLACEHOLDER_', '')} is not in PLACEHOLDERS` }
}

/** The command lines in one shell line (a synopsis gives several). */
function commandLinesIn (line: string): Found[] {
  if (!MENTIONS_GATEWAY.test(line)) return []
  return expandSynopsis(line).flatMap((variant) => simpleCommands(fillAnglePlaceholders(variant)).flatMap((command) => {
    const args = gatewayArguments(command)
    if (args === undefined) return []
    return [{ shown: line, args: Array.isArray(args) ? fillPlaceholders(args) : args }]
  }))
}

/** The lines of a shell block: continuations joined; in a transcript, only the `$ ` lines. */
function shellLines (text: string): string[] {
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n')
  const prompted = lines.filter((line) => line.startsWith('$ '))
  return prompted.length > 0 ? prompted.map((line) => line.slice(2)) : lines
}

/** Containers of a YAML block that run the gateway: its `command` and `args`, or `args` to our image. */
function commandLinesInYaml (text: string): Found[] {
  const found: Found[] = []
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) { node.forEach(visit); return }
    if (node === null || typeof node !== 'object') return
    const { image, command, args } = node as { image?: unknown, command?: unknown, args?: unknown }
    const words = [...(Array.isArray(command) ? command : []), ...(Array.isArray(args) ? args : [])].map(String)
    if (typeof image === 'string' && words.length > 0) {
      const shown = `${image}: ${JSON.stringify(words)}`
      const gateway = Array.isArray(command) ? gatewayArguments(words) : OUR_IMAGE.test(image) ? words : undefined
      if (gateway !== undefined) found.push({ shown, args: Array.isArray(gateway) ? fillPlaceholders(gateway) : gateway })
    }
    Object.values(node).forEach(visit)
  }
  for (const document of parseAllDocuments(text)) if (document.errors.length === 0) visit(document.toJS())
  return found
}

/** Every command line of a Markdown text that runs the gateway. */
function commandLinesOf (markdown: string): Found[] {
  const found: Found[] = []
  marked.walkTokens(marked.lexer(markdown), (token: Token) => {
    if (token.type === 'codespan') found.push(...commandLinesIn((token as Tokens.Codespan).text.replace(/\s+/g, ' ')))
    if (token.type !== 'code') return
    const { lang = '', text } = token as Tokens.Code
    if (/^(ya?ml)$/.test(lang)) found.push(...commandLinesInYaml(text))
    else if (/^(sh|bash|shell|console|)$/.test(lang)) found.push(...shellLines(text).flatMap(commandLinesIn))
  })
  return found
}

/** What is wrong with each command line of a Markdown text: the parser's error, or why it could not be read. */
function problemsOf (markdown: string): string[] {
  return commandLinesOf(markdown).flatMap(({ shown, args }) => {
    if (!Array.isArray(args)) return [`\`${shown}\`: ${args.problem}`]
    const line = parseCommandLine(args)
    return 'error' in line ? [`\`${shown}\` (${JSON.stringify(args)}): ${line.error}`] : []
  })
}

t.test('every command line of the docs is one the CLI accepts', async (t) => {
  for (const file of docFiles()) t.same(problemsOf(readDoc(file)), [], file)
})

t.test('the docs show the gateway run in each of its forms, so the search finds them', async (t) => {
  const shown = docFiles().flatMap((file) => commandLinesOf(readDoc(file)).map((found) => found.shown))
  t.ok(shown.length >= 30, `${shown.length} command lines found`)
  for (const form of [/^cio-gateway check-config/, /npm start -- --role worker/, /node bin\/cio-gateway\.js replay/,
    /^npx deno task start/, /^deno run .* bin\/cio-gateway\.js \[serve\]/, /^docker run .* cio-gateway:/, /cio-gateway:[\d.]+: \["reconcile"/]) {
    t.ok(shown.some((line) => form.test(line)), `a command line like ${String(form)}`)
  }
})

t.test('a wrong command line is reported, whatever its form', async (t) => {
  const doc = [
    '```sh',
    'npm start -- check-config other.yaml',
    'REDIS_URL=redis://127.0.0.1:6379 npm start --role worker',
    'kubectl -n cio exec deploy/x -- node bin/cio-gateway.js replay --config /etc/cio-gateway/routes.yaml',
    'docker run --rm -p 8080:8080 cio-gateway:0.1.0 serve --confg routes.yaml',
    '```',
    'Run `cio-gateway reconcile --days` or `cio-gateway replay --sink <dead-letters>`, `cio-gateway simulate --url URL --count N --rate X`.',
    '```',
    'cio-gateway [serve] [--role all|ingest|wroker]',
    '```',
    '```yaml',
    'containers: [{ name: reconcile, image: registry.example.com/cio-gateway:1.0.0, args: ["reconcile", "--dys", "2"] }]',
    '```'
  ].join('\n')
  t.same(problemsOf(doc), [
    '`npm start -- check-config other.yaml` (["check-config","other.yaml"]): unexpected argument \'other.yaml\' (did you mean --config other.yaml?): check-config takes options only',
    '`REDIS_URL=redis://127.0.0.1:6379 npm start --role worker`: npm start hands the gateway only the arguments after --',
    '`kubectl -n cio exec deploy/x -- node bin/cio-gateway.js replay --config /etc/cio-gateway/routes.yaml` (["replay","--config","/etc/cio-gateway/routes.yaml"]): replay needs --sink NAME',
    '`docker run --rm -p 8080:8080 cio-gateway:0.1.0 serve --confg routes.yaml` (["serve","--confg","routes.yaml"]): unknown option --confg for serve (did you mean --config?); serve takes --config, --role',
    '`cio-gateway reconcile --days` (["reconcile","--days"]): --days needs a value',
    '`cio-gateway replay --sink <dead-letters>`: placeholder dead-letters is not in PLACEHOLDERS',
    '`cio-gateway simulate --url URL --count N --rate X`: placeholder X is not in PLACEHOLDERS',
    '`cio-gateway [serve] [--role all|ingest|wroker]` (["serve","--role","wroker"]): unknown role \'wroker\' (known: all, ingest, worker)',
    '`registry.example.com/cio-gateway:1.0.0: ["reconcile","--dys","2"]` (["reconcile","--dys","2"]): unknown option --dys for reconcile (did you mean --days?); reconcile takes --days, --max-gap, --json, --config'
  ])
})

t.test('a synopsis stands for its shortest and longest lines and each alternative', async (t) => {
  t.same(expandSynopsis('cio-gateway [serve] [--config F] [--role all|ingest|worker]'), [
    'cio-gateway',
    'cio-gateway serve --config F --role all',
    'cio-gateway serve --config F --role ingest',
    'cio-gateway serve --config F --role worker'
  ])
  t.same(expandSynopsis('cio-gateway reconcile [--max-gap PCT%[,MIN]]'), ['cio-gateway reconcile', 'cio-gateway reconcile --max-gap PCT%,MIN'])
  t.same(expandSynopsis('curl -s http://x/metrics | grep y'), ['curl -s http://x/metrics | grep y'], 'a pipe is not an alternative')
})

/** The `| arguments | first line of the error |` table of docs/cli.md, as [arguments, error] pairs. */
function errorTable (): Array<[string, string]> {
  const rows: Array<[string, string]> = []
  marked.walkTokens(marked.lexer(readDoc('docs/cli.md')), (token) => {
    if (token.type !== 'table') return
    const table = token as Tokens.Table
    if (table.header.map((cell) => cell.text).join('|') !== 'arguments|first line of the error') return
    for (const [args, error] of table.rows) rows.push([(args?.text ?? '').replaceAll('`', ''), (error?.text ?? '').replaceAll('`', '')])
  })
  return rows
}

t.test('the wrong command lines docs/cli.md shows give the errors it shows', async (t) => {
  const rows = errorTable()
  t.ok(rows.length >= 3, 'the table is found')
  for (const [args, error] of rows) {
    const line = parseCommandLine(simpleCommands(args)[0] ?? [])
    t.equal('error' in line ? line.error.split('\n')[0] : 'no error', error, args)
  }
})
