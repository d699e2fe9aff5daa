import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../../src/logger.js'
import type { DeliveryEvent, Sink } from '../../../src/sinks/contract.js'

/** `<YYYY-MM-DD>/<HH>.ndjson` of a receipt time, in UTC. */
export function hourFile (receivedAt: number): string {
  const iso = new Date(receivedAt).toISOString()
  return join(iso.slice(0, 10), `${iso.slice(11, 13)}.ndjson`)
}

export class FileSink implements Sink {
  constructor (
    private readonly directory: string,
    private readonly fsync: boolean,
    private readonly logger: Logger
  ) {}

  async start (): Promise<void> {
    await mkdir(this.directory, { recursive: true })
  }

  async deliver (batch: readonly DeliveryEvent[]): Promise<void> {
    // One append per hour file: a batch rarely spans two hours, and a single write keeps lines whole.
    const byFile = new Map<string, string[]>()
    for (const event of batch) {
      const file = hourFile(event.receivedAt)
      const lines = byFile.get(file)
      if (lines === undefined) byFile.set(file, [event.line])
      else lines.push(event.line)
    }
    for (const [file, lines] of byFile) await this.append(file, lines.join('\n') + '\n')
  }

  private async append (relative: string, text: string): Promise<void> {
    const path = join(this.directory, relative)
    await mkdir(join(path, '..'), { recursive: true })
    const handle = await open(path, 'a')
    try {
      await handle.writeFile(text)
      if (this.fsync) await handle.datasync()
    } finally {
      await handle.close()
    }
    this.logger.trace({ file: path, bytes: text.length }, 'appended')
  }

  async close (): Promise<void> {}
}
