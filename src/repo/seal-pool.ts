/**
 * A pool of worker threads that seal and open objects in batches. Falls back to sealing inline when the compiled
 * worker script is absent (tests that run the TypeScript sources directly) or when asked for 0 workers.
 */
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { ArcaError, ERROR_CODES, type ErrorCode } from '../core/errors.js'
import type { ObjectKind } from '../protocol/object-envelope.js'
import { openObject, sealObject, type ObjectKeys } from './objects.js'

export type PoolJob =
  | { op: 'seal'; id: Uint8Array; header: Uint8Array; data: Uint8Array }
  | { op: 'open'; id: Uint8Array; data: Uint8Array; kind?: ObjectKind }
export type PoolResult =
  | { ok: true; data: Uint8Array; compressedBytes: number }
  | { ok: false; code?: string; message: string }

interface Waiter {
  resolve: (r: { data: Uint8Array; compressedBytes: number }) => void
  reject: (e: unknown) => void
  bytes: number
}

const BATCH_BYTES = 1024 * 1024
const BATCH_JOBS = 128

export class SealPool {
  private readonly workers: { worker: Worker; inflight: number; waiting: Map<number, Waiter[]> }[] = []
  private pendingJobs: PoolJob[] = []
  private pendingWaiters: Waiter[] = []
  private pendingBytes = 0
  private scheduled = false
  private seq = 0
  private roomWaiters: (() => void)[] = []
  /** Bytes submitted and not yet returned. */
  inflightBytes = 0

  constructor(private readonly keys: ObjectKeys, options: { workers?: number } = {}) {
    const script = fileURLToPath(new URL('./seal-worker.js', import.meta.url))
    const count = existsSync(script) ? (options.workers ?? Math.min(2, availableParallelism())) : 0
    const plainKeys = { chunkIdKey: keys.chunkIdKey, treeIdKey: keys.treeIdKey, dataKey: keys.dataKey }
    for (let i = 0; i < count; i++) {
      const worker = new Worker(script, { workerData: { keys: plainKeys } })
      const slot = { worker, inflight: 0, waiting: new Map<number, Waiter[]>() }
      worker.on('message', (msg: { seq: number; results: PoolResult[] }) => this.onResults(slot, msg))
      worker.on('error', (err) => this.failAll(slot, err))
      this.workers.push(slot)
    }
  }

  get isInline(): boolean {
    return this.workers.length === 0
  }

  /**
   * Queues a job. An inline pool runs it before returning; a worker pool copies the input before returning. Either
   * way the caller may reuse its buffer as soon as `submit` returns.
   */
  submit(job: PoolJob): Promise<{ data: Uint8Array; compressedBytes: number }> {
    const bytes = job.data.length
    if (this.isInline) {
      try {
        return Promise.resolve(runInline(this.keys, job))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    const data = standalone(job.data)
    return new Promise((resolve, reject) => {
      this.inflightBytes += bytes
      this.pendingJobs.push({ ...job, data })
      this.pendingWaiters.push({ resolve, reject, bytes })
      this.pendingBytes += bytes
      if (this.pendingBytes >= BATCH_BYTES || this.pendingJobs.length >= BATCH_JOBS) this.dispatch()
      else if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.dispatch())
      }
    })
  }

  /** Resolves once fewer than `maxBytes` are in flight. */
  async waitForRoom(maxBytes: number): Promise<void> {
    while (this.inflightBytes >= maxBytes) await new Promise<void>((r) => this.roomWaiters.push(r))
  }

  private dispatch(): void {
    this.scheduled = false
    if (this.pendingJobs.length === 0) return
    const slot = this.workers.reduce((a, b) => (b.inflight < a.inflight ? b : a))
    const seq = this.seq++
    const jobs = this.pendingJobs
    slot.waiting.set(seq, this.pendingWaiters)
    slot.inflight += this.pendingBytes
    this.pendingJobs = []
    this.pendingWaiters = []
    this.pendingBytes = 0
    slot.worker.postMessage({ seq, jobs }, jobs.map((j) => j.data.buffer as ArrayBuffer))
  }

  private onResults(slot: (typeof this.workers)[number], msg: { seq: number; results: PoolResult[] }): void {
    const waiters = slot.waiting.get(msg.seq) ?? []
    slot.waiting.delete(msg.seq)
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]
      const r = msg.results[i]
      slot.inflight -= w.bytes
      this.inflightBytes -= w.bytes
      if (r.ok) w.resolve({ data: r.data, compressedBytes: r.compressedBytes })
      else w.reject(toError(r))
    }
    const room = this.roomWaiters
    this.roomWaiters = []
    for (const r of room) r()
  }

  private failAll(slot: (typeof this.workers)[number], err: unknown): void {
    for (const waiters of slot.waiting.values()) for (const w of waiters) w.reject(err)
    slot.waiting.clear()
  }

  async close(): Promise<void> {
    this.dispatch()
    await Promise.all(this.workers.map((s) => s.worker.terminate()))
    this.workers.length = 0
  }
}

/** A copy that owns its whole ArrayBuffer, so it can be transferred to a worker without cloning a larger buffer. */
function standalone(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length)
  copy.set(bytes)
  return copy
}

function runInline(keys: ObjectKeys, job: PoolJob): { data: Uint8Array; compressedBytes: number } {
  if (job.op === 'seal') {
    const { envelope, compressedBytes } = sealObject(keys, job.id, job.header, job.data)
    return { data: envelope, compressedBytes }
  }
  return { data: openObject(keys, job.id, job.data, job.kind).plain, compressedBytes: 0 }
}

function toError(r: { code?: string; message: string }): Error {
  if (r.code !== undefined && (ERROR_CODES as readonly string[]).includes(r.code)) return new ArcaError(r.code as ErrorCode, r.message)
  return new Error(r.message)
}
