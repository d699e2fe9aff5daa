/**
 * The exact text of each member of a batch, cut out of the body. Each event is stored and handed to
 * the sinks as Customer.io sent it (numbers such as 1.0 or 2^60, escapes such as \u00e9 and key
 * order stay as they were, which JSON.stringify of the parsed member would change), and an event
 * without a messageId is deduped on the SHA-256 of those bytes, the same in every resend.
 *
 * The body has already parsed as JSON, so the scan only has to find where each top-level element
 * starts and ends: it skips strings with indexOf (most of an event's bytes) and counts brackets
 * outside them. When the cut does not give as many members as JSON.parse found (which valid JSON
 * never should), the caller falls back to JSON.stringify.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d

function isSpace (c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** Index of the quote that closes the string opened at `open`, or -1. */
function stringEnd (text: string, open: number): number {
  let quote = text.indexOf('"', open + 1)
  while (quote !== -1) {
    let backslashes = 0
    for (let i = quote - 1; text.charCodeAt(i) === BACKSLASH; i--) backslashes++
    if (backslashes % 2 === 0) return quote
    quote = text.indexOf('"', quote + 1)
  }
  return -1
}

interface Elements {
  /** [start, end) of each element, without surrounding whitespace. */
  readonly spans: [number, number][]
  /** Index of the closing bracket. */
  readonly close: number
}

/** The elements of the array whose `[` is at `open`. */
function elementsOf (text: string, open: number): Elements | undefined {
  const spans: [number, number][] = []
  let depth = 0
  let start = -1
  let end = -1
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (isSpace(c)) continue
    if (depth === 0) {
      if (c === COMMA) {
        spans.push([start, end])
        start = -1
        continue
      }
      if (c === CLOSE_ARRAY) {
        if (start !== -1) spans.push([start, end])
        return { spans, close: i }
      }
      if (start === -1) start = i
    }
    if (c === QUOTE) {
      i = stringEnd(text, i)
      if (i === -1) return undefined
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--
    }
    end = i + 1
  }
  return undefined
}

function firstNonSpace (text: string): number {
  let i = 0
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return i
}

/** The elements of the array under the last top-level key `batch` of the object at `open` (JSON.parse keeps the last of repeated keys). */
function batchElementsOf (text: string, open: number): Elements | undefined {
  let found: Elements | undefined
  let depth = 0
  let expectingKey = true
  let keyIsBatch = false
  let valueNext = false
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (isSpace(c)) continue
    if (depth === 0) {
      if (c === CLOSE_OBJECT) return found
      if (c === COMMA) {
        expectingKey = true
        continue
      }
      if (c === COLON) {
        valueNext = true
        continue
      }
      if (expectingKey && c === QUOTE) {
        const close = stringEnd(text, i)
        if (close === -1) return undefined
        const key = text.slice(i + 1, close)
        keyIsBatch = key === 'batch' || (key.includes('\\') && JSON.parse(`"${key}"`) === 'batch')
        expectingKey = false
        i = close
        continue
      }
      if (valueNext) {
        valueNext = false
        if (keyIsBatch && c === OPEN_ARRAY) {
          found = elementsOf(text, i)
          if (found === undefined) return undefined
          i = found.close
          continue
        }
      }
    }
    if (c === QUOTE) {
      i = stringEnd(text, i)
      if (i === -1) return undefined
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--
    }
  }
  return undefined
}

/**
 * The text of each of `count` members of the batch in `text`: the top-level array, or the array
 * under the top-level object's `batch` key (`wrapped`). Undefined when the cut does not match.
 */
export function memberTexts (text: string, count: number, wrapped: boolean): string[] | undefined {
  const open = firstNonSpace(text)
  const elements = wrapped ? batchElementsOf(text, open) : elementsOf(text, open)
  if (elements === undefined || elements.spans.length !== count) return undefined
  return elements.spans.map(([start, end]) => text.slice(start, end))
}
