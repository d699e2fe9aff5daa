/**
 * BigQuery's answers turned into the runtime's verdicts. Two kinds of failure come back from
 * insertAll: the whole request failed (an HTTP error, no answer at all), or it succeeded with
 * `insertErrors` naming rows by their index in the request. Only an invalid row is final; a row
 * `stopped` because of another one, and every request-level error but 400/413, is retried.
 */
import { PermanentSinkError, RetryableSinkError, type SinkError } from '../../../src/errors.js'
import { statusError, transportErrorType } from '../common/http-errors.js'

export interface InsertError {
  readonly index: number
  readonly errors?: readonly { reason?: string, message?: string, location?: string }[]
}

/** Bounded labels for the reasons insertAll gives per row. */
const ROW_REASON_LABELS: Readonly<Record<string, string>> = {
  invalid: 'invalid_row',
  stopped: 'stopped',
  timeout: 'timeout',
  backendError: 'backend_error',
  internalError: 'internal_error'
}

/** The error of one row of an insertErrors answer. */
export function rowError (insertError: InsertError): SinkError {
  const errors = insertError.errors ?? []
  const invalid = errors.find((error) => error.reason === 'invalid')
  const main = invalid ?? errors.find((error) => error.reason !== 'stopped') ?? errors[0]
  const reason = main?.reason ?? 'unknown'
  const where = main?.location === undefined || main.location === '' ? '' : ` at ${main.location}`
  const message = `insertAll rejected the row (${reason}${where}): ${main?.message ?? 'no message'}`
  if (invalid !== undefined) return new PermanentSinkError(message, 'invalid_row')
  return new RetryableSinkError(message, ROW_REASON_LABELS[reason] ?? 'insert_error')
}

/** Whether an error thrown by the client is insertAll's partial failure (HTTP 200 with insertErrors). */
export function insertErrorsOf (error: unknown): readonly InsertError[] | undefined {
  if ((error as { name?: unknown } | null)?.name !== 'PartialFailureError') return undefined
  const answer = (error as { response?: { insertErrors?: unknown } }).response
  return Array.isArray(answer?.insertErrors) ? answer.insertErrors as InsertError[] : undefined
}

/** The verdict on a request that failed as a whole, for every row it carried. */
export function requestError (error: unknown, what: string): SinkError {
  if (error instanceof PermanentSinkError || error instanceof RetryableSinkError) return error
  const { code, message } = error as { code?: unknown, message?: unknown }
  const text = `${what} failed: ${typeof message === 'string' ? message : String(error)}`
  // google-cloud/common's ApiError carries the HTTP status as a number; auth failures (gaxios) as `status`.
  const status = typeof code === 'number' ? code : (error as { status?: unknown }).status
  if (typeof status === 'number' && status >= 300 && status <= 599) {
    // 400: the request itself is malformed or too large; sending it again changes nothing.
    return statusError(status, text, { permanent: status === 400 || status === 413 })
  }
  const transport = transportErrorType(error)
  return new RetryableSinkError(text, transport ?? 'error', undefined, { cause: error })
}
