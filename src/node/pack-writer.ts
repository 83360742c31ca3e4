/**
 * Appends entries to one pack file. Entries are copied into 1 MiB stage buffers, written asynchronously in order;
 * `sync` waits for the writes and fsyncs, after which every entry appended before is durable. Because `append`
 * copies, the caller may reuse the bytes it passed as soon as `append` returns (the seal pool reuses its output
 * buffers: no sealed object waits in memory for a collection). Written stage buffers are reused by every writer.
 */
import { promises as fsp } from 'node:fs'
import { EntryType, entryHeader, entryTrailer, packHeader } from './pack-format.js'

const STAGE_BYTES = 1024 * 1024
/** Written stage buffers kept for reuse, shared by all writers of the process. */
const MAX_FREE_STAGES = 8
const freeStages: Buffer[] = []

export class PackWriter {
  private stageBuffer: Buffer | undefined
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
    this.stage(body)
    this.stage(entryTrailer(header, body))
    this.entryCount++
    return offset
  }

  private stage(bytes: Uint8Array): void {
    for (let from = 0; from < bytes.length; ) {
      this.stageBuffer ??= freeStages.pop() ?? Buffer.allocUnsafeSlow(STAGE_BYTES)
      const n = Math.min(bytes.length - from, STAGE_BYTES - this.stagedBytes)
      this.stageBuffer.set(bytes.subarray(from, from + n), this.stagedBytes)
      this.stagedBytes += n
      from += n
      if (this.stagedBytes === STAGE_BYTES) this.issueWrite()
    }
    this.sizeBytes += bytes.length
  }

  private issueWrite(): void {
    if (this.stageBuffer === undefined || this.stagedBytes === 0) return
    const buffer = this.stageBuffer
    const bytes = this.stagedBytes
    this.stageBuffer = undefined
    this.stagedBytes = 0
    this.queuedBytes += bytes
    this.writing = this.writing.then(async () => {
      try {
        for (let done = 0; done < bytes && this.writeError === undefined; ) {
          const { bytesWritten } = await this.file.write(buffer, done, bytes - done)
          if (bytesWritten === 0) throw new Error(`${this.path}: write made no progress`)
          done += bytesWritten
        }
      } catch (err) {
        this.writeError = err
      } finally {
        this.queuedBytes -= bytes
        if (freeStages.length < MAX_FREE_STAGES) freeStages.push(buffer)
      }
    })
  }

  /**
   * Waits for the writes issued so far, not for the stage being filled: back-pressure that does not cut stages
   * short (every issued stage holds a whole stage buffer until written).
   */
  async settle(): Promise<void> {
    await this.writing
    if (this.writeError !== undefined) throw this.writeError
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
