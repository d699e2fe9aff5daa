/** The console's page shell and the small formats every page shares. */
import { html, type Html } from './html.js'

export const UI = '/admin/ui'

export interface PageOptions {
  readonly title: string
  /** The CSRF token of the session; absent on the login page. */
  readonly csrf?: string
  /** Which entry of the navigation is this page. */
  readonly section?: 'overview' | 'dead-letters' | 'tail'
  /** Shown in a banner on every page (the embedded queue's warning). */
  readonly warning?: string
  /** The overview: its script refreshes it every few seconds (a meta refresh without JavaScript). */
  readonly refresh?: boolean
  readonly body: Html
}

export function page (options: PageOptions): Html {
  const link = (section: PageOptions['section'], href: string, label: string): Html =>
    html`<a href="${href}"${options.section === section ? html` aria-current="page"` : ''}>${label}</a>`
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · cio-gateway</title>
<link rel="icon" href="${UI}/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${UI}/assets/console.css">
<script src="${UI}/assets/console.js" defer></script>
${options.refresh === true ? html`<noscript><meta http-equiv="refresh" content="10"></noscript>` : ''}
</head>
<body${options.refresh === true ? html` data-refresh="5000"` : ''}>
<header>
<span class="brand">cio-gateway</span>
${options.csrf === undefined
  ? ''
  : html`<nav>${link('overview', UI, 'Overview')}${link('dead-letters', `${UI}/dead-letters`, 'Dead letters')}${link('tail', `${UI}/tail`, 'Live tail')}</nav>
<form method="post" action="${UI}/logout" class="logout"><input type="hidden" name="_csrf" value="${options.csrf}"><button type="submit">Log out</button></form>`}
</header>
${options.warning === undefined ? '' : html`<p class="banner warning" role="alert">${options.warning}</p>`}
<main id="content">
${options.body}
</main>
</body>
</html>
`
}

/** `2026-01-31 23:59:59 UTC`; a dash for no time. */
export function time (ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–'
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.[0-9]+Z$/, ' UTC')
}

/** A duration as an on-call engineer reads it: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`. */
export function duration (ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000))
  if (seconds < 90) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 90) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`
  return `${Math.floor(hours / 24)} d ${hours % 24} h`
}

export function count (value: number): string {
  return value.toLocaleString('en-US')
}

export function plural (value: number, one: string, many = `${one}s`): string {
  return `${count(value)} ${value === 1 ? one : many}`
}
