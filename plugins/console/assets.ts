/**
 * The console's static files, held in memory: the style sheet and icon below and the script of
 * browser.ts. As modules rather than files on disk they are in the build output, the Docker image
 * and a Deno run without a copy step, and nothing is read from the file system at run time.
 */
import type { FastifyInstance } from 'fastify'
import { consoleScript } from './browser.js'
import { UI } from './layout.js'

const CSS = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #d8dce4; --bg: #f6f7f9; --ok: #17733b; --bad: #b42318; --warn: #9a5b00; --link: #1f5fbf; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header a { color: #dfe6f3; text-decoration: none; margin-right: 1rem; }
header a[aria-current="page"] { color: #fff; font-weight: 600; border-bottom: 2px solid #8fb3ff; }
header .brand { font-weight: 700; letter-spacing: .02em; }
header .logout { margin-left: auto; }
main { padding: 1rem 1.2rem 3rem; max-width: 1500px; }
h1 { font-size: 1.35rem; margin: .3rem 0 1rem; }
h1 small { color: var(--muted); font-weight: 400; font-size: .9rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
a { color: var(--link); }
code, .id, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em; }
.id { overflow-wrap: anywhere; }
td.time { white-space: nowrap; }
table button { white-space: nowrap; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); width: 100%; }
th, td { text-align: left; padding: .35rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef0f4; font-weight: 600; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { background: #eef4ff; }
tr.bad td, td.bad, .bad { color: var(--bad); }
td.warn { color: var(--warn); font-weight: 600; }
.error-text { word-break: break-word; max-width: 42rem; }
dl.status { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; background: #fff; border: 1px solid var(--line); padding: .7rem 1rem; }
dl.status dt { color: var(--muted); }
dl.status dd { margin: 0; }
ul.errors { margin: .3rem 0 0; padding-left: 1.2rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .6rem; font-size: .85em; border: 1px solid currentColor; }
.badge.ok { color: var(--ok); }
.badge.bad { color: var(--bad); }
.badge.warn { color: var(--warn); }
.banner { padding: .55rem .8rem; border-radius: 4px; border: 1px solid; margin: .6rem 0; }
.banner.warning { background: #fff7e6; border-color: #f0c36d; color: #5c3b00; }
.banner.error { background: #fdecea; border-color: #f1a9a0; color: var(--bad); }
.banner.ok { background: #e9f7ef; border-color: #9fd5b4; color: var(--ok); }
body > .banner { margin: 0; border-radius: 0; border-width: 0 0 1px; padding-left: 1.2rem; }
.hint { color: var(--muted); }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: .4rem 0 .8rem; }
form.filters label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); }
form.filters select { max-width: 24rem; }
input, select, button, .button { font: inherit; }
input, select { padding: .25rem .35rem; border: 1px solid #b9c0cc; border-radius: 3px; background: #fff; color: var(--fg); }
button, .button { padding: .3rem .75rem; border: 1px solid #8a94a6; border-radius: 3px; background: #fff; color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
button:hover, .button:hover { background: #eef0f4; }
.danger { border-color: var(--bad); color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .6rem 0; }
.actions form { margin: 0; }
nav.sinks { display: flex; flex-wrap: wrap; gap: .4rem; margin-bottom: .6rem; }
nav.sinks a { padding: .1rem .5rem; border: 1px solid var(--line); border-radius: 3px; background: #fff; text-decoration: none; }
nav.sinks a[aria-current="page"] { border-color: var(--link); font-weight: 600; }
nav.pages { margin: .8rem 0; display: flex; gap: 1rem; }
pre.event { background: #fff; border: 1px solid var(--line); padding: .8rem; overflow: auto; max-height: 36rem; white-space: pre-wrap; word-break: break-word; margin: .3rem 0; }
svg.spark rect { fill: #5b8def; }
section.login { max-width: 28rem; margin: 3rem auto; background: #fff; border: 1px solid var(--line); padding: 1.2rem 1.5rem; }
section.login label { display: flex; flex-direction: column; gap: .3rem; margin: 1rem 0; }
ul.chosen { columns: 2; }
`

/** Without an icon of its own, a browser asks for /favicon.ico, which is no console path. */
const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M4 11V5h3v6zm5 0V3h3v8z" fill="#8fb3ff"/></svg>'

export async function assetRoutes (app: FastifyInstance): Promise<void> {
  const script = `'use strict';\n(${consoleScript.toString()})()\n`
  app.get(`${UI}/assets/console.css`, { config: { consolePublic: true } }, async (_request, reply) => await reply.type('text/css; charset=utf-8').send(CSS))
  app.get(`${UI}/assets/favicon.svg`, { config: { consolePublic: true } }, async (_request, reply) => await reply.type('image/svg+xml').send(ICON))
  app.get(`${UI}/assets/console.js`, { config: { consolePublic: true } }, async (_request, reply) => await reply.type('text/javascript; charset=utf-8').send(script))
}
