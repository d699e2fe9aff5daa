/** LogThrottle: one line per key and interval, with the number of calls each line stands for. */
import t from 'tap'
import { LogThrottle, type Schedule } from '../../src/log-throttle.js'

/** A clock the test moves: `end()` runs the timers due, as if the interval had passed. */
function manualTimers (): { schedule: Schedule, pending: () => number, end: () => void } {
  let timers: (() => void)[] = []
  return {
    schedule: (fn) => {
      timers.push(fn)
      return () => { timers = timers.filter((timer) => timer !== fn) }
    },
    pending: () => timers.length,
    end: () => {
      const due = timers
      timers = []
      for (const fn of due) fn()
    }
  }
}

t.test('the first call writes at once; the rest of the interval is counted and written once when it ends', async (t) => {
  const timers = manualTimers()
  const throttle = new LogThrottle(10_000, timers.schedule)
  const lines: string[] = []
  for (let i = 1; i <= 10_000; i++) throttle.write('401:customerio:bad_signature', (count) => lines.push(`request ${i}: ${count}`))
  t.same(lines, ['request 1: 1'], '10,000 calls, one line so far')
  timers.end()
  t.same(lines, ['request 1: 1', 'request 10000: 9999'], 'the last call writes for the 9,999 after the first')
  for (let i = 1; i <= 500; i++) throttle.write('401:customerio:bad_signature', (count) => lines.push(`later ${i}: ${count}`))
  t.equal(lines.length, 2, 'the next interval began at once: still quiet')
  timers.end()
  t.same(lines.slice(2), ['later 500: 500'])
  timers.end()
  t.equal(timers.pending(), 0, 'an interval without calls closes the window')
  throttle.write('401:customerio:bad_signature', (count) => lines.push(`after a quiet interval: ${count}`))
  t.same(lines.slice(3), ['after a quiet interval: 1'], 'and the next call writes at once again')
})

t.test('keys are throttled apart', async (t) => {
  const timers = manualTimers()
  const throttle = new LogThrottle(10_000, timers.schedule)
  const counts: Record<string, number[]> = {}
  const write = (key: string): void => throttle.write(key, (count) => { (counts[key] ??= []).push(count) })
  for (let i = 0; i < 30; i++) write('503:customerio:redis_unavailable')
  for (let i = 0; i < 3; i++) write('503:customerio:high_water_mark')
  write('401:customerio:missing_signature')
  timers.end()
  t.same(counts, {
    '503:customerio:redis_unavailable': [1, 29],
    '503:customerio:high_water_mark': [1, 2],
    '401:customerio:missing_signature': [1]
  })
})

t.test('close() writes the counts still held and cancels the timers; calls after it write at once', async (t) => {
  const timers = manualTimers()
  const throttle = new LogThrottle(10_000, timers.schedule)
  const lines: number[] = []
  for (let i = 0; i < 7; i++) throttle.write('key', (count) => lines.push(count))
  throttle.close()
  t.same(lines, [1, 6])
  t.equal(timers.pending(), 0)
  throttle.write('key', (count) => lines.push(count))
  throttle.write('key', (count) => lines.push(count))
  t.same(lines, [1, 6, 1, 1])
})

t.test('with real timers, the window ends after the interval', async (t) => {
  const throttle = new LogThrottle(20)
  const lines: number[] = []
  throttle.write('key', (count) => lines.push(count))
  throttle.write('key', (count) => lines.push(count))
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.same(lines, [1, 1], 'the second call was written when its interval ended')
  throttle.close()
})
