/**
 * The console's only script, served as /admin/ui/assets/console.js (the CSP allows no inline
 * script). Written here so it is type-checked; it is sent as this function's source, so it must
 * stay self-contained (no imports, nothing from this module's scope). Everything it adds to a page
 * from an event goes in through textContent, never as HTML. Pages work without it: it refreshes
 * the overview in place, ticks every box of a page, and follows the live tail's stream.
 */
export function consoleScript (): void {
  const refreshMs = Number(document.body.dataset.refresh ?? '0')
  if (refreshMs > 0) {
    const refresh = async (): Promise<void> => {
      if (document.hidden) return
      try {
        const response = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } })
        // Logged out meanwhile (a rotated token, an expired session): the page itself goes to the login.
        if (response.redirected || response.status === 401) {
          location.reload()
          return
        }
        if (!response.ok) return
        const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('content')
        const current = document.getElementById('content')
        if (fresh !== null && current !== null) current.replaceWith(fresh)
      } catch {
        // The gateway may be restarting: the next tick tries again.
      }
    }
    setInterval(() => { void refresh() }, refreshMs)
  }

  for (const all of document.querySelectorAll<HTMLInputElement>('input.select-all')) {
    all.addEventListener('change', () => {
      for (const box of document.querySelectorAll<HTMLInputElement>('input[type="checkbox"][name="ref"]')) box.checked = all.checked
    })
  }

  const table = document.querySelector<HTMLTableElement>('table[data-stream]')
  const rows = table?.tBodies[0]
  const status = document.querySelector<HTMLElement>('[data-tail-status]')
  if (table === null || rows === undefined || status === null) return
  const shown = 500
  const utc = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace(/\.[0-9]+Z$/, ' UTC')
  const stream = new EventSource(table.dataset.stream ?? '')
  stream.addEventListener('open', () => {
    // The stream starts with the events kept, which the page showed already.
    rows.replaceChildren()
    status.textContent = 'Following: new events appear at the top.'
  })
  stream.addEventListener('error', () => { status.textContent = 'Disconnected: reconnecting…' })
  stream.addEventListener('skipped', (message) => {
    status.textContent = `${(message as MessageEvent<string>).data} events were skipped: this browser could not keep up.`
  })
  stream.addEventListener('tail', (message) => {
    const entry = JSON.parse((message as MessageEvent<string>).data) as {
      receivedAt: number, source: string, eventId: string, objectType: string, metric: string, sinks: string[], json: string
    }
    const row = rows.insertRow(0)
    const cell = (text: string): HTMLTableCellElement => {
      const td = row.insertCell()
      td.textContent = text
      return td
    }
    cell(utc(entry.receivedAt))
    cell(entry.source)
    cell(entry.eventId).className = 'id'
    cell(`${entry.objectType} / ${entry.metric}`)
    cell(entry.sinks.join(', '))
    const details = document.createElement('details')
    const summary = document.createElement('summary')
    summary.textContent = 'JSON'
    const pre = document.createElement('pre')
    pre.className = 'event'
    pre.textContent = JSON.stringify(JSON.parse(entry.json), null, 2)
    details.append(summary, pre)
    row.insertCell().append(details)
    while (rows.rows.length > shown) rows.deleteRow(-1)
  })
}
