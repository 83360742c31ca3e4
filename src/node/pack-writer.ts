/**
 * Appends entries to one pack file. Writes are staged in memory and issued asynchronously in order; `sync`
 * waits for them and fsyncs, after which every entry appended before is durable.
 */
import { promises as fsp } from 'node:fs'
import { EntryType, entryHeader, entryTrailer, packHeader } from './pack-format.js'

const STAGE_BYTES = 4 * 1024 * 1024

export class PackWriter {
  private staged: Buffer[] = []
  private stagedBytes = 0
  private writing: Promise<void> = Promise.resolve()
  private writeError: unknown = undefined
  /** Bytes handed to write calls that have not completed yet. */
  queuedBytes = 0
  /** Bytes appended so far, including staged ones: the offset of the next entry. */
  sizeBytes: number
  entryCount = 0

  private constructor(
    readonly packNumber: number,
    readonly path: string,
    private readonly file: fsp.FileHandle,
  ) {
    this.sizeBytes = 0
  }

  static async create(packNumber: number, path: string): Promise<PackWriter> {
    const file = await fsp.open(path, 'wx')
    const writer = new PackWriter(packNumber, path, file)
    writer.stage(packHeader(packNumber))
    return writer
  }

  /** Appends one entry; returns its offset. */
  append(type: EntryType, id: Uint8Array, body: Uint8Array): number {
    const offset = this.sizeBytes
    const header = entryHeader(type, id, body.length)
    this.stage(header)
    this.stage(Buffer.from(body.buffer, body.byteOffset, body.byteLength))
    this.stage(entryTrailer(header, body))
    this.entryCount++
    return offset
  }

  private stage(bytes: Buffer): void {
    this.staged.push(bytes)
    this.stagedBytes += bytes.length
    this.sizeBytes += bytes.length
    if (this.stagedBytes >= STAGE_BYTES) this.issueWrite()
  }

  private issueWrite(): void {
    if (this.stagedBytes === 0) return
    const parts = this.staged
    const bytes = this.stagedBytes
    this.staged = []
    this.stagedBytes = 0
    this.queuedBytes += bytes
    this.writing = this.writing.then(async () => {
      try {
        if (this.writeError === undefined) await this.file.writev(parts)
      } catch (err) {
        this.writeError = err
      } finally {
        this.queuedBytes -= bytes
      }
    })
  }

  /** Every staged byte handed to the OS (readable by pread), not yet durable. */
  async drain(): Promise<void> {
    this.issueWrite()
    await this.writing
    if (this.writeError !== undefined) throw this.writeError
  }

  async sync(): Promise<void> {
    await this.drain()
    await this.file.sync()
  }

  async close(): Promise<void> {
    try {
      await this.drain()
    } finally {
      await this.file.close()
    }
  }
}
