/**
 * A pool that seals and opens objects in batches off the main thread, so both cores work during backup, restore
 * and check. Jobs are copied at submit into one batch buffer. A batch of seals, or of chunk opens whose plaintext
 * goes to a file or is dropped (everything backup, restore and check submit), goes to the native addon's seal
 * threads (no JavaScript and no allocation per object there); any other batch (an open whose plaintext comes back)
 * runs on the calling thread, as every job does when the pool is asked for 0 threads.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { ArcaError } from '../core/errors.js'
import { openBatch, sealBatch } from '../core/native-addon.js'
import { SALT_BYTES, sealingRoom } from '../dedup/seal.js'
import { ID_BYTES, ObjectKind } from '../protocol/object-envelope.js'
import type { FilePlace } from '../protocol/store.js'
import { openObject, sealObject, type ObjectKeys } from './objects.js'
import { SpanArena } from '../core/span-arena.js'

export type PoolJob =
  | { op: 'seal'; id: Uint8Array; header: Uint8Array; data: Uint8Array }
  | { op: 'open'; id: Uint8Array; data: Uint8Array; kind?: ObjectKind; writeTo?: WriteTarget; isDiscarded?: boolean; source?: FilePlace }

/** Where an opened chunk's plaintext goes instead of back to the caller: positional write to an open file. */
export interface WriteTarget {
  fd: number
  position: number
}

export interface PoolOutput {
  /** Sealed envelope or plaintext; empty when the plaintext was written to a file. */
  data: Uint8Array
  compressedBytes: number
  /** Plaintext bytes (of the input for seal, of the output for open). */
  plainBytes: number
  /** For writeTo jobs: false when the chunk was all zeros and left as a hole. */
  isWritten: boolean
  /**
   * When present: call it once `data` is no longer used by anyone (for example, put into a store that copies),
   * so that its buffer can be reused; `data` must not be read after. Not calling it is always safe.
   */
  release?: () => void
}

/** One job in a batch: [op (0 seal, 1 open), kind (0 = any), offset, idLength, headerLength, dataLength, fd (-1 none, -2 discard), position]. */
export type JobMeta = [number, number, number, number, number, number, number, number]

interface Waiter {
  resolve: (r: PoolOutput) => void
  reject: (e: unknown) => void
}

const BATCH_BYTES = 512 * 1024
const MiB = 1024 * 1024
/**
 * Address space for batch inputs, and for sealed outputs, in use at once (each). Resident memory follows the bytes
 * in use (first fit from the lowest address), not this: 11-28 MiB of each were touched on a day-1 backup.
 */
const ARENA_BYTES = 48 * MiB
const BATCH_JOBS = 256

export class SealPool {
  private batch: Uint8Array | undefined
  private batchUsed = 0
  private batchJobs: JobMeta[] = []
  private batchSources: (FilePlace | null)[] = []
  private batchWorkBytes = 0
  private batchWaiters: Waiter[] = []
  private scheduled = false
  /**
   * Batch inputs, given back once their batch is done, and outputs of native seal batches, given back once every
   * object of them is released (see `PoolOutput.release`): memory reused rather than left to the collector (a
   * buffer per batch churned about 1.4 GB through malloc on a day-1 backup; docs/PERFORMANCE.md).
   */
  private readonly inputs = new SpanArena(ARENA_BYTES)
  private readonly outputs = new SpanArena(ARENA_BYTES)
  /** Native batches not yet settled. */
  private nativeRunning = 0
  private nativeIdle: (() => void) | undefined

  private readonly level: number
  private readonly threadCount: number

  /**
   * `threads`: the native addon's seal threads that work at once (default: up to two, one per core); 0 runs every
   * job inline.
   */
  constructor(private readonly keys: ObjectKeys, options: { threads?: number; zstdLevel?: number } = {}) {
    this.level = options.zstdLevel ?? 3
    this.threadCount = options.threads ?? Math.min(2, availableParallelism())
  }

  private get isInline(): boolean {
    return this.threadCount === 0
  }

  /**
   * Queues a job. An inline pool runs it before returning; otherwise the input is copied before returning. Either
   * way the caller may reuse its buffers as soon as `submit` returns.
   */
  submit(job: PoolJob): Promise<PoolOutput> {
    if (this.isInline) {
      try {
        return Promise.resolve(runJob(this.keys, job, this.level))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    const header = job.op === 'seal' ? job.header : EMPTY
    const size = job.id.length + header.length + job.data.length
    if (this.batch !== undefined && this.batchUsed + size > this.batch.length) this.dispatch()
    if (this.batch === undefined) {
      this.batch = this.takeBatchBuffer(size)
      this.batchUsed = 0
    }
    const at = this.batchUsed
    this.batch.set(job.id, at)
    this.batch.set(header, at + job.id.length)
    this.batch.set(job.data, at + job.id.length + header.length)
    this.batchUsed += size
    const target = job.op === 'open' ? job.writeTo : undefined
    const source = job.op === 'open' ? job.source : undefined
    this.batchJobs.push([job.op === 'seal' ? 0 : 1, job.op === 'open' ? (job.kind ?? 0) : 0, at, job.id.length, header.length, job.data.length, target?.fd ?? (job.op === 'open' && job.isDiscarded ? -2 : -1), target?.position ?? 0])
    this.batchSources.push(source ?? null)
    const bytes = source?.length ?? job.data.length
    this.batchWorkBytes += bytes
    const promise = new Promise<PoolOutput>((resolve, reject) => this.batchWaiters.push({ resolve, reject }))
    // cut batches by work, not only by copied bytes: jobs that read from files carry no data but are as heavy
    if (this.batchJobs.length >= BATCH_JOBS || this.batchWorkBytes >= BATCH_BYTES) this.dispatch()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.dispatch())
    }
    return promise
  }

  /** Room for a batch whose first job takes `size` bytes: BATCH_BYTES, or that job alone; cut to size at dispatch. */
  private takeBatchBuffer(size: number): Uint8Array {
    return takeSpan(this.inputs, Math.max(size, BATCH_BYTES))
  }

  private dispatch(): void {
    this.scheduled = false
    if (this.batch === undefined || this.batchJobs.length === 0) return
    if (this.batchJobs.every((j) => j[0] === 0)) this.dispatchNative()
    else if (this.batchJobs.every(isNativeOpen)) this.dispatchNativeOpen()
    else this.runInline()
  }

  /** Runs the batch being filled on this thread. */
  private runInline(): void {
    const { input, metas, sources, waiters } = this.takeBatch()
    waiters.forEach((w, i) => {
      try {
        w.resolve(runJob(this.keys, jobOf(input, metas[i], sources[i]), this.level))
      } catch (err) {
        w.reject(err)
      }
    })
    this.inputs.give(input)
  }

  /** The batch being filled, cut to its jobs and handed over: the pool starts a new one with the next job. */
  private takeBatch(): { input: Uint8Array; metas: JobMeta[]; sources: (FilePlace | null)[]; waiters: Waiter[] } {
    const input = this.inputs.shrink(this.batch!, this.batchUsed)
    const taken = { input, metas: this.batchJobs, sources: this.batchSources, waiters: this.batchWaiters }
    this.batch = undefined
    this.batchJobs = []
    this.batchSources = []
    this.batchWorkBytes = 0
    this.batchWaiters = []
    return taken
  }

  /**
   * Runs a native batch; `settle` is called on the main thread with its failure, if any, once it is done (also
   * when `start` throws: every waiter is answered).
   */
  private runNativeBatch(start: () => Promise<void>, settle: (err: unknown) => void): void {
    let work: Promise<void>
    try {
      work = start()
    } catch (err) {
      work = Promise.reject(err)
    }
    this.nativeRunning++
    const done = (err: unknown): void => {
      this.nativeRunning--
      settle(err)
      if (this.nativeRunning === 0) this.nativeIdle?.()
    }
    work.then(() => done(undefined), done)
  }

  /** Hands the current batch (seals only) to the native addon's seal threads, `threadCount` of them. */
  private dispatchNative(): void {
    const { input, metas, waiters } = this.takeBatch()
    const count = metas.length
    const jobs = new Int32Array(count * 4)
    let capacity = 0
    metas.forEach(([, , at, idLength, headerLength, dataLength], i) => {
      jobs.set([at, idLength, headerLength, dataLength], i * 4)
      capacity += headerLength + sealingRoom(dataLength)
    })
    const out = takeSpan(this.outputs, capacity)
    const results = new Int32Array(count * 3)
    const start = () => sealBatch({ dataKey: this.keys.dataKey, level: this.level, input, jobs, salts: randomBytes(count * SALT_BYTES), out, results }, this.threadCount)
    this.runNativeBatch(start, (err) => {
      this.inputs.give(input)
      if (err !== undefined) {
        this.outputs.give(out)
        for (const w of waiters) w.reject(err)
        return
      }
      // the span keeps what was sealed (room was taken for the largest possible envelopes) and goes back to the
      // arena once every object of it is released; an object never released (a store that keeps references)
      // keeps its span for the pool's life, and later outputs are allocated apart
      let sealedBytes = 0
      for (let i = 0; i < count; i++) sealedBytes = Math.max(sealedBytes, results[i * 3] + results[i * 3 + 1])
      const sealed = this.outputs.shrink(out, sealedBytes)
      let unreleased = count
      waiters.forEach((w, i) => {
        let isReleased = false
        const release = (): void => {
          if (isReleased) return
          isReleased = true
          if (--unreleased === 0) this.outputs.give(sealed)
        }
        w.resolve({ data: sealed.subarray(results[i * 3], results[i * 3] + results[i * 3 + 1]), compressedBytes: results[i * 3 + 2], plainBytes: metas[i][5], isWritten: false, release })
      })
    })
  }

  /** Hands the current batch (chunk opens into files or dropped) to the native addon's seal threads. */
  private dispatchNativeOpen(): void {
    const { input, metas, sources, waiters } = this.takeBatch()
    const count = metas.length
    const jobs = new Int32Array(count * 6)
    const places = new Float64Array(count * 2)
    const paths: string[] = []
    const pathIndex = new Map<string, number>()
    metas.forEach(([, , at, idLength, headerLength, dataLength, fd, position], i) => {
      const source = sources[i]
      let p = -1
      if (source !== null) {
        p = pathIndex.get(source.path) ?? -1
        if (p < 0) pathIndex.set(source.path, (p = paths.push(source.path) - 1))
      }
      jobs.set([at, at + idLength + headerLength, source?.length ?? dataLength, p, fd, 0], i * 6)
      places[i * 2] = source?.offset ?? 0
      places[i * 2 + 1] = position
    })
    const results = new Int32Array(count * 3)
    const start = () => openBatch({ dataKey: this.keys.dataKey, chunkIdKey: this.keys.chunkIdKey, input, jobs, places, paths, results }, this.threadCount)
    this.runNativeBatch(start, (err) => {
      waiters.forEach((w, i) => {
        if (err !== undefined) w.reject(err)
        else if (results[i * 3] === 0) w.resolve({ data: EMPTY, compressedBytes: 0, plainBytes: results[i * 3 + 1], isWritten: results[i * 3 + 2] === 1 })
        else {
          // failed natively, nothing written: opened again here for the error's exact code and message
          try {
            w.resolve(runJob(this.keys, jobOf(input, metas[i], sources[i]), this.level))
          } catch (e) {
            w.reject(e)
          }
        }
      })
      this.inputs.give(input)
    })
  }

  /** Waits for the batches handed to the seal threads. */
  async close(): Promise<void> {
    this.dispatch()
    if (this.nativeRunning > 0) await new Promise<void>((resolve) => (this.nativeIdle = resolve))
    this.nativeIdle = undefined
  }
}

const EMPTY = new Uint8Array(0)

/** A span of `arena`, or a buffer of its own when the arena has no room (left to the collector). */
function takeSpan(arena: SpanArena, length: number): Uint8Array {
  return arena.take(length) ?? new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length)
}

/** An open job the seal threads take: a chunk (or any kind) whose plaintext goes to a file or is dropped. */
function isNativeOpen([op, kind, , idLength, , , fd]: JobMeta): boolean {
  return op === 1 && (kind === 0 || kind === ObjectKind.CHUNK) && idLength === ID_BYTES && (fd >= 0 || fd === -2)
}

/** The job `meta` describes, its bytes in `input` (see `submit`). */
function jobOf(input: Uint8Array, [op, kind, at, idLength, headerLength, dataLength, fd, position]: JobMeta, source: FilePlace | null): PoolJob {
  const dataStart = at + idLength + headerLength
  if (op === 0) return { op: 'seal', id: input.subarray(at, at + idLength), header: input.subarray(at + idLength, dataStart), data: input.subarray(dataStart, dataStart + dataLength) }
  return {
    op: 'open',
    id: input.subarray(at, at + idLength),
    data: input.subarray(dataStart, dataStart + dataLength),
    kind: kind === 0 ? undefined : (kind as ObjectKind),
    writeTo: fd >= 0 ? { fd, position } : undefined,
    isDiscarded: fd === -2,
    source: source ?? undefined,
  }
}

function runJob(keys: ObjectKeys, job: PoolJob, level: number): PoolOutput {
  if (job.op === 'seal') {
    const { envelope, compressedBytes } = sealObject(keys, job.id, job.header, job.data, { level })
    return { data: envelope, compressedBytes, plainBytes: job.data.length, isWritten: false }
  }
  const envelope = job.source === undefined ? job.data : readPlace(job.source)
  // plaintext written to a file or discarded is consumed here: it may live in the scratch buffer
  const { plain } = openObject(keys, job.id, envelope, job.kind, job.isDiscarded === true || job.writeTo !== undefined)
  if (job.isDiscarded) return { data: EMPTY, compressedBytes: 0, plainBytes: plain.length, isWritten: false }
  if (job.writeTo === undefined) return { data: plain, compressedBytes: 0, plainBytes: plain.length, isWritten: false }
  const isWritten = !isZeros(plain)
  if (isWritten) writeAll(job.writeTo.fd, plain, job.writeTo.position)
  return { data: EMPTY, compressedBytes: 0, plainBytes: plain.length, isWritten }
}

const MAX_OPEN_FILES = 64
/** Per thread: open pack files and one reusable read buffer (an envelope is fully consumed before the next read). */
const openFiles = new Map<string, number>()
let readBuffer = Buffer.allocUnsafeSlow(1024 * 1024)

function readPlace(place: FilePlace): Uint8Array {
  let fd = openFiles.get(place.path)
  if (fd === undefined) {
    if (openFiles.size >= MAX_OPEN_FILES) {
      const [oldPath, oldFd] = openFiles.entries().next().value as [string, number]
      openFiles.delete(oldPath)
      closeSync(oldFd)
    }
    fd = openSync(place.path, 'r')
    openFiles.set(place.path, fd)
  }
  if (readBuffer.length < place.length) readBuffer = Buffer.allocUnsafeSlow(place.length)
  const n = readSync(fd, readBuffer, 0, place.length, place.offset)
  if (n !== place.length) throw ArcaError.integrity(`${place.path} is shorter than its index says (offset ${place.offset}, ${place.length} bytes)`)
  return readBuffer.subarray(0, place.length)
}

const ZEROS = new Uint8Array(64 * 1024)

/** All-zero chunks are not written, so sparse files stay sparse. */
function isZeros(data: Uint8Array): boolean {
  for (let at = 0; at < data.length; at += ZEROS.length) {
    const part = data.subarray(at, at + ZEROS.length)
    if (Buffer.compare(part, ZEROS.subarray(0, part.length)) !== 0) return false
  }
  return true
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done)
}
