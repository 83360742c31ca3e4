/**
 * The upload side of the archiver: which ids are known to be stored, which puts are in flight, and the queue of
 * chunks waiting for one batched `missing` question to the store. Chunks the store lacks are sealed in the pool
 * and put; the bytes between submit and the end of their put stay bounded (backpressure).
 */
import { toHex } from '../core/hex.js'
import type { Store } from '../protocol/store.js'
import { CHUNK_HEADER } from './objects.js'
import type { SealPool } from './seal-pool.js'
import type { BackupStats } from './snapshot.js'

/**
 * Chunk bytes between submit and stored. A store on this machine (one that can `locate`) stores a put at once, so
 * 8 MiB keep both seal threads busy (12 and 24 MiB measured no faster; the seal pool's memory follows this budget);
 * a remote store answers after a round trip, and its puts need more in flight.
 */
const MAX_UNSTORED_BYTES_LOCAL = 8 * 1024 * 1024
const MAX_UNSTORED_BYTES_REMOTE = 24 * 1024 * 1024
/**
 * Chunks between submit and stored, whatever their size: every one holds a promise chain, its envelope and a put
 * on the main thread, so thousands of small files in flight cost heap without adding throughput.
 */
export const MAX_UNSTORED_CHUNKS = 256

interface PendingCheck {
  id: Uint8Array
  hex: string
  data: Uint8Array
}

export class UploadQueue {
  /** Ids known to be stored, or put during this run. */
  private readonly known = new Set<string>()
  /** Puts still in flight, by id hex. */
  private readonly inflight = new Map<string, Promise<void>>()
  private checks: PendingCheck[] = []
  /** Hexes of `checks`, for `stored`. */
  private queuedHexes = new Set<string>()
  /** Resolved when the current `checks` have been asked about and their puts started. */
  private flushed: { promise: Promise<void>; resolve: () => void } | undefined
  private unstoredBytes = 0
  private unstoredChunks = 0
  private roomWaiters: (() => void)[] = []
  /** The first failed seal or put; the backup fails with it. */
  failure: unknown = undefined

  private readonly maxUnstoredBytes: number

  constructor(
    private readonly store: Store,
    private readonly pool: SealPool,
    private readonly stats: BackupStats,
  ) {
    this.maxUnstoredBytes = store.locate === undefined ? MAX_UNSTORED_BYTES_REMOTE : MAX_UNSTORED_BYTES_LOCAL
  }

  get queuedCount(): number {
    return this.checks.length
  }

  isKnown(hex: string): boolean {
    return this.known.has(hex)
  }

  markKnown(hex: string): void {
    this.known.add(hex)
  }

  /**
   * Settles once `hex` is stored, if that is still pending: its put is in flight, or it waits in the queue for its
   * `missing` question (then once the next flush has asked and its put, if any, has finished).
   */
  stored(hex: string): Promise<void> | undefined {
    const put = this.inflight.get(hex)
    if (put !== undefined) return put
    if (!this.queuedHexes.has(hex)) return undefined
    this.flushed ??= deferred()
    return this.flushed.promise.then(() => this.inflight.get(hex))
  }

  /** Tracks a put started elsewhere (a tree), so objects referring to it wait for it. */
  track(hex: string, put: Promise<unknown>): Promise<void> {
    const done = put
      .then(() => undefined)
      .catch((err) => {
        this.failure ??= err
      })
      .finally(() => this.inflight.delete(hex))
    this.inflight.set(hex, done)
    return done
  }

  /** Queues a chunk; `data` must stay unchanged until the next `flush` returns. */
  enqueue(id: Uint8Array, data: Uint8Array): void {
    const hex = toHex(id)
    if (this.known.has(hex)) return
    this.known.add(hex)
    this.checks.push({ id, hex, data })
    this.queuedHexes.add(hex)
  }

  /**
   * Asks the store which queued chunks it lacks and sends those to be sealed and stored. The pool copies (or
   * seals) each chunk before `submit` returns, so queued bytes may be reused once this returns.
   */
  async flush(throwIfFailed: () => void): Promise<void> {
    if (this.checks.length === 0) return
    const batch = this.checks
    const flushed = this.flushed
    this.checks = []
    this.queuedHexes = new Set()
    this.flushed = undefined
    try {
      await this.startPuts(batch, throwIfFailed)
    } finally {
      // trees waiting on this batch go on (after a failure too: the run then fails with this flush's error)
      flushed?.resolve()
    }
  }

  private async startPuts(batch: PendingCheck[], throwIfFailed: () => void): Promise<void> {
    const absent = await this.store.missing(batch.map((c) => c.id))
    for (let i = 0; i < batch.length; i++) {
      if (!absent[i]) continue
      throwIfFailed()
      const c = batch[i]
      if (this.isFull()) await this.waitForRoom()
      const size = c.data.length
      this.stats.chunksNew++
      this.stats.bytesNew += size
      this.unstoredBytes += size
      this.unstoredChunks++
      // one chain per chunk, settled either way (a failure is kept in `failure`): chunks are many, and every
      // promise here lives until the chunk is stored, long enough to be promoted out of V8's young generation
      const stored = this.pool
        .submit({ op: 'seal', id: c.id, header: CHUNK_HEADER, data: c.data })
        .then(async (s) => {
          this.stats.bytesStored += s.data.length
          this.stats.bytesCompressed += s.compressedBytes
          // the store gives the sealed bytes back to the pool once it no longer needs them
          await this.store.put(c.id, s.data, s.release)
        })
        .then(
          () => this.settle(c.hex, size),
          (err: unknown) => {
            this.failure ??= err
            this.settle(c.hex, size)
          },
        )
      this.inflight.set(c.hex, stored)
    }
  }

  private settle(hex: string, size: number): void {
    this.inflight.delete(hex)
    this.unstoredBytes -= size
    this.unstoredChunks--
    this.wakeRoomWaiters()
  }

  private isFull(): boolean {
    return this.unstoredBytes >= this.maxUnstoredBytes || this.unstoredChunks >= MAX_UNSTORED_CHUNKS
  }

  private async waitForRoom(): Promise<void> {
    while (this.isFull() && this.failure === undefined) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve))
    }
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters
    this.roomWaiters = []
    for (const w of waiters) w()
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
