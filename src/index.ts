/** The public API for users' own code: event types, and the pieces to embed the gateway. */
export * from './events.js'
export { buildApp, type AppOptions, type Role } from './app.js'
export { loadConfigFile, parseConfig, ConfigError } from './config/load.js'
export type { GatewayConfig } from './config/types.js'
export { PermanentSinkError, RetryableSinkError, SinkError } from './errors.js'
export type { Sink, DeliveryEvent, BatchOutcome } from './sinks/contract.js'
