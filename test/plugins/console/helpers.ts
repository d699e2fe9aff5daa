/**
 * A browser-like client of the console for `inject` tests: it logs in with the admin token through
 * the login form, keeps the session cookie, reads each page's CSRF token, and sends forms from the
 * console's own origin.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { defaultYaml, type Built } from '../../helpers/app.js'

/** 32 characters or more, as SPEC §3 asks of an admin token. */
export const TOKEN = 'console-test-admin-token-0123456789abcdef'
export const HOST = '127.0.0.1:8081'
export const ORIGIN = `http://${HOST}`

export function consoleYaml (options: Parameters<typeof defaultYaml>[0], token = TOKEN): string {
  return `\nadmin: { token: "${token}" }\n${defaultYaml(options)}`
}

/** The listener that serves /admin (SPEC §3: the management listener). */
export function consoleOf (built: Built): FastifyInstance {
  return built.management
}

type Form = Record<string, string | readonly string[] | undefined>

export function formBody (form: Form): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(form)) {
    if (value === undefined) continue
    for (const item of typeof value === 'string' ? [value] : value) params.append(key, item)
  }
  return params.toString()
}

/** The value of the first hidden field `name` in a page. */
export function fieldValue (page: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(page)
  if (match === null) throw new Error(`no field ${name} in the page`)
  return (match[1] as string).replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>')
}

export class ConsoleClient {
  constructor (readonly app: FastifyInstance, readonly cookie: string, readonly csrf: string) {}

  static async logIn (app: FastifyInstance, token = TOKEN): Promise<ConsoleClient> {
    const form = await app.inject({ method: 'GET', url: '/admin/ui/login', headers: { host: HOST, accept: 'text/html' } })
    const response = await app.inject({
      method: 'POST',
      url: '/admin/ui/login',
      headers: { host: HOST, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody({ _csrf: fieldValue(form.body, '_csrf'), token, next: '/admin/ui' })
    })
    if (response.statusCode !== 303) throw new Error(`login answered ${response.statusCode}: ${response.body}`)
    const cookie = String(response.headers['set-cookie']).split(';')[0] as string
    const overview = await app.inject({ method: 'GET', url: '/admin/ui', headers: { host: HOST, accept: 'text/html', cookie } })
    return new ConsoleClient(app, cookie, fieldValue(overview.body, '_csrf'))
  }

  async get (url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return await this.app.inject({ method: 'GET', url, headers: { host: HOST, accept: 'text/html', cookie: this.cookie, ...headers } })
  }

  /** A form POST from the console's origin, with this session's CSRF token unless the form sets `_csrf`. */
  async post (url: string, form: Form, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return await this.app.inject({
      method: 'POST',
      url,
      headers: { host: HOST, origin: ORIGIN, cookie: this.cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: formBody({ _csrf: this.csrf, ...form })
    })
  }
}
