/** The job concurrency of a worker whose jobs hold one event or a group of them. */
import t from 'tap'
import { GroupConcurrency } from '../../../plugins/queue/group-concurrency.js'

t.test('a sink wanting many events in hand starts bounded, then follows the events per job', async (t) => {
  const concurrency = new GroupConcurrency(2000)
  t.equal(concurrency.current, 125, 'a middling guess of 16 events per job: at most 2,000 events if jobs are that size')
  let last = concurrency.current
  for (let i = 0; i < 200; i++) last = concurrency.after(50)
  t.ok(last >= 40 && last <= 42, `jobs of 50 events: about 2000 / 50 jobs (${last})`)
  for (let i = 0; i < 400; i++) last = concurrency.after(1)
  t.equal(last, 2000, 'jobs of one event again: one job per event wanted')
})

t.test('a sink wanting few events in hand starts at one job per event', async (t) => {
  t.equal(new GroupConcurrency(8).current, 8)
  t.equal(new GroupConcurrency(64).current, 64)
  t.equal(new GroupConcurrency(1).after(64), 1, 'never below one')
})

t.test('one large job among single events lowers the concurrency for a while only', async (t) => {
  const concurrency = new GroupConcurrency(500)
  for (let i = 0; i < 400; i++) concurrency.after(1)
  t.equal(concurrency.current, 500)
  const after = concurrency.after(64)
  t.ok(after > 100 && after < 500, `one job of 64 after many of one: ${after} jobs`)
  for (let i = 0; i < 100; i++) concurrency.after(1)
  t.ok(concurrency.current >= 480, `back near 500 after 100 single-event jobs (${concurrency.current})`)
})
