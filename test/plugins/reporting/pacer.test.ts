import t from 'tap'
import { APP_API_PACE, RequestPacer } from '../../../plugins/reporting/pacer.js'
import { APP_API_RETRY, backoffMs, retryAfterMs } from '../../../plugins/reporting/retry.js'

t.test('the pacer lets at most 10 requests start in any one second, even when 25 ask at once', async (t) => {
  const pacer = new RequestPacer(APP_API_PACE)
  const started: number[] = []
  const begin = Date.now()
  await Promise.all(Array.from({ length: 25 }, async () => {
    await pacer.acquire()
    started.push(Date.now())
  }))
  started.sort((a, b) => a - b)
  let most = 0
  for (let first = 0, last = 0; last < started.length; last++) {
    while ((started[last] as number) - (started[first] as number) >= 1000) first++
    most = Math.max(most, last - first + 1)
  }
  t.ok(most <= 10, `most starts in one second: ${most}`)
  t.equal(pacer.spacingMs, 120, 'one request every 120 ms: 10 per 1.2 s')
  t.ok(Date.now() - begin >= 24 * 120 - 15, 'the 25th starts no sooner than 24 spacings after the first')
  t.ok(Date.now() - begin < 24 * 120 + 500, 'and not much later: the pacer does not over-throttle')
})

t.test('a busy event loop that wakes waiters late does not let them bunch up', async (t) => {
  const pacer = new RequestPacer(APP_API_PACE)
  const started: number[] = []
  await Promise.all(Array.from({ length: 5 }, async (_v, index) => {
    await pacer.acquire()
    started.push(Date.now())
    if (index === 0) {
      // Block the loop for three spacings: the timers of the next waiters all expire meanwhile.
      const until = Date.now() + 350
      while (Date.now() < until) { /* busy */ }
    }
  }))
  const gaps = started.slice(1).map((at, index) => at - (started[index] as number))
  t.ok(gaps.every((gap) => gap >= pacer.spacingMs - 15), `starts stay about a spacing apart: ${gaps.join(', ')} ms`)
})

t.test('an aborted wait rejects at once', async (t) => {
  const pacer = new RequestPacer({ limit: 1, perMs: 10_000 })
  await pacer.acquire()
  const abort = new AbortController()
  const waiting = pacer.acquire(abort.signal)
  abort.abort()
  await t.rejects(waiting, { name: 'AbortError' })
})

t.test('Retry-After is read as seconds or as an HTTP date', async (t) => {
  t.equal(retryAfterMs('1'), 1000)
  t.equal(retryAfterMs(' 120 '), 120_000)
  t.equal(retryAfterMs(['3', '9']), 3000)
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000)
  t.equal(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now), 0, 'a date in the past means now')
  t.equal(retryAfterMs(undefined), undefined)
  t.equal(retryAfterMs('soon'), undefined)
})

t.test('backoff doubles from 500 ms with ±20 % jitter and stops growing at 30 s', async (t) => {
  t.equal(backoffMs(1, APP_API_RETRY, () => 0.5), 500)
  t.equal(backoffMs(2, APP_API_RETRY, () => 0.5), 1000)
  t.equal(backoffMs(4, APP_API_RETRY, () => 0.5), 4000)
  t.equal(backoffMs(20, APP_API_RETRY, () => 0.5), 30_000)
  t.equal(backoffMs(1, APP_API_RETRY, () => 0), 400)
  t.equal(backoffMs(1, APP_API_RETRY, () => 1), 600)
})
