/**
 * The console's HTML templates: a tagged template that escapes every value put into it, so an
 * event's `<script>` or `"><img onerror=…>` is shown as text wherever it lands (element or quoted
 * attribute). Only `Html` values (what `html` itself returns) go in unescaped; arrays are joined;
 * undefined, null and false render as nothing.
 *
 * Templates quote every attribute with double quotes, and put values only into text, attribute
 * values and URLs the console builds itself (`href="/admin/ui/…?${query}"`): never into a tag
 * name, an event handler, a style or a script.
 */
export class Html {
  constructor (readonly text: string) {}

  toString (): string {
    return this.text
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character] as string)
}

export function html (strings: TemplateStringsArray, ...values: unknown[]): Html {
  let text = strings[0] as string
  values.forEach((value, index) => {
    text += render(value) + (strings[index + 1] as string)
  })
  return new Html(text)
}

function render (value: unknown): string {
  if (value instanceof Html) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === undefined || value === null || value === false) return ''
  return escapeHtml(String(value))
}

/** A query string for a console link, from the entries that have a value. */
export function query (params: Readonly<Record<string, string | number | undefined>>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(key, String(value))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}
