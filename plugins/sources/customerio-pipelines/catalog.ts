/**
 * What Customer.io Data Pipelines sends, as its documentation lists it (test/fixtures/pipelines/README.md
 * cites the pages): the call types of the source spec, and the semantic events of the Journeys
 * Message Metrics source by channel. Used for metric labels and by the simulator; the gateway
 * routes and stores any other type or event name just the same.
 */

/** The calls of the source spec; `object_type` in routes. */
export const CALL_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const

/** Journeys Message Metrics events (track calls), by channel. */
export const JOURNEYS_METRIC_EVENTS: Readonly<Record<string, readonly string[]>> = {
  email: ['Email Drafted', 'Email Attempted', 'Email Deferred', 'Email Sent', 'Email Delivered', 'Email Opened', 'Email Link Clicked',
    'Email Converted', 'Email Unsubscribed', 'Email Bounced', 'Email Suppressed', 'Email Marked as Spam', 'Email Failed'],
  push: ['Push Drafted', 'Push Attempted', 'Push Sent', 'Push Delivered', 'Push Opened', 'Push Link Clicked', 'Push Converted',
    'Push Bounced', 'Push Suppressed', 'Push Failed'],
  sms: ['SMS Drafted', 'SMS Attempted', 'SMS Sent', 'SMS Delivered', 'SMS Link Clicked', 'SMS Converted', 'SMS Bounced', 'SMS Failed'],
  in_app: ['In-App Drafted', 'In-App Attempted', 'In-App Sent', 'In-App Opened', 'In-App Clicked', 'In-App Converted', 'In-App Failed'],
  webhook: ['Webhook Drafted', 'Webhook Attempted', 'Webhook Sent', 'Webhook Link Clicked', 'Webhook Converted', 'Webhook Failed']
}
