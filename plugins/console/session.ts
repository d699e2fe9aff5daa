/**
 * Who may use the console (SPEC §12), without any server-side state, so every replica behind a
 * Service accepts what another issued:
 *   - the session cookie holds an expiry and an HMAC of it keyed with `admin.token`: rotating the
 *     token (a config reload) logs everyone out, and nothing else needs revoking;
 *   - the CSRF token of a session is an HMAC of the session cookie (a synchronizer token derived
 *     from the session, checked on every POST); the login form's is an HMAC of its own expiry;
 *   - every POST must also come from the console's own origin (Origin, else Sec-Fetch-Site, else
 *     Referer): a cross-site form is refused even before its token is looked at.
 * Comparisons are of SHA-256 digests in constant time. @fastify/csrf-protection would add a second
 * cookie holding a secret for what an HMAC of the session already gives; @fastify/cookie sets the
 * cookie.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { fastifyCookie } from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'

export const SESSION_COOKIE = 'cio_gateway_session'
/** The cookie's path: the console and the admin API's read-only endpoints. */
export const COOKIE_PATH = '/admin'
export const SESSION_MS = 12 * 3_600_000
const LOGIN_FORM_MS = 3_600_000

export function sameSecret (given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest())
}

function mac (token: string, purpose: string, value: string): string {
  return createHmac('sha256', token).update(`${purpose}\n${value}`).digest('base64url')
}

/** `<expiry ms>.<mac>`: valid until the expiry, for this token only. */
function stamped (token: string, purpose: string, expiresAt: number): string {
  return `${expiresAt}.${mac(token, purpose, String(expiresAt))}`
}

function validStamp (value: string | undefined, token: string, purpose: string, now: number): boolean {
  if (value === undefined) return false
  const match = /^([0-9]{1,15})\.([A-Za-z0-9_-]{43})$/.exec(value)
  if (match === null || Number(match[1]) <= now) return false
  return sameSecret(match[2] as string, mac(token, purpose, match[1] as string))
}

export function newSession (token: string, now: number): string {
  return stamped(token, 'session', now + SESSION_MS)
}

/**
 * The session cookie of a request, when it is valid for `token` now. Reads the header itself: the
 * admin API asks too, and its context has no @fastify/cookie.
 */
export function sessionOf (request: FastifyRequest, token: string, now = Date.now()): string | undefined {
  const header = request.headers.cookie
  if (token === '' || header === undefined) return undefined
  const value = fastifyCookie.parse(header)[SESSION_COOKIE]
  return validStamp(value, token, 'session', now) ? value : undefined
}

/** Needs @fastify/cookie on the instance. */
export function setSessionCookie (request: FastifyRequest, reply: FastifyReply, value: string): void {
  reply.setCookie(SESSION_COOKIE, value, { maxAge: SESSION_MS / 1000, ...COOKIE_FLAGS, secure: overTls(request) })
}

export function clearSessionCookie (request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { ...COOKIE_FLAGS, secure: overTls(request) })
}

/**
 * Whether the browser reached the console over TLS: the gateway's own socket, or a proxy in front
 * that says so (`X-Forwarded-Proto: https`, as ingress controllers do). Believing the header
 * without trusting the proxy is safe here: a false `https` only makes the cookie `Secure`, which
 * can lock out the one who forged it and no one else.
 */
function overTls (request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto']
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim()
  return request.protocol === 'https' || first === 'https'
}

const COOKIE_FLAGS = { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict' } as const

export function csrfToken (token: string, session: string): string {
  return mac(token, 'csrf', session)
}

export function validCsrf (given: unknown, token: string, session: string): boolean {
  return typeof given === 'string' && sameSecret(given, csrfToken(token, session))
}

export function loginFormToken (token: string, now: number): string {
  return stamped(token, 'login', now + LOGIN_FORM_MS)
}

export function validLoginFormToken (given: unknown, token: string, now: number): boolean {
  return typeof given === 'string' && validStamp(given, token, 'login', now)
}

/** Whether a state-changing request comes from the console's own origin (the host it was sent to). */
export function sameOrigin (request: FastifyRequest): boolean {
  const host = request.headers.host
  const origin = request.headers.origin
  if (host === undefined) return false
  if (origin !== undefined && origin !== 'null') return hostOf(origin) === host
  const site = request.headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin'
  const referer = request.headers.referer
  return referer !== undefined && hostOf(referer) === host
}

function hostOf (url: string): string | undefined {
  try {
    return new URL(url).host
  } catch {
    return undefined
  }
}
