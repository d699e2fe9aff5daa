/**
 * The console in a real browser (SPEC §12): Debian's Chromium driven by playwright-core, never a
 * downloaded browser. Log in, see a dead-lettered event, re-queue it and see it delivered, watch
 * the overview refresh itself, select and re-queue from the table, follow the live tail while a
 * signed event comes in; and no error in the browser's console (a CSP violation would be one).
 * On failure a screenshot is saved and its path printed.
 *
 * With CONSOLE_SCREENSHOTS=docs/images the run also writes the README's screenshots of the
 * overview and the dead letters page there.
 */
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { build, eventually, type Built } from '../../helpers/app.js'
import { startReceiver, webhookSinkYaml, type Receiver } from '../../helpers/receiver.js'
import { signedHeaders } from '../../helpers/sign.js'
import { TOKEN, consoleOf, consoleYaml } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS
const FAILURES = join(tmpdir(), 'cio-gateway-console-failures')

async function launch (t: Test): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: install the Debian package "chromium" (apt-get install -y chromium; scripts/ci-apt.sh does it)`)
  }
  const profile = mkdtempSync(join(tmpdir(), 'cio-gateway-chromium-'))
  // A persistent context is how Playwright takes a --user-data-dir: a fresh one per run.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 900 }
  })
  t.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

/** The page's errors (console errors, uncaught exceptions, CSP refusals); a screenshot if the test failed. */
function watch (t: Test, page: Page, name: string): string[] {
  const errors: string[] = []
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()) })
  page.on('pageerror', (error) => errors.push(error.message))
  t.teardown(async () => {
    if (t.passing()) return
    mkdirSync(FAILURES, { recursive: true })
    const path = join(FAILURES, `${name}-${Date.now()}.png`)
    await page.screenshot({ path, fullPage: true }).catch(() => {})
    t.comment(`screenshot of the failure: ${path}`)
  })
  return errors
}

interface Setup { built: Built, receiver: Receiver, url: string, send: (event: Record<string, unknown>) => Promise<void> }

async function gateway (t: Test): Promise<Setup> {
  // The third event gets a 410: two groups of errors.
  const receiver = await startReceiver(t, (index) => index === 2 ? 410 : 400)
  const built = await build(t, {
    yaml: consoleYaml({
      redis: true,
      extraSinks: webhookSinkYaml('crm', receiver, 3),
      routes: [
        '  - { name: bounces-to-crm, match: { object_type: email, metric: [bounced, dropped, spammed] }, sinks: [crm] }',
        '  - { name: everything, match: {}, sinks: [local] }'
      ].join('\n')
    })
  })
  const app = consoleOf(built)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const send = async (event: Record<string, unknown>): Promise<void> => {
    const body = JSON.stringify({ timestamp: Math.floor(Date.now() / 1000), data: { campaign_id: 42, recipient: 'person@example.com' }, ...event })
    const response = await built.app.inject({ method: 'POST', url: '/webhooks/customerio', headers: signedHeaders(body), payload: body })
    if (response.statusCode !== 200) throw new Error(`webhook answered ${response.statusCode}`)
  }
  return { built, receiver, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, send }
}

async function logIn (page: Page, url: string): Promise<void> {
  await page.goto(`${url}/admin/ui`)
  await page.waitForURL(/\/admin\/ui\/login\?next=/)
  await page.fill('input[name="token"]', TOKEN)
  await page.click('button[type="submit"]')
  await page.waitForURL(`${url}/admin/ui`)
}

t.test('log in, see a dead-lettered event, re-queue it and see it delivered; the overview refreshes itself', async (t) => {
  const { receiver, url, send } = await gateway(t)
  for (const [index, metric] of ['bounced', 'bounced', 'dropped', 'spammed'].entries()) await send({ event_id: `BROWSER-${index}`, object_type: 'email', metric })
  for (let i = 0; i < 6; i++) await send({ event_id: `OK-${i}`, object_type: 'email', metric: 'delivered' })
  const page = await (await launch(t)).newPage()
  const errors = watch(t, page, 'dead-letters')

  await logIn(page, url)
  const crmDeadLetters = page.locator('table.sinks tr', { hasText: 'crm' }).locator('td.n').nth(3)
  await eventually(async () => (await crmDeadLetters.textContent())?.trim() === '4' ? true : undefined, 15_000, 'four dead letters of crm on the overview')
  await send({ event_id: 'BROWSER-late', object_type: 'email', metric: 'bounced' })
  await eventually(async () => (await crmDeadLetters.textContent())?.trim() === '5' ? true : undefined, 15_000, 'the overview refreshing itself to five')
  t.equal(page.url(), `${url}/admin/ui`, 'no navigation: refreshed in place')

  if (SCREENSHOTS !== undefined) {
    // Rates need 20 s of samples: the screenshot waits for them.
    await eventually(async () => (await page.locator('table.sinks tr', { hasText: 'local' }).locator('td.n').nth(4).textContent())?.trim() !== '–' ? true : undefined, 60_000, 'rates on the overview')
    await page.screenshot({ path: resolve(SCREENSHOTS, 'console-overview.png'), fullPage: true })
  }

  await page.click('nav >> text=Dead letters')
  await page.click('table >> text=crm')
  await page.waitForURL(`${url}/admin/ui/dead-letters/crm`)
  t.match(await page.textContent('p.summary'), /5 events dead-lettered/)
  t.equal(await page.locator('table.letters tbody tr').count(), 5)
  t.match(await page.innerText('table.groups'), /answered 400\t4\t[^\n]*\n[^\n]*answered 410\t1\t/, 'grouped by error, most events first')
  if (SCREENSHOTS !== undefined) await page.screenshot({ path: resolve(SCREENSHOTS, 'console-dead-letters.png'), fullPage: true })

  receiver.status = 200
  const row = page.locator('table.letters tbody tr', { hasText: 'BROWSER-0' })
  await row.locator('button', { hasText: 'Re-queue' }).click()
  await page.waitForSelector('p.banner.ok')
  t.equal(await page.textContent('p.banner.ok'), 'Re-queued 1 event.')
  await eventually(() => receiver.delivered.some((event) => event.event_id === 'BROWSER-0') ? true : undefined, 10_000, 'BROWSER-0 delivered')
  await page.reload()
  t.match(await page.textContent('p.summary'), /4 events dead-lettered/)
  t.equal(await page.locator('table.letters tbody tr', { hasText: 'BROWSER-0' }).count(), 0, 'gone from the dead letters')

  await page.click('input.select-all')
  t.equal(await page.locator('input[name="ref"]:checked').count(), 4, 'every box of the page ticked')
  await page.click('button:has-text("Re-queue selected…")')
  t.match(await page.textContent('h1'), /Re-queue 4 events of crm\?/)
  await page.click('form.confirm button[type="submit"]')
  t.equal(await page.textContent('p.banner.ok'), 'Re-queued 4 events.')
  await eventually(() => receiver.delivered.length === 5 ? true : undefined, 10_000, 'all five delivered')
  t.same(receiver.delivered.map((event) => event.event_id).sort(), ['BROWSER-0', 'BROWSER-1', 'BROWSER-2', 'BROWSER-3', 'BROWSER-late'])
  t.same(errors, [], 'no error in the browser console')
})

t.test('the live tail shows a signed event sent while it is open', async (t) => {
  const { url, send } = await gateway(t)
  const page = await (await launch(t)).newPage()
  const errors = watch(t, page, 'live-tail')
  await logIn(page, url)
  await page.click('nav >> text=Live tail')
  await page.waitForSelector('[data-tail-status]:has-text("Following")')
  await send({ event_id: 'TAIL-1', object_type: 'sms', metric: 'delivered' })
  const row = page.locator('table.tail tbody tr', { hasText: 'TAIL-1' })
  await row.waitFor({ timeout: 10_000 })
  t.match(await row.textContent(), /customerio.*TAIL-1.*sms \/ delivered.*local/s)
  await row.locator('summary').click()
  t.match(await row.locator('pre').textContent(), /"event_id": "TAIL-1"/)
  t.same(errors, [], 'no error in the browser console')
})
