/** The logger type every component takes: Fastify's (pino underneath), so app.log and its children fit. */
export type { FastifyBaseLogger as Logger } from 'fastify'
