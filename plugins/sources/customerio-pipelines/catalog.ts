/**
 * What Customer.io Data Pipelines sends, as its documentation lists it (test/fixtures/pipelines/README.md
 * cites the pages): the call types of the source spec, and the semantic events of the Journeys
 * Message Metrics source by channel. Used for metric labels and by the simulator; the gateway
 * routes and stores any other type or event name just the same.
 */

/** The calls of the source spec; `object_type` in routes. */
export const CALL_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const

/**
 * Journeys Message Metrics events (track calls) by channel, each under the reporting-webhook metric
 * it reports (the docs say they are the same events; `dropped` is the one named differently, as
 * Suppressed). Reporting metrics without a counterpart in the list (undeliverable, replied, …) are
 * left out.
 */
export const JOURNEYS_METRIC_EVENTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  email: {
    drafted: 'Email Drafted', attempted: 'Email Attempted', deferred: 'Email Deferred', sent: 'Email Sent', delivered: 'Email Delivered',
    opened: 'Email Opened', clicked: 'Email Link Clicked', converted: 'Email Converted', unsubscribed: 'Email Unsubscribed',
    bounced: 'Email Bounced', dropped: 'Email Suppressed', spammed: 'Email Marked as Spam', failed: 'Email Failed'
  },
  push: {
    drafted: 'Push Drafted', attempted: 'Push Attempted', sent: 'Push Sent', delivered: 'Push Delivered', opened: 'Push Opened',
    clicked: 'Push Link Clicked', converted: 'Push Converted', bounced: 'Push Bounced', dropped: 'Push Suppressed', failed: 'Push Failed'
  },
  sms: {
    drafted: 'SMS Drafted', attempted: 'SMS Attempted', sent: 'SMS Sent', delivered: 'SMS Delivered', clicked: 'SMS Link Clicked',
    converted: 'SMS Converted', bounced: 'SMS Bounced', failed: 'SMS Failed'
  },
  in_app: {
    drafted: 'In-App Drafted', attempted: 'In-App Attempted', sent: 'In-App Sent', opened: 'In-App Opened', clicked: 'In-App Clicked',
    converted: 'In-App Converted', failed: 'In-App Failed'
  },
  webhook: {
    drafted: 'Webhook Drafted', attempted: 'Webhook Attempted', sent: 'Webhook Sent', clicked: 'Webhook Link Clicked',
    converted: 'Webhook Converted', failed: 'Webhook Failed'
  }
}

/** Every Journeys Message Metrics event name. */
export const JOURNEYS_EVENT_NAMES: readonly string[] = Object.values(JOURNEYS_METRIC_EVENTS).flatMap((events) => Object.values(events))
