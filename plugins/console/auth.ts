/**
 * The console's gate (SPEC §12): off (404) without `admin.token`; pages need a session (a login
 * page otherwise); every POST must come from the console's origin and carry its CSRF token; every
 * answer carries a strict CSP, no framing and no caching; a failure is a page saying what failed.
 * Also the login and logout routes.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GatewayConfig } from '../../src/config/types.js'
import type { LogThrottle } from '../../src/log-throttle.js'
import { ERROR_CODES } from '../../src/errors.js'
import { html } from './html.js'
import { UI, page } from './layout.js'
import {
  clearSessionCookie, csrfToken, loginFormToken, newSession, sameOrigin, sameSecret, sessionOf, setSessionCookie, validCsrf, validLoginFormToken
} from './session.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session of the request, when it has a valid one. */
    consoleSession: string | undefined
  }
  interface FastifyContextConfig {
    /** A console route open without a session (login, assets). */
    consolePublic?: boolean
  }
}

/** On every console answer (streams set them themselves). */
export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin'
} as const

/** Where a login may send the browser back to: console pages only, never another site. */
const NEXT = /^\/admin\/ui(?:[/?][^\\\s]*)?$/

export function guardConsole (app: FastifyInstance, current: () => GatewayConfig, throttle: LogThrottle): void {
  app.decorateRequest('consoleSession', undefined)

  app.addHook('onRequest', async (request, reply) => {
    const token = current().admin.token
    if (token === '') return await reply.code(404).send({ error: ERROR_CODES.notFound })
    request.consoleSession = sessionOf(request, token)
    if (request.consoleSession !== undefined || request.routeOptions.config.consolePublic === true) return
    if (request.method === 'GET' && request.headers.accept?.includes('text/html') === true) {
      return await reply.redirect(`${UI}/login?next=${encodeURIComponent(request.url)}`, 303)
    }
    return await reply.code(401).send({ error: ERROR_CODES.unauthorized, message: 'log in to the console first' })
  })

  // After the body is parsed: the CSRF token is a form field.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return
    const token = current().admin.token
    const given = (request.body as Record<string, unknown> | undefined)?._csrf
    const session = request.consoleSession
    const why = !sameOrigin(request)
      ? 'it did not come from the console\'s own origin'
      : !(session === undefined ? validLoginFormToken(given, token, Date.now()) : validCsrf(given, token, session))
          ? 'its form token is missing, expired or not this session\'s'
          : undefined
    if (why === undefined) return
    const { ip, url } = request
    const origin = request.headers.origin
    throttle.write(`console:403:${why}`, (count) => request.log.warn({ ip, url, origin, count }, `console: POST refused (403): ${why}`))
    return await reply.code(403).type('text/html; charset=utf-8').send(page({
      title: 'Refused',
      body: html`<h1>Refused</h1><p>This request was refused: ${why}. Reload the console page and try again.</p><p><a href="${UI}">Back to the console</a></p>`
    }).text)
  })

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.headers(SECURITY_HEADERS)
    return payload
  })

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) request.log.error({ error: error.message, url: request.url }, 'console: page failed')
    return await reply.code(status).type('text/html; charset=utf-8').send(page({
      title: 'Not shown',
      body: html`<h1>This page could not be shown</h1><p><code>${error.message}</code></p>
<p>${status >= 500 ? 'Most often the queue (Redis) is not answering; /readyz says so too. Reload once it is back.' : 'Go back and try again.'}</p><p><a href="${UI}">Overview</a></p>`
    }).text)
  })
}

export async function authRoutes (app: FastifyInstance, { current, throttle }: { current: () => GatewayConfig, throttle: LogThrottle }): Promise<void> {
  app.get<{ Querystring: { next?: string } }>(`${UI}/login`, { config: { consolePublic: true } }, async (request, reply) => {
    const next = safeNext(request.query.next)
    if (request.consoleSession !== undefined) return await reply.redirect(next, 303)
    return await sendLogin(reply, current().admin.token, next, undefined)
  })

  app.post<{ Body: { token?: unknown, next?: unknown } }>(`${UI}/login`, { config: { consolePublic: true } }, async (request, reply) => {
    const token = current().admin.token
    const next = safeNext(request.body.next)
    if (typeof request.body.token !== 'string' || !sameSecret(request.body.token, token)) {
      const ip = request.ip
      throttle.write('console:login', (count) => request.log.warn({ ip, count }, 'console: login refused (401): wrong admin token'))
      return await sendLogin(reply.code(401), token, next, 'That is not the admin token.')
    }
    setSessionCookie(request, reply, newSession(token, Date.now()))
    request.log.info({ ip: request.ip }, 'console: logged in')
    return await reply.redirect(next, 303)
  })

  app.post(`${UI}/logout`, async (request, reply) => {
    clearSessionCookie(request, reply)
    request.log.info({ ip: request.ip }, 'console: logged out')
    return await reply.redirect(`${UI}/login`, 303)
  })
}

/** The CSRF token for the forms of a page served to a logged-in request. */
export function csrfOf (request: FastifyRequest, token: string): string {
  return csrfToken(token, request.consoleSession as string)
}

/** `next` when it is a console URL (never another site's), else `fallback`. */
export function safeNext (next: unknown, fallback = UI): string {
  return typeof next === 'string' && NEXT.test(next) ? next : fallback
}

async function sendLogin (reply: FastifyReply, token: string, next: string, error: string | undefined): Promise<FastifyReply> {
  return await reply.type('text/html; charset=utf-8').send(page({
    title: 'Log in',
    body: html`<section class="login">
<h1>Log in</h1>
<p>The console of this gateway. Log in with its admin token (<code>admin.token</code> in routes.yaml).</p>
${error === undefined ? '' : html`<p class="banner error" role="alert">${error}</p>`}
<form method="post" action="${UI}/login">
<input type="hidden" name="_csrf" value="${loginFormToken(token, Date.now())}">
<input type="hidden" name="next" value="${next}">
<label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>
</section>`
  }).text)
}
