/**
 * How many jobs a BullMQ worker should hold at once when a job may carry one event or up to 64.
 *
 * A sink wants about `events` events in hand (a batch filling per delivery slot); holding that many
 * *jobs* of 64 events each would put 64 times as many events in memory. So the job concurrency
 * follows a moving average of the events per job taken: many small jobs at low traffic, few large
 * ones at high traffic. A sink that wants many events in hand starts from a middling guess (16 per
 * job), so that a worker started on a backlog of large jobs does not fetch thousands of them before it
 * has seen one; a sink that wants few (a webhook sink sending events one at a time) starts at full
 * concurrency, since few jobs cannot hold much whatever their size.
 */
const MOST_EVENTS_PER_JOB_GUESSED = 16
/** A sink wanting up to this many events in hand starts at one job per event. */
const SMALL_TARGET = 64
/** Weight of the newest job in the average: it follows a change of traffic within a few dozen jobs. */
const SMOOTHING = 0.05

export class GroupConcurrency {
  private eventsPerJob: number

  constructor (private readonly events: number) {
    this.eventsPerJob = Math.min(MOST_EVENTS_PER_JOB_GUESSED, Math.max(1, events / SMALL_TARGET))
  }

  /** The concurrency for the events per job seen so far. */
  get current (): number {
    return Math.max(1, Math.min(this.events, Math.ceil(this.events / this.eventsPerJob)))
  }

  /** The concurrency to use once a job with `events` events was taken. */
  after (events: number): number {
    this.eventsPerJob += SMOOTHING * (Math.max(1, events) - this.eventsPerJob)
    return this.current
  }
}
