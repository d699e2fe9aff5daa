/**
 * A local stand-in for the three BigQuery REST methods the sink uses (tables.get, tables.insert,
 * tabledata.insertAll) and for the STS token endpoint of a workload-identity credential file, so the
 * real @google-cloud/bigquery client and google-auth-library run unchanged against it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'

export const ACCESS_TOKEN = 'test-access-token'
export const PROJECT = 'test-project'
export const DATASET = 'customerio'

export interface InsertAllRequest {
  readonly table: string
  readonly rows: { insertId: string, json: Record<string, unknown> }[]
  readonly body: Record<string, unknown>
  readonly bytes: number
}

/** What the next insertAll answers; undefined → 200 with no errors. */
export type InsertAnswer = { status: number, body?: unknown } | undefined

export interface FakeBigQuery {
  readonly url: string
  /** A credential file (external_account, token exchange at this server) for `key_file` or ADC. */
  readonly keyFile: string
  readonly tables: Map<string, Record<string, unknown>>
  readonly inserts: InsertAllRequest[]
  readonly tableCreates: Record<string, unknown>[]
  readonly tableGets: string[]
  /** Requests that came without the access token (should stay empty). */
  readonly unauthorized: string[]
  /** Decides each insertAll's answer; the default accepts every row. */
  answerInsert: (request: InsertAllRequest, index: number) => InsertAnswer
}

export async function startFakeBigQuery (t: { teardown (fn: () => unknown): void }, dir: string): Promise<FakeBigQuery> {
  const fake: Omit<FakeBigQuery, 'url' | 'keyFile'> = {
    tables: new Map(),
    inserts: [],
    tableCreates: [],
    tableGets: [],
    unauthorized: [],
    answerInsert: () => undefined
  }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => handle(fake, request, Buffer.concat(chunks), response))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const subjectToken = join(dir, 'subject-token')
  writeFileSync(subjectToken, 'a-subject-token')
  const keyFile = join(dir, 'bigquery-credentials.json')
  writeFileSync(keyFile, JSON.stringify({
    type: 'external_account',
    audience: `//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/test/providers/gateway`,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: `${url}/token`,
    credential_source: { file: subjectToken }
  }))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return Object.assign(fake, { url, keyFile })
}

const TABLE_PATH = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables(?:\/([^/]+))?(\/insertAll)?$/

function handle (fake: Omit<FakeBigQuery, 'url' | 'keyFile'>, request: IncomingMessage, body: Buffer, response: ServerResponse): void {
  const { pathname } = new URL(request.url ?? '/', 'http://localhost')
  if (request.method === 'POST' && pathname === '/token') {
    return send(response, 200, { access_token: ACCESS_TOKEN, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 })
  }
  if (request.headers.authorization !== `Bearer ${ACCESS_TOKEN}`) {
    fake.unauthorized.push(`${request.method ?? ''} ${pathname}`)
    return send(response, 401, apiError(401, 'authError', 'Request had invalid authentication credentials.'))
  }
  const match = TABLE_PATH.exec(pathname)
  if (match === null) return send(response, 404, apiError(404, 'notFound', `No such method: ${pathname}`))
  const [, project, dataset, tableId, insertAll] = match
  const key = `${project}.${dataset}.${tableId ?? ''}`
  if (request.method === 'GET' && tableId !== undefined && insertAll === undefined) {
    fake.tableGets.push(tableId)
    const table = fake.tables.get(key)
    return table === undefined ? send(response, 404, apiError(404, 'notFound', `Not found: Table ${key}`)) : send(response, 200, table)
  }
  if (request.method === 'POST' && tableId === undefined) {
    const resource = JSON.parse(body.toString('utf8')) as Record<string, unknown>
    fake.tableCreates.push(resource)
    const reference = resource.tableReference as { tableId: string }
    const created = `${project}.${dataset}.${reference.tableId}`
    if (fake.tables.has(created)) return send(response, 409, apiError(409, 'duplicate', `Already Exists: Table ${created}`))
    const table = { kind: 'bigquery#table', id: created, ...resource }
    fake.tables.set(created, table)
    return send(response, 200, table)
  }
  if (request.method === 'POST' && tableId !== undefined && insertAll !== undefined) {
    const parsed = JSON.parse(body.toString('utf8')) as InsertAllRequest['body']
    const insert: InsertAllRequest = { table: tableId, rows: parsed.rows as InsertAllRequest['rows'], body: parsed, bytes: body.length }
    fake.inserts.push(insert)
    const answer = fake.answerInsert(insert, fake.inserts.length - 1)
    if (answer === undefined) return send(response, 200, { kind: 'bigquery#tableDataInsertAllResponse' })
    return send(response, answer.status, answer.body ?? {})
  }
  return send(response, 405, apiError(405, 'notImplemented', `${request.method ?? ''} ${pathname}`))
}

export function apiError (code: number, reason: string, message: string): unknown {
  return { error: { code, message, errors: [{ reason, message, domain: 'global' }], status: reason } }
}

function send (response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) })
  response.end(text)
}
