/** A lazily loaded sink loads its implementation once, when started, and closes only what it loaded. */
import t from 'tap'
import { lazySink } from '../../src/sinks/lazy.js'
import type { DeliveryEvent, Sink } from '../../src/sinks/contract.js'

function recording (): { sink: Sink, calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    sink: {
      start: async () => { calls.push('start') },
      deliver: async (batch) => { calls.push(`deliver ${batch.length}`); return { failures: new Map([[0, new Error('row 0 failed')]]) } },
      close: async () => { calls.push('close') }
    }
  }
}

t.test('nothing is loaded until start, then once; deliver and close reach the loaded sink', async (t) => {
  const inner = recording()
  let loads = 0
  const sink = lazySink(async () => { loads++; return inner.sink })
  t.equal(loads, 0, 'create does not load')
  await sink.start?.()
  const outcome = await sink.deliver([{} as DeliveryEvent, {} as DeliveryEvent])
  await sink.close()
  t.equal(loads, 1)
  t.same(inner.calls, ['start', 'deliver 2', 'close'])
  t.equal(outcome?.failures?.get(0)?.message, 'row 0 failed', 'the outcome comes back as the sink gave it')
})

t.test('a sink never started is never loaded, and closing it is a no-op', async (t) => {
  let loads = 0
  const sink = lazySink(async () => { loads++; return recording().sink })
  await sink.close()
  t.equal(loads, 0)
})

t.test('a failing load fails start', async (t) => {
  const sink = lazySink(async () => { throw new Error('cannot load the client library') })
  await t.rejects(sink.start?.() as Promise<void>, { message: 'cannot load the client library' })
})
