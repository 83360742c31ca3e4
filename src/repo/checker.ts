/**
 * check: every tree reachable from a snapshot opens and decodes, every chunk it references is stored; with
 * readData, every (or a chosen subset of) chunk is read, decrypted, decompressed and its id recomputed.
 */
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { ObjectKind } from '../protocol/object-envelope.js'
import type { FilePlace, Store } from '../protocol/store.js'
import type { Repository } from './repository.js'
import type { SealPool } from './seal-pool.js'

export interface CheckOptions {
  readData?: boolean
  /** Read only chunks whose id falls in this subset: "n/m" (bucket n of m) or "p%". */
  subset?: string
  pool: SealPool
  onProgress?: (p: { chunksRead: number; bytesRead: number }) => void
}

export interface CheckProblem {
  id: string
  reason: string
}

export interface CheckResult {
  snapshots: number
  trees: number
  chunks: number
  chunksRead: number
  bytesRead: number
  problems: CheckProblem[]
}

const READS_IN_FLIGHT = 512
const TREES_IN_FLIGHT = 256
const EMPTY = new Uint8Array(0)
/** Chunk ids looked up in the store together. */
const PLACE_BATCH = 4096

export function parseSubset(subset: string): (id: Uint8Array) => boolean {
  const bucket = /^(\d+)\/(\d+)$/.exec(subset)
  if (bucket !== null) {
    const n = Number(bucket[1])
    const m = Number(bucket[2])
    if (m < 1 || m > 65536 || n < 1 || n > m) throw ArcaError.invalidArgument(`Invalid subset "${subset}": expected n/m with 1 <= n <= m <= 65536`)
    return (id) => ((id[0] << 8) | id[1]) % m === n - 1
  }
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(subset)
  if (percent !== null) {
    const p = Number(percent[1])
    if (p <= 0 || p > 100) throw ArcaError.invalidArgument(`Invalid subset "${subset}": percentage must be in (0, 100]`)
    return (id) => Buffer.from(id).readUInt32BE(0) < (p / 100) * 2 ** 32
  }
  throw ArcaError.invalidArgument(`Invalid subset "${subset}": expected "n/m" or "p%"`)
}

export async function check(repo: Repository, options: CheckOptions): Promise<CheckResult> {
  const result: CheckResult = { snapshots: 0, trees: 0, chunks: 0, chunksRead: 0, bytesRead: 0, problems: [] }
  const inSubset = options.subset === undefined ? () => true : parseSubset(options.subset)
  const seenTrees = new Set<string>()
  const seenChunks = new Set<string>()
  // chunks are placed (looked up in the store) in batches while the walk goes on: a local store answers on a libuv
  // thread, a remote one in one request per batch
  const placings: Promise<Placement>[] = []
  let batch: Uint8Array[] = []
  const placeBatch = (): void => {
    if (batch.length === 0) return
    const placing = placeChunks(repo.store, batch)
    placing.catch(() => {}) // awaited after the walk
    placings.push(placing)
    batch = []
  }
  const snapshots = await repo.listSnapshots()
  result.snapshots = snapshots.length
  const stack: Uint8Array[] = snapshots.map((s) => s.header.rootTree)
  while (stack.length > 0) {
    // trees are loaded a wave at a time, so a remote store gets them in few requests
    const wave: { id: Uint8Array; hex: string }[] = []
    while (stack.length > 0 && wave.length < TREES_IN_FLIGHT) {
      const id = stack.pop()!
      const hex = toHex(id)
      if (seenTrees.has(hex)) continue
      seenTrees.add(hex)
      wave.push({ id, hex })
    }
    const loaded = await Promise.allSettled(wave.map((w) => repo.loadTree(w.id)))
    loaded.forEach((r, i) => {
      if (r.status === 'rejected') {
        result.problems.push({ id: wave[i].hex, reason: `tree: ${(r.reason as Error).message}` })
        return
      }
      for (const node of r.value) {
        if (node.type === 'dir' && node.subtree !== undefined) stack.push(node.subtree)
        for (const c of node.content ?? []) {
          const hex = toHex(c.id)
          if (seenChunks.has(hex)) continue
          seenChunks.add(hex)
          batch.push(c.id)
          if (batch.length >= PLACE_BATCH) placeBatch()
        }
      }
    })
  }
  placeBatch()
  result.trees = seenTrees.size
  result.chunks = seenChunks.size
  const present: Placed[] = []
  for (const placement of await Promise.all(placings)) {
    for (const id of placement.absent) result.problems.push({ id: toHex(id), reason: 'chunk missing from the store' })
    for (const p of placement.present) present.push(p)
  }
  if (options.readData) {
    // With pack files on this machine, chunks are read in pack order: sequential reads, not one seek per chunk
    // when the packs are not in the page cache (a remote node sorts the reads of each request itself).
    const toRead = present.filter((p) => inSubset(p.id))
    toRead.sort((a, b) => comparePlaces(a.source, b.source))
    let next = 0
    const reader = async (): Promise<void> => {
      while (next < toRead.length) {
        const { id, source } = toRead[next++]
        try {
          const data = source === undefined ? await repo.store.get(id) : EMPTY
          const { plainBytes } = await options.pool.submit({ op: 'open', id, data, source, kind: ObjectKind.CHUNK, isDiscarded: true })
          result.chunksRead++
          result.bytesRead += plainBytes
          options.onProgress?.({ chunksRead: result.chunksRead, bytesRead: result.bytesRead })
        } catch (err) {
          result.problems.push({ id: toHex(id), reason: `chunk: ${(err as Error).message}` })
        }
      }
    }
    await Promise.all(Array.from({ length: READS_IN_FLIGHT }, reader))
  }
  return result
}

interface Placed {
  id: Uint8Array
  /** Where a local store keeps the envelope; undefined: read it through `get`. */
  source?: FilePlace
}

interface Placement {
  present: Placed[]
  absent: Uint8Array[]
}

/** Which of `ids` the store holds, with their places where it can tell them (`locateMany`). */
async function placeChunks(store: Store, ids: readonly Uint8Array[]): Promise<Placement> {
  const places = store.locateMany === undefined ? undefined : await store.locateMany(ids)
  const present: Placed[] = []
  const unplaced: Uint8Array[] = []
  ids.forEach((id, i) => {
    const source = places?.[i]
    if (source !== undefined) present.push({ id, source })
    else unplaced.push(id)
  })
  // not placed: absent, or not yet durable (then read through `get`)
  const isAbsent = unplaced.length === 0 ? [] : await store.missing(unplaced)
  const absent: Uint8Array[] = []
  unplaced.forEach((id, j) => (isAbsent[j] ? absent.push(id) : present.push({ id })))
  return { present, absent }
}

/** Pack order: by file, then offset; objects without a place (read through `get`) last, in their order. */
function comparePlaces(a: FilePlace | undefined, b: FilePlace | undefined): number {
  if (a === undefined || b === undefined) return (a === undefined ? 1 : 0) - (b === undefined ? 1 : 0)
  if (a.path !== b.path) return a.path < b.path ? -1 : 1
  return a.offset - b.offset
}
