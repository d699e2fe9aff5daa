/**
 * A steady stream of webhook requests from a few clients, for tests that change something (reload
 * the config) while requests keep coming, and the check that what was sent reached a file sink.
 */
import { readLines } from './app.js'
import { sampleEvent } from './sign.js'

export class RequestStream<Answer> {
  readonly answers: Answer[] = []
  /** event_id of every event sent. */
  readonly sent: string[] = []
  /** event_id of the events whose request started after `markSwitched`. */
  readonly sentAfterSwitch: string[] = []
  private switched = false
  private stopped = false
  private readonly clients: Promise<void>[]

  constructor (send: (event: Record<string, unknown>) => Promise<Answer>, clients = 4) {
    this.clients = Array.from({ length: clients }, async () => {
      while (!this.stopped) {
        const event = sampleEvent()
        const afterSwitch = this.switched
        this.answers.push(await send(event))
        this.sent.push(String(event.event_id))
        if (afterSwitch) this.sentAfterSwitch.push(String(event.event_id))
      }
    })
  }

  /** Requests started from now on count as sent after the switch; those under way do not. */
  markSwitched (): void {
    this.switched = true
  }

  /** Lets every request under way finish, and sends no more. */
  async stop (): Promise<void> {
    this.stopped = true
    await Promise.all(this.clients)
  }
}

/**
 * The ids not (yet) in the file sink writing under `dir`. A sink changed by a reload also gets events
 * sent between the switch and the test noticing it, so its line count says nothing: ask for the ids.
 */
export function missingFromFileSink (dir: string, ids: readonly string[]): string[] {
  const written = new Set(readLines(dir).map((line) => line.event_id))
  return ids.filter((id) => !written.has(id))
}
