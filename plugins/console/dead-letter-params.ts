/**
 * The dead letters pages' parameters: a filter read from a query string or a form and written back
 * into links and hidden fields, the page asked for, and the notice shown after an action.
 */
import type { DeadLetterFilter } from '../queue/dead-letter-book.js'

/** Query and form field names of a filter. */
export const FILTER_FIELDS = ['error', 'source', 'object_type', 'metric', 'event_id', 'from', 'to'] as const
export type FilterField = typeof FILTER_FIELDS[number]
export type FilterParams = Partial<Record<FilterField, string>>

export const PAGE_SIZES = [50, 100, 500] as const
export const DEFAULT_PAGE_SIZE = 100

export interface ParsedFilter {
  readonly filter: DeadLetterFilter
  /** The fields as given (for the form and links), without the empty ones. */
  readonly params: FilterParams
  /** Fields that did not read (times): named on the page, left out of the filter. */
  readonly problems: readonly string[]
}

export function parseFilter (input: Readonly<Record<string, unknown>>): ParsedFilter {
  const params: FilterParams = {}
  for (const field of FILTER_FIELDS) {
    const value = input[field]
    if (typeof value === 'string' && value.trim() !== '') params[field] = field === 'error' ? value : value.trim()
  }
  const problems: string[] = []
  const timeOf = (field: 'from' | 'to'): number | undefined => {
    const text = params[field]
    if (text === undefined) return undefined
    const ms = parseTime(text)
    if (ms === undefined) problems.push(`${field}: '${text}' is not a time (use 2026-01-31T23:59, UTC)`)
    return ms
  }
  const filter: DeadLetterFilter = {
    error: params.error,
    source: params.source,
    objectType: params.object_type,
    metric: params.metric,
    eventId: params.event_id,
    failedFrom: timeOf('from'),
    failedTo: timeOf('to')
  }
  return { filter: withoutUndefined(filter), params, problems }
}

/** A `datetime-local` value (read as UTC) or an ISO time; undefined when it is neither. */
function parseTime (text: string): number | undefined {
  const local = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,3})?)?$/.test(text)
  const ms = Date.parse(local ? `${text}Z` : text)
  return Number.isFinite(ms) && /^[0-9]{4}-/.test(text) ? ms : undefined
}

function withoutUndefined (filter: DeadLetterFilter): DeadLetterFilter {
  return Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined)) as DeadLetterFilter
}

export function describeFilter (params: FilterParams): string {
  const parts = FILTER_FIELDS.filter((field) => params[field] !== undefined).map((field) => `${field.replace('_', ' ')} ${JSON.stringify(params[field])}`)
  return parts.length === 0 ? 'every dead letter of the sink' : parts.join(', ')
}

export interface Paging { readonly page: number, readonly size: number }

export function parsePaging (input: Readonly<Record<string, unknown>>): Paging {
  const size = Number(input.per_page)
  const page = Number(input.page)
  return {
    size: (PAGE_SIZES as readonly number[]).includes(size) ? size : DEFAULT_PAGE_SIZE,
    page: Number.isSafeInteger(page) && page >= 1 ? page : 1
  }
}

/** The references an action names: one (`ref`) or many (repeated `ref` fields). */
export function refsOf (value: unknown): string[] {
  const values = Array.isArray(value) ? value : [value]
  return values.filter((ref): ref is string => typeof ref === 'string' && ref !== '').slice(0, 10_000)
}

export type Action = 'retry' | 'discard'

export function actionOf (value: unknown): Action | undefined {
  return value === 'retry' || value === 'discard' ? value : undefined
}

/** What an action did, carried by the redirect to the list (numbers only: nothing a link could inject). */
export interface Notice { readonly action: Action, readonly done: number, readonly expected: number | undefined }

export function noticeOf (input: Readonly<Record<string, unknown>>): Notice | undefined {
  const action = actionOf(input.done_action)
  const done = Number(input.done)
  const expected = input.expected === undefined ? undefined : Number(input.expected)
  if (action === undefined || !Number.isSafeInteger(done) || (expected !== undefined && !Number.isSafeInteger(expected))) return undefined
  return { action, done, expected }
}
