/**
 * The console's gate (SPEC §3, §12): off without admin.token, login with the token, the session
 * cookie's flags and life, CSRF and same-origin on every POST, the security headers of every
 * answer, and what the session opens of the admin API.
 */
import t from 'tap'
import { build, defaultYaml } from '../../helpers/app.js'
import { parseConfig } from '../../../src/config/load.js'
import { newSession, SESSION_MS } from '../../../plugins/console/session.js'
import { ConsoleClient, HOST, ORIGIN, TOKEN, consoleOf, consoleYaml, fieldValue, formBody } from './helpers.js'

const CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

t.test('with no admin.token every console path answers 404, whatever the request carries', async (t) => {
  const built = await build(t, { yaml: defaultYaml({ redis: false }) })
  const app = consoleOf(built)
  const cookie = `cio_gateway_session=${newSession('', Date.now())}`
  for (const [method, url] of [
    ['GET', '/admin/ui'], ['GET', '/admin/ui/login'], ['POST', '/admin/ui/login'], ['GET', '/admin/ui/assets/console.css'],
    ['GET', '/admin/ui/dead-letters/local'], ['GET', '/admin/ui/tail/events'], ['POST', '/admin/ui/logout']
  ] as const) {
    const response = await app.inject({ method, url, headers: { host: HOST, origin: ORIGIN, accept: 'text/html', cookie } })
    t.equal(response.statusCode, 404, `${method} ${url}`)
    t.same(response.json(), { error: 'not_found' })
  }
})

t.test('the console is served on the management listener only: the webhook listener answers 404', async (t) => {
  const built = await build(t, { yaml: consoleYaml({ redis: false }) })
  const client = await ConsoleClient.logIn(consoleOf(built))
  for (const url of ['/admin/ui', '/admin/ui/login', '/admin/ui/assets/console.js']) {
    const response = await built.app.inject({ method: 'GET', url, headers: { host: HOST, accept: 'text/html', cookie: client.cookie } })
    t.equal(response.statusCode, 404, url)
    t.same(response.json(), { error: 'not_found' })
  }
})

t.test('without a session a page sends the browser to the login form; anything else is 401', async (t) => {
  const app = consoleOf(await build(t, { yaml: consoleYaml({ redis: false }) }))
  const page = await app.inject({ method: 'GET', url: '/admin/ui/dead-letters/local?metric=bounced', headers: { host: HOST, accept: 'text/html' } })
  t.equal(page.statusCode, 303)
  t.equal(page.headers.location, '/admin/ui/login?next=%2Fadmin%2Fui%2Fdead-letters%2Flocal%3Fmetric%3Dbounced')
  for (const [method, url] of [['GET', '/admin/ui/tail/events'], ['GET', '/admin/ui/dead-letters/local/export.ndjson'], ['POST', '/admin/ui/dead-letters/local/retry-one']] as const) {
    const response = await app.inject({ method, url, headers: { host: HOST, origin: ORIGIN } })
    t.equal(response.statusCode, 401, `${method} ${url}`)
    t.same(response.json(), { error: 'unauthorized', message: 'log in to the console first' })
  }
  const css = await app.inject({ method: 'GET', url: '/admin/ui/assets/console.css', headers: { host: HOST } })
  t.equal(css.statusCode, 200, 'the style sheet needs no session (the login page uses it)')
})

t.test('the admin token logs in: a session cookie HttpOnly, SameSite=Strict, Path=/admin, for 12 hours; Secure under TLS', async (t) => {
  const app = consoleOf(await build(t, { yaml: consoleYaml({ redis: false }) }))
  const login = async (headers: Record<string, string>, token = TOKEN, next = '/admin/ui/tail?source=customerio'): Promise<Awaited<ReturnType<typeof app.inject>>> => {
    const form = await app.inject({ method: 'GET', url: '/admin/ui/login', headers: { host: HOST, accept: 'text/html' } })
    t.equal(form.statusCode, 200)
    t.match(form.body, /<input type="password" name="token"/)
    return await app.inject({
      method: 'POST',
      url: '/admin/ui/login',
      headers: { host: HOST, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: formBody({ _csrf: fieldValue(form.body, '_csrf'), token, next })
    })
  }
  const plain = await login({})
  t.equal(plain.statusCode, 303)
  t.equal(plain.headers.location, '/admin/ui/tail?source=customerio', 'back to where the browser was going')
  const cookie = String(plain.headers['set-cookie'])
  t.match(cookie, /^cio_gateway_session=[0-9]+\.[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/admin; HttpOnly; SameSite=Strict$/)
  const expiry = Number(/=([0-9]+)\./.exec(cookie)?.[1])
  t.ok(Math.abs(expiry - (Date.now() + SESSION_MS)) < 5000, 'the expiry is in the cookie')

  const tls = await login({ 'x-forwarded-proto': 'https' })
  t.match(String(tls.headers['set-cookie']), /^cio_gateway_session=[^;]+; Max-Age=43200; Path=\/admin; HttpOnly; Secure; SameSite=Strict$/, 'behind a TLS-terminating proxy')

  const wrong = await login({}, `${TOKEN}x`)
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.headers['set-cookie'], undefined, 'no cookie for a wrong token')
  t.match(wrong.body, /That is not the admin token/)

  for (const next of ['https://evil.example/', '//evil.example/admin/ui', '/admin/uix', '/metrics']) {
    t.equal((await login({}, TOKEN, next)).headers.location, '/admin/ui', `never sent on to ${next}`)
  }

  const client = new ConsoleClient(app, cookie.split(';')[0] as string, '')
  t.equal((await client.get('/admin/ui/login')).headers.location, '/admin/ui', 'a logged-in browser skips the form')
})

t.test('a session ends with its expiry, a forged cookie, a rotated token (config reload) and a logout', async (t) => {
  const built = await build(t, { yaml: consoleYaml({ redis: false }) })
  const app = consoleOf(built)
  const refused = async (cookie: string, what: string): Promise<void> => {
    const response = await app.inject({ method: 'GET', url: '/admin/ui', headers: { host: HOST, accept: 'text/html', cookie } })
    t.equal(response.statusCode, 303, what)
    t.match(String(response.headers.location), /^\/admin\/ui\/login/)
  }
  const client = await ConsoleClient.logIn(app)
  t.equal((await client.get('/admin/ui')).statusCode, 200)
  await refused(`cio_gateway_session=${newSession(TOKEN, Date.now() - SESSION_MS - 1)}`, 'expired')
  await refused(`cio_gateway_session=${newSession('another-token-of-thirty-two-characters', Date.now())}`, 'made with another token')
  const [expiry, mac] = client.cookie.split('=')[1]?.split('.') as [string, string]
  await refused(`cio_gateway_session=${Number(expiry) + 1000}.${mac}`, 'a later expiry under the old MAC')
  await refused('cio_gateway_session=garbage', 'garbage')

  const rotated = parseConfig(consoleYaml({ redis: false }, 'a-new-admin-token-of-well-over-32-chars').replaceAll('{{dir}}', built.dir).replaceAll('{{prefix}}', built.prefix), 'test.yaml', {})
  t.match(await built.app.configReloader.apply(rotated), { result: 'success' })
  await refused(client.cookie, 'after the token was rotated')
  const again = await ConsoleClient.logIn(app, 'a-new-admin-token-of-well-over-32-chars')
  t.equal((await again.get('/admin/ui')).statusCode, 200, 'the new token logs in')

  const logout = await again.post('/admin/ui/logout', {})
  t.equal(logout.statusCode, 303)
  t.equal(logout.headers.location, '/admin/ui/login')
  t.match(String(logout.headers['set-cookie']), /^cio_gateway_session=; Max-Age=0; Path=\/admin; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict$/)
})

t.test('every POST needs the session\'s CSRF token and the console\'s own origin', async (t) => {
  const app = consoleOf(await build(t, { yaml: consoleYaml({ redis: false }) }))
  const client = await ConsoleClient.logIn(app)
  const other = await ConsoleClient.logIn(app)
  const loginForm = fieldValue((await app.inject({ method: 'GET', url: '/admin/ui/login', headers: { host: HOST } })).body, '_csrf')
  const refusals: Array<[string, Record<string, string | undefined>, Record<string, string>]> = [
    ['no token', { _csrf: undefined }, {}],
    ['an empty token', { _csrf: '' }, {}],
    ['another session\'s token', { _csrf: other.csrf === client.csrf ? 'x' : other.csrf }, {}],
    ['the login form\'s token', { _csrf: loginForm }, {}],
    ['another origin', {}, { origin: 'http://evil.example' }],
    ['another port', {}, { origin: 'http://127.0.0.1:8080' }],
    ['an opaque origin', {}, { origin: 'null' }],
    ['a cross-site fetch without Origin', {}, { origin: '', 'sec-fetch-site': 'cross-site' }],
    ['no origin at all', {}, { origin: '' }],
    ['a foreign Referer', {}, { origin: '', referer: 'http://evil.example/page' }]
  ]
  for (const [what, form, headers] of refusals) {
    const clean = Object.fromEntries(Object.entries({ ...headers }).filter(([, value]) => value !== ''))
    const response = await app.inject({
      method: 'POST',
      url: '/admin/ui/logout',
      headers: { host: HOST, cookie: client.cookie, 'content-type': 'application/x-www-form-urlencoded', ...(headers.origin === '' ? {} : { origin: ORIGIN }), ...clean },
      payload: formBody({ _csrf: client.csrf, ...form })
    })
    t.equal(response.statusCode, 403, what)
    t.match(response.body, /This request was refused/)
    t.equal(response.headers['set-cookie'], undefined, `${what}: still logged in`)
  }
  for (const [what, headers] of [['Sec-Fetch-Site', { 'sec-fetch-site': 'same-origin' }], ['Referer', { referer: `${ORIGIN}/admin/ui` }]] as const) {
    const response = await app.inject({
      method: 'POST',
      url: '/admin/ui/logout',
      headers: { host: HOST, cookie: client.cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: formBody({ _csrf: client.csrf })
    })
    t.equal(response.statusCode, 303, `same origin told by ${what}`)
  }
  const loginFromElsewhere = await app.inject({
    method: 'POST',
    url: '/admin/ui/login',
    headers: { host: HOST, origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
    payload: formBody({ _csrf: loginForm, token: TOKEN })
  })
  t.equal(loginFromElsewhere.statusCode, 403, 'a login posted from another site')
})

t.test('every console answer forbids framing, caching and any script but its own', async (t) => {
  const app = consoleOf(await build(t, { yaml: consoleYaml({ redis: false }) }))
  const client = await ConsoleClient.logIn(app)
  for (const url of ['/admin/ui', '/admin/ui/dead-letters', '/admin/ui/dead-letters/local', '/admin/ui/tail', '/admin/ui/login', '/admin/ui/assets/console.js', '/admin/ui/dead-letters/nothing']) {
    const response = await client.get(url)
    t.equal(response.headers['content-security-policy'], CSP, url)
    t.equal(response.headers['cache-control'], 'no-store', url)
    t.equal(response.headers['x-frame-options'], 'DENY', url)
    t.equal(response.headers['x-content-type-options'], 'nosniff', url)
    if (response.headers['content-type']?.toString().startsWith('text/html') === true) {
      t.notMatch(response.body, /<script(?![^>]*\bsrc="\/admin\/ui\/assets\/console\.js")/, `${url}: no inline script`)
      t.notMatch(response.body, /\son[a-z]+=/i, `${url}: no inline event handler`)
      t.notMatch(response.body, /\sstyle=/i, `${url}: no inline style`)
    }
  }
})

t.test('the session opens the admin API\'s reading endpoints, never its POST', async (t) => {
  const app = consoleOf(await build(t, { yaml: consoleYaml({ redis: false }) }))
  const client = await ConsoleClient.logIn(app)
  const queues = await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: client.cookie } })
  t.equal(queues.statusCode, 200)
  t.same(Object.keys((queues.json() as { queues: object }).queues), ['local', '_quarantine'])
  const retry = await app.inject({ method: 'POST', url: '/admin/queues/local/retry', headers: { cookie: client.cookie, origin: ORIGIN } })
  t.equal(retry.statusCode, 401, 'a POST needs the bearer token')
  t.equal((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: 'cio_gateway_session=1.x' } })).statusCode, 401)
})
