/**
 * MemoryStore: the in-memory store, for tests and for wiring the engine without a disk. Same semantics as
 * LocalStore: `put` buffers until `flush` (buffered objects are visible to this handle at once but not counted by
 * `stats`), a tree is refused unless every id it references is present, a snapshot is refused unless its root tree
 * is, the last key slot cannot be removed. Every byte handed in or out is copied, so no caller can alias its state.
 * Nothing survives `close`.
 *
 * Sees only envelopes, ids, sizes and snapshot headers: never a key, a name or plaintext.
 */
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { decodeEnvelope, ID_BYTES, ObjectKind } from '../protocol/object-envelope.js'
import { decodeSnapshotRecord } from '../protocol/snapshot-record.js'
import type { Store, StoredRecord, StoreStats } from '../protocol/store.js'

export class MemoryStore implements Store {
  private config: Uint8Array | undefined
  private readonly keySlots = new Map<string, Uint8Array>()
  private readonly snapshots = new Map<string, Uint8Array>()
  /** Flushed objects, by hex id. */
  private readonly objects = new Map<string, Uint8Array>()
  /** Objects put but not yet flushed, by hex id. */
  private readonly pending = new Map<string, Uint8Array>()
  private isClosed = false

  // ---- config and key slots ----

  async readConfig(): Promise<Uint8Array | undefined> {
    this.throwIfClosed()
    return this.config === undefined ? undefined : copy(this.config)
  }

  async writeConfig(config: Uint8Array): Promise<void> {
    this.throwIfClosed()
    if (this.config !== undefined) throw new ArcaError('REPO_EXISTS', 'A vault already exists in this memory store')
    this.config = copy(config)
  }

  async listKeySlots(): Promise<StoredRecord[]> {
    this.throwIfClosed()
    return listSorted(this.keySlots)
  }

  async putKeySlot(id: Uint8Array, record: Uint8Array): Promise<void> {
    this.throwIfClosed()
    checkId('key slot', id)
    this.keySlots.set(toHex(id), copy(record))
  }

  async removeKeySlot(id: Uint8Array): Promise<void> {
    this.throwIfClosed()
    const hex = toHex(id)
    if (!this.keySlots.has(hex)) throw ArcaError.invalidArgument(`No key slot "${hex}"`)
    if (this.keySlots.size <= 1) throw ArcaError.invalidArgument('Refusing to remove the last key slot: the vault would become unreadable')
    this.keySlots.delete(hex)
  }

  // ---- objects ----

  async missing(ids: readonly Uint8Array[]): Promise<boolean[]> {
    this.throwIfClosed()
    return ids.map((id) => !this.has(toHex(id)))
  }

  /** Keeps a copy: `release` is called before this settles. */
  async put(id: Uint8Array, envelope: Uint8Array, release?: () => void): Promise<void> {
    try {
      this.throwIfClosed()
      checkId('object', id)
      const env = decodeEnvelope(envelope)
      const hex = toHex(id)
      if (this.has(hex)) return
      if (env.kind === ObjectKind.TREE) {
        const absent = env.refs.find((ref) => !this.has(toHex(ref)))
        if (absent !== undefined) throw ArcaError.badMessage(`tree ${hex}`, `references object ${toHex(absent)} which is not stored`)
      }
      this.pending.set(hex, copy(envelope))
    } finally {
      release?.()
    }
  }

  async get(id: Uint8Array): Promise<Uint8Array> {
    this.throwIfClosed()
    const hex = toHex(id)
    const envelope = this.pending.get(hex) ?? this.objects.get(hex)
    if (envelope === undefined) throw ArcaError.chunkNotFound(hex)
    return copy(envelope)
  }

  async flush(): Promise<void> {
    this.throwIfClosed()
    for (const [hex, envelope] of this.pending) this.objects.set(hex, envelope)
    this.pending.clear()
  }

  // ---- snapshots ----

  async commitSnapshot(id: Uint8Array, record: Uint8Array): Promise<void> {
    this.throwIfClosed()
    checkId('snapshot', id)
    const { header } = decodeSnapshotRecord(record)
    await this.flush()
    if (!this.objects.has(toHex(header.rootTree))) {
      throw ArcaError.badMessage(`snapshot ${toHex(id)}`, `root tree ${toHex(header.rootTree)} is not stored`)
    }
    this.snapshots.set(toHex(id), copy(record))
  }

  async listSnapshots(): Promise<StoredRecord[]> {
    this.throwIfClosed()
    return listSorted(this.snapshots)
  }

  async removeSnapshot(id: Uint8Array): Promise<void> {
    this.throwIfClosed()
    const hex = toHex(id)
    if (!this.snapshots.delete(hex)) throw ArcaError.snapshotNotFound(hex)
  }

  /** Counts flushed state only, like LocalStore; `storedBytes` is the bytes of every record held, as there are no packs. */
  async stats(): Promise<StoreStats> {
    this.throwIfClosed()
    let storedBytes = this.config?.length ?? 0
    for (const map of [this.objects, this.keySlots, this.snapshots]) {
      for (const bytes of map.values()) storedBytes += bytes.length
    }
    return { objectCount: this.objects.size, storedBytes, packCount: 0, snapshotCount: this.snapshots.size }
  }

  async close(): Promise<void> {
    if (this.isClosed) return
    await this.flush()
    this.isClosed = true
  }

  // ---- internals ----

  private has(hex: string): boolean {
    return this.pending.has(hex) || this.objects.has(hex)
  }

  /** Use after close is a programmer error, not an operational one. */
  private throwIfClosed(): void {
    if (this.isClosed) throw new Error('MemoryStore used after close')
  }
}

function checkId(what: string, id: Uint8Array): void {
  if (id.length !== ID_BYTES) throw ArcaError.invalidArgument(`Invalid ${what} id: expected ${ID_BYTES} bytes, received ${id.length}`)
}

/** A copy as a Buffer, the type LocalStore hands out. */
function copy(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes)
}

/** Records in byte order of their ids, as LevelDB lists them. Hex of equal-length ids sorts like the bytes. */
function listSorted(records: Map<string, Uint8Array>): StoredRecord[] {
  return [...records.keys()].sort().map((hex) => ({ id: Buffer.from(hex, 'hex'), record: copy(records.get(hex)!) }))
}
