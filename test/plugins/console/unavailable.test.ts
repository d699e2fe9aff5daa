/**
 * When Redis does not answer, which is when the console is most needed: the overview still shows,
 * saying what is wrong; a page that needs the queue says why it cannot be shown.
 */
import t from 'tap'
import { build } from '../../helpers/app.js'
import { freePort } from '../../helpers/private-redis.js'
import { ConsoleClient, consoleOf, consoleYaml } from './helpers.js'

t.test('with Redis unreachable the overview says so, and the dead letters page says why it is not shown', async (t) => {
  const nothing = `redis://127.0.0.1:${await freePort()}`
  const built = await build(t, { yaml: consoleYaml({ redis: true }).replace('{{redis}}', nothing) })
  const client = await ConsoleClient.logIn(consoleOf(built))

  const overview = await client.get('/admin/ui')
  t.equal(overview.statusCode, 200)
  t.match(overview.body, /<span class="badge bad">not ready<\/span> queue: /)
  t.match(overview.body, /<td><a href="\/admin\/ui\/dead-letters\/local">local<\/a><\/td><td>file<\/td><td colspan="8" class="bad">queue unreachable: /)

  const letters = await client.get('/admin/ui/dead-letters/local')
  t.equal(letters.statusCode, 500)
  t.match(letters.headers['content-type'], /^text\/html/)
  t.match(letters.body, /<h1>This page could not be shown<\/h1>/)
  t.match(letters.body, /Most often the queue \(Redis\) is not answering/)
  t.equal(letters.headers['content-security-policy'], "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
})
