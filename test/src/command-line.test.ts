/**
 * The command line (SPEC §9), parsed by a pure function: strict, since `check-config` gates CI. An
 * unknown option, a stray argument or a missing value is a usage error (the CLI prints it with the
 * usage and exits 2), never ignored; each command takes only its own options.
 */
import t from 'tap'
import { COMMANDS, USAGE, parseCommandLine } from '../../src/command-line.js'

t.test('each command with its options', async (t) => {
  t.same(parseCommandLine([]), { command: 'serve', options: {} })
  t.same(parseCommandLine(['--config', 'prod.yaml', '--role', 'ingest']), { command: 'serve', options: { config: 'prod.yaml', role: 'ingest' } }, 'serve is the default command')
  t.same(parseCommandLine(['serve', '--config=prod.yaml']), { command: 'serve', options: { config: 'prod.yaml' } })
  t.same(parseCommandLine(['check-config', '--config', 'other.yaml']), { command: 'check-config', options: { config: 'other.yaml' } })
  t.same(parseCommandLine(['replay', '--sink', 'warehouse']), { command: 'replay', options: { sink: 'warehouse' } })
  t.same(parseCommandLine(['simulate', '--url', 'http://127.0.0.1:8080', '--secret', 'k', '--count', '200', '--rate', '0.5', '--seed', '7', '--json', '-v']), {
    command: 'simulate', options: { url: 'http://127.0.0.1:8080', secret: 'k', count: 200, rate: 0.5, seed: 7, json: true, verbose: true }
  })
  t.same(parseCommandLine(['simulate', '--url', 'http://127.0.0.1:8080', '--source-type', 'customerio_pipelines']), {
    command: 'simulate', options: { url: 'http://127.0.0.1:8080', 'source-type': 'customerio_pipelines' }
  })
  for (const argv of [['--help'], ['-h'], ['check-config', '--help'], ['simulate', '--bogus', '-h']]) t.same(parseCommandLine(argv), { help: true }, argv.join(' '))
})

t.test('a stray argument, an unknown option or a missing value is an error, not ./routes.yaml validated', async (t) => {
  const errors: Record<string, string> = {
    'check-config other.yaml': "unexpected argument 'other.yaml' (did you mean --config other.yaml?): check-config takes options only",
    'check-config --confg x': 'unknown option --confg for check-config (did you mean --config?); check-config takes --config',
    'check-config --config': '--config needs a value',
    'check-config --config=': '--config needs a value',
    'serve --config --role worker': '--config needs a value',
    'check-config --config a.yaml --config b.yaml': '--config is given twice',
    'serve --sink warehouse': 'unknown option --sink for serve; serve takes --config, --role',
    'check-config --json': 'unknown option --json for check-config; check-config takes --config',
    'simulate --url http://127.0.0.1:8080 --json=yes': '--json takes no value',
    'replay --sink a -- b': "unexpected argument 'b': replay takes options only",
    'routes.yaml': "unknown command 'routes.yaml'; the commands are serve, check-config, replay, reconcile, simulate",
    'chek-config': "unknown command 'chek-config' (did you mean 'check-config'?); the commands are serve, check-config, replay, reconcile, simulate",
    'serve --role both': "unknown role 'both' (known: all, ingest, worker)",
    replay: 'replay needs --sink NAME',
    simulate: 'simulate needs --url (the gateway, e.g. http://127.0.0.1:8080/webhooks/customerio)',
    'simulate --url http://127.0.0.1:8080 --count 0': '--count must be an integer from 1 to 1000000',
    'simulate --url http://127.0.0.1:8080 --count 1.5': '--count must be an integer from 1 to 1000000',
    'simulate --url http://127.0.0.1:8080 --rate fast': '--rate must be a number of events per second above 0, at most 100000',
    'simulate --url http://127.0.0.1:8080 --seed -1': '--seed needs a value',
    'simulate --url http://127.0.0.1:8080 --source-type segment': "--source-type: source type 'segment' is not known (known: customerio, customerio_pipelines)",
    'simulate --url http://127.0.0.1:8080 --source-type': '--source-type needs a value'
  }
  for (const [line, error] of Object.entries(errors)) t.same(parseCommandLine(line.split(' ')), { error }, line)
})

t.test('simulate --url says what a URL needs', async (t) => {
  const needed = '--url needs a whole URL with its scheme (http:// or https://) and host, e.g. http://127.0.0.1:8080/webhooks/customerio ' +
    '(the path is /webhooks/<source>; a URL without one posts to /webhooks/customerio)'
  for (const url of ['127.0.0.1:18080', 'localhost:8080', 'ftp://127.0.0.1/webhooks/customerio', 'http://']) {
    t.same(parseCommandLine(['simulate', '--url', url]), { error: needed }, url)
  }
  t.same(parseCommandLine(['simulate', '--source-type', 'customerio_pipelines', '--url', 'localhost:8080']), {
    error: '--url needs a whole URL with its scheme (http:// or https://) and host, e.g. http://127.0.0.1:8080/webhooks/pipelines ' +
      '(the path is /webhooks/<source>; a URL without one posts to /webhooks/pipelines)'
  }, 'a Data Pipelines URL without a path posts to /webhooks/pipelines')
})

t.test('the usage names every command', async (t) => {
  for (const name of Object.keys(COMMANDS)) t.match(USAGE, name === 'serve' ? 'cio-gateway [serve]' : `cio-gateway ${name} `)
  t.match(USAGE, /^ {2}cio-gateway simulate --url URL .*\n {23}\[--source-type customerio\|customerio_pipelines\]$/m, 'simulate names the source types')
})
