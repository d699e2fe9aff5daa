import { BigQuery, type BigQueryOptions, type Table } from '@google-cloud/bigquery'
import type { Logger } from '../../../src/logger.js'
import type { BatchOutcome, DeliveryEvent, Sink } from '../../../src/sinks/contract.js'
import { PermanentSinkError } from '../../../src/errors.js'
import { EVENTS_TABLE, OpaqueRow, chunkBySize, tableMetadata, type RawRow, type TableShape } from './rows.js'
import { PIPELINES_TABLE } from './pipelines-rows.js'
import { insertErrorsOf, requestError, rowError } from './failures.js'
import { customerioPipelinesSource } from '../../sources/customerio-pipelines/definition.js'

export interface BigQuerySinkOptions {
  readonly projectId: string | undefined
  readonly dataset: string
  /** A table name, or a template with `{object_type}` / `{source}`. */
  readonly table: string
  /** The same for Data Pipelines events, which have a table shape of their own. */
  readonly pipelinesTable: string
  readonly createTable: boolean
  readonly keyFile: string | undefined
  readonly apiEndpoint: string | undefined
  readonly timeoutMs: number
}

const PLACEHOLDER = /\{(object_type|source)\}/g
const TEMPLATED = /\{(object_type|source)\}/

/** The table an event goes to: the template's placeholders filled with the event's values, made table-safe. */
export function tableFor (template: string, event: Pick<DeliveryEvent, 'objectType' | 'source'>): string {
  return template.replace(PLACEHOLDER, (_match, key: string) => {
    const value = key === 'source' ? event.source : event.objectType
    return value.replace(/[^A-Za-z0-9_]/g, '_')
  })
}

/** The table shape of an event: Data Pipelines events have their own, every other source writes the events table. */
function shapeOf (event: Pick<DeliveryEvent, 'sourceType'>): TableShape {
  return event.sourceType === customerioPipelinesSource.type ? PIPELINES_TABLE : EVENTS_TABLE
}

export class BigQuerySink implements Sink {
  private readonly client: BigQuery
  /** Tables known to exist (or being created), so `create_table` costs one tables.get per table per process. */
  private readonly ensured = new Map<string, Promise<void>>()
  /** The shape each table name was first used with: a name that two shapes share is a configuration mistake. */
  private readonly shapes = new Map<string, TableShape>()

  constructor (private readonly options: BigQuerySinkOptions, private readonly logger: Logger) {
    // `timeout` is a @google-cloud/common Service option the BigQuery typings do not list; the client passes it on.
    const clientOptions: BigQueryOptions & { timeout: number } = {
      projectId: options.projectId,
      keyFilename: options.keyFile,
      apiEndpoint: options.apiEndpoint,
      timeout: options.timeoutMs,
      // The gateway's queue retries failed rows with backoff and dead-letters them; the client must not retry on its own.
      retryOptions: { autoRetry: false }
    }
    this.client = new BigQuery(clientOptions)
  }

  async start (): Promise<void> {
    // A templated table is only known once an event names it; it is created on first use. The
    // pipelines table is created when the first Data Pipelines event comes: most gateways have none.
    if (this.options.createTable && !TEMPLATED.test(this.options.table)) await this.ensureTable(this.options.table, EVENTS_TABLE)
  }

  async deliver (batch: readonly DeliveryEvent[]): Promise<BatchOutcome> {
    const failures = new Map<number, Error>()
    const byTable = new Map<string, { shape: TableShape, indexes: number[] }>()
    batch.forEach((event, index) => {
      const shape = shapeOf(event)
      const table = tableFor(shape === PIPELINES_TABLE ? this.options.pipelinesTable : this.options.table, event)
      const entry = byTable.get(table)
      if (entry === undefined) byTable.set(table, { shape, indexes: [index] })
      else if (entry.shape === shape) entry.indexes.push(index)
      else failures.set(index, sharedTable(table))
    })
    for (const [table, { shape, indexes }] of byTable) {
      const first = this.shapes.get(table) ?? shape
      this.shapes.set(table, first)
      if (first !== shape) {
        for (const index of indexes) failures.set(index, sharedTable(table))
        continue
      }
      try {
        if (this.options.createTable) await this.ensureTable(table, shape)
      } catch (error) {
        const failure = requestError(error, `creating table ${table}`)
        for (const index of indexes) failures.set(index, failure)
        continue
      }
      await this.insert(table, shape, batch, indexes, failures)
    }
    return { failures }
  }

  /** Inserts the events at `indexes` into `table`, in requests within insertAll's limits, recording failures by batch index. */
  private async insert (tableId: string, shape: TableShape, batch: readonly DeliveryEvent[], indexes: readonly number[], failures: Map<number, Error>): Promise<void> {
    const table = this.table(tableId)
    const rows = indexes.map((index) => shape.row(batch[index] as DeliveryEvent))
    const sizes = rows.map((row) => Buffer.byteLength(JSON.stringify(row)))
    for (const chunk of chunkBySize(sizes)) {
      const chunkRows = chunk.map((position) => new OpaqueRow(rows[position] as RawRow))
      const batchIndexOf = (position: number): number => indexes[chunk[position] as number] as number
      try {
        // skipInvalidRows: valid rows go in even when others are invalid, so only the bad ones come back.
        await table.insert(chunkRows as unknown as RawRow[], { raw: true, skipInvalidRows: true, partialRetries: 0 })
      } catch (error) {
        const insertErrors = insertErrorsOf(error)
        if (insertErrors === undefined) {
          const failure = requestError(error, `insertAll into ${tableId}`)
          if ((error as { code?: unknown }).code === 404) this.ensured.delete(tableId)
          for (let position = 0; position < chunk.length; position++) failures.set(batchIndexOf(position), failure)
          continue
        }
        for (const insertError of insertErrors) {
          if (insertError.index >= 0 && insertError.index < chunk.length) failures.set(batchIndexOf(insertError.index), rowError(insertError))
        }
      }
    }
  }

  private table (tableId: string): Table {
    return this.client.dataset(this.options.dataset).table(tableId)
  }

  /** tables.get, then tables.insert with the partitioned schema when missing; a 409 means another replica won the race. */
  private async ensureTable (tableId: string, shape: TableShape): Promise<void> {
    let ensuring = this.ensured.get(tableId)
    if (ensuring === undefined) {
      ensuring = this.createIfMissing(tableId, shape)
      this.ensured.set(tableId, ensuring)
      // A failed attempt is forgotten so that the next batch tries again.
      ensuring.catch(() => this.ensured.delete(tableId))
    }
    await ensuring
  }

  private async createIfMissing (tableId: string, shape: TableShape): Promise<void> {
    const table = this.table(tableId)
    const [exists] = await table.exists()
    if (exists) return
    try {
      await table.create(tableMetadata(shape))
      this.logger.info({ dataset: this.options.dataset, table: tableId, shape: shape.name }, 'created BigQuery table')
    } catch (error) {
      if ((error as { code?: unknown }).code !== 409) throw error
    }
  }

  async close (): Promise<void> {}
}

function sharedTable (table: string): PermanentSinkError {
  return new PermanentSinkError(`table ${table} would receive both reporting events and Data Pipelines events, whose columns differ: give table and pipelines_table different names`, 'table_conflict')
}
