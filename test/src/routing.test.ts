/** The routing table (SPEC §4): strings, lists, "*", dotted paths, the union of routes, stop. */
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { RoutingTable } from '../../src/routing.js'
import type { RoutableEvent } from '../../src/events.js'

function table (routes: string): RoutingTable {
  const yaml = `sources:
  customerio: { type: customerio, secrets: [k] }
  other: { type: customerio, secrets: [k] }
sinks:
  a: { type: file, path: a }
  b: { type: file, path: b }
  c: { type: file, path: c }
routes:
${routes}`
  return new RoutingTable(parseConfig(yaml, 'routes.yaml', {}).routes)
}

const email = (metric: string, data: Record<string, unknown> = {}): RoutableEvent => ({ event_id: 'E', object_type: 'email', metric, timestamp: 1, data })

t.test('a string, a list (any of), and "*"', async (t) => {
  const routing = table(`  - { name: one, match: { metric: bounced }, sinks: [a] }
  - { name: any-of, match: { metric: [opened, clicked] }, sinks: [b] }
  - { name: present, match: { data.delivery_id: "*" }, sinks: [c] }`)
  t.same(routing.sinksFor('customerio', email('bounced')), ['a'])
  t.same(routing.sinksFor('customerio', email('clicked')), ['b'])
  t.same(routing.sinksFor('customerio', email('sent')), [])
  t.same(routing.sinksFor('customerio', email('sent', { delivery_id: 'x' })), ['c'])
  t.same(routing.sinksFor('customerio', email('sent', { delivery_id: null })), [], 'null is not present')
})

t.test('every matching route adds its sinks, each once, in order', async (t) => {
  const routing = table(`  - { name: first, match: { object_type: email }, sinks: [b, a] }
  - { name: second, match: {}, sinks: [a, c] }`)
  t.same(routing.sinksFor('customerio', email('sent')), ['b', 'a', 'c'])
  t.same(routing.sinksFor('customerio', { object_type: 'sms', metric: 'sent' }), ['a', 'c'])
})

t.test('stop ends the walk for a matching event only', async (t) => {
  const routing = table(`  - { name: bounces, match: { metric: bounced }, sinks: [a], stop: true }
  - { name: everything, match: {}, sinks: [b] }`)
  t.same(routing.sinksFor('customerio', email('bounced')), ['a'])
  t.same(routing.sinksFor('customerio', email('opened')), ['b'])
})

t.test('source and dotted paths; numbers compare as strings; arrays match any element', async (t) => {
  const routing = table(`  - { name: by-source, match: { source: other }, sinks: [a] }
  - { name: campaign, match: { data.campaign_id: "5" }, sinks: [b] }
  - { name: tagged, match: { data.campaign_tags: trial }, sinks: [c] }`)
  t.same(routing.sinksFor('other', email('sent')), ['a'])
  t.same(routing.sinksFor('customerio', email('sent', { campaign_id: 5 })), ['b'])
  t.same(routing.sinksFor('customerio', email('sent', { campaign_id: 6 })), [])
  t.same(routing.sinksFor('customerio', email('sent', { campaign_tags: ['vip', 'trial'] })), ['c'])
  t.same(routing.sinksFor('customerio', { object_type: 'email', metric: 'sent', data: 'not an object' }), [], 'a path through a non-object does not match')
})

t.test('unknown object types and metrics route like any other value', async (t) => {
  const routing = table(`  - { name: everything, match: { object_type: "*" }, sinks: [a] }`)
  t.same(routing.sinksFor('customerio', { object_type: 'hologram', metric: 'beamed' }), ['a'])
})

t.test('routing fields of another source type: object_type and metric from the fields, dotted paths from the event', async (t) => {
  const routing = table(`  - { name: deliveries, match: { metric: [delivered, "Email Delivered"] }, sinks: [a] }
  - { name: tracks, match: { object_type: track, properties.campaign_id: "5" }, sinks: [b] }
  - { name: identifies, match: { object_type: identify }, sinks: [c] }`)
  const track = { type: 'track', event: 'Email Delivered', properties: { campaign_id: 5 } }
  t.same(routing.sinksFor('pipelines', track, { object_type: 'track', metric: 'Email Delivered' }), ['a', 'b'])
  t.same(routing.sinksFor('pipelines', { ...track, properties: { campaign_id: 6 } }, { object_type: 'track', metric: 'Email Delivered' }), ['a'])
  t.same(routing.sinksFor('pipelines', { type: 'identify', traits: {} }, { object_type: 'identify', metric: 'identify' }), ['c'])
  t.same(routing.sinksFor('pipelines', { object_type: 'identify', metric: 'delivered', type: 'page' }, { object_type: 'page', metric: 'page' }), [],
    'the fields decide, not same-named keys of the event')
})
