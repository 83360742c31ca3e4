/**
 * LocalStore: the embedded store. Object bodies go to append-only pack files, their locations and all metadata
 * to LevelDB (key-value separation). Write ordering: pack bytes are fsynced before the LevelDB batch that makes
 * them visible, so after a crash at any moment every indexed object is readable, a snapshot is either fully
 * present or absent, and unindexed pack tails are truncated on the next open.
 *
 * Sees only envelopes, ids, sizes and snapshot headers: never a key, a name or plaintext.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { promises as fsp } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { Level } from 'level'
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { decodeEnvelope, ObjectKind } from '../protocol/object-envelope.js'
import { decodeSnapshotRecord } from '../protocol/snapshot-record.js'
import type { FilePlace, Store, StoredRecord, StoreStats } from '../protocol/store.js'
import { ENTRY_HEADER_BYTES, ENTRY_TRAILER_BYTES, EntryType, PACK_TARGET_BYTES } from './pack-format.js'
import { PackWriter } from './pack-writer.js'
import {
  decodeCount, decodeLocation, decodePackRecord, encodeCount, encodeLocation, encodePackRecord, KEY_CONFIG, KEY_NEXT_PACK, KEY_OBJECT_COUNT, keySlotKey, listPackFiles,
  objectKey, packKey, packPath, prefixRange, snapshotKey, STORE_MARKER, STORE_MARKER_TEXT, type ObjectLocation,
} from './store-layout.js'

type Db = Level<Buffer, Buffer>
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }
interface PendingObject extends ObjectLocation { writer: PackWriter }
interface PendingMeta { writer: PackWriter; offset: number; op: BatchOp }

export interface LocalStoreOptions {
  /** Create the store if DIR holds none (DIR must then be absent or empty). */
  create?: boolean
  /** Flush automatically once this many bytes are appended but not yet indexed (default 32 MiB). */
  autoFlushBytes?: number
  packTargetBytes?: number
  /** Receives notes about recovery actions (truncated tails, removed orphan packs). */
  log?: (message: string) => void
}

/** What `getMany` answers for one id. */
export type ManyItem = { envelope: Uint8Array } | typeof ABSENT | typeof NOT_SENT | { error: ArcaError }
export const ABSENT = Object.freeze({ absent: true as const })
export const NOT_SENT = Object.freeze({ notSent: true as const })
interface PlannedRead { index: number; pack: number; offset: number; bodyLength: number; path?: string }

/** getMany reads across gaps of up to this many bytes (entries not asked for) rather than making two reads. */
const MAX_READ_GAP_BYTES = 64 * 1024
const MAX_RUN_BYTES = 4 * 1024 * 1024
const MAX_OPEN_PACKS = 32
/** Pack paths kept by `locate` (one string per pack; 1,024 packs are 64 GiB of data). */
const MAX_CACHED_PACK_PATHS = 1024
/** Backpressure: a put waits when this much is handed to the OS but not yet written. */
const MAX_QUEUED_WRITE_BYTES = 4 * 1024 * 1024

/**
 * Which pack an entry goes to: chunks to data packs; trees, snapshots, key slots and the config to metadata
 * packs, so that what a walk of the trees reads lies together on disk (not one seek per tree through gigabytes
 * of data when the page cache is cold).
 */
type PackClass = 'data' | 'meta'

export class LocalStore implements Store {
  private readonly writers: Record<PackClass, PackWriter | undefined> = { data: undefined, meta: undefined }
  private readonly creatingWriters: Record<PackClass, Promise<PackWriter> | undefined> = { data: undefined, meta: undefined }
  private readonly pending = new Map<string, PendingObject>()
  /** Pack file paths by number, for `locate` (a bounded cache: cleared when full). */
  private readonly packPaths = new Map<number, string>()
  /** Ids whose put is between its checks and its append. */
  private readonly putting = new Set<string>()
  private pendingMeta: PendingMeta[] = []
  private unflushedBytes = 0
  private flushChain: Promise<void> = Promise.resolve()
  private failure: unknown = undefined
  private readonly readers = new Map<number, number>()
  private readonly autoFlushBytes: number
  private committedNext: number
  private readonly packTargetBytes: number
  private appendedBytes: number
  /** Indexed (flushed) objects; stored under KEY_OBJECT_COUNT with every index batch. */
  private objectCount: number

  private constructor(
    readonly dir: string,
    private readonly db: Db,
    private nextPack: number,
    committedBytes: number,
    objectCount: number,
    options: LocalStoreOptions,
  ) {
    this.appendedBytes = committedBytes
    this.objectCount = objectCount
    this.committedNext = nextPack
    this.autoFlushBytes = options.autoFlushBytes ?? 32 * 1024 * 1024
    this.packTargetBytes = options.packTargetBytes ?? PACK_TARGET_BYTES
  }

  static async open(dir: string, options: LocalStoreOptions = {}): Promise<LocalStore> {
    const marker = join(dir, STORE_MARKER)
    if (!existsSync(marker)) {
      if (!options.create) throw new ArcaError('REPO_NOT_FOUND', `No Arca store at "${dir}": the ARCA marker file is missing (run arca init)`)
      if (existsSync(dir) && readdirSync(dir).length > 0) {
        throw new ArcaError('REPO_EXISTS', `Cannot create a store in "${dir}": the directory is not empty`)
      }
      mkdirSync(join(dir, 'packs'), { recursive: true })
      writeFileSync(marker, STORE_MARKER_TEXT)
    } else if (readFileSync(marker, 'utf8') !== STORE_MARKER_TEXT) {
      throw ArcaError.unsupportedVersion(`store marker in "${dir}"`, Number.NaN, 1)
    }
    const db = await openDb(join(dir, 'index'))
    try {
      const nextPack = await recoverPacks(dir, db, options.log ?? (() => {}))
      let committedBytes = 0
      for await (const value of db.values(prefixRange('P'))) committedBytes += decodePackRecord(value).committedBytes
      return new LocalStore(dir, db, nextPack, committedBytes, await objectCountOf(db), options)
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /** Bytes of all pack files including appended, not yet flushed entries; cheap (a counter), for quotas. */
  get usedBytes(): number {
    return this.appendedBytes
  }

  // ---- config and key slots ----

  async readConfig(): Promise<Uint8Array | undefined> {
    return this.db.get(KEY_CONFIG)
  }

  async writeConfig(config: Uint8Array): Promise<void> {
    if ((await this.db.get(KEY_CONFIG)) !== undefined) throw new ArcaError('REPO_EXISTS', `A vault already exists in "${this.dir}"`)
    await this.appendMeta(EntryType.CONFIG, new Uint8Array(32), config, { type: 'put', key: KEY_CONFIG, value: Buffer.from(config) })
    await this.flush()
  }

  async listKeySlots(): Promise<StoredRecord[]> {
    return this.listPrefix('K')
  }

  async putKeySlot(id: Uint8Array, record: Uint8Array): Promise<void> {
    checkId(id, 'key slot id')
    await this.appendMeta(EntryType.KEY_SLOT, id, record, { type: 'put', key: keySlotKey(id), value: Buffer.from(record) })
    await this.flush()
  }

  async removeKeySlot(id: Uint8Array): Promise<void> {
    checkId(id, 'key slot id')
    const slots = await this.listKeySlots()
    if (!slots.some((s) => Buffer.compare(s.id, id) === 0)) throw ArcaError.invalidArgument(`No key slot "${toHex(id)}"`)
    if (slots.length <= 1) throw ArcaError.invalidArgument('Refusing to remove the last key slot: the vault would become unreadable')
    await this.appendMeta(EntryType.KEY_SLOT_REMOVED, id, new Uint8Array(0), { type: 'del', key: keySlotKey(id) })
    await this.flush()
  }

  // ---- objects ----

  async missing(ids: readonly Uint8Array[]): Promise<boolean[]> {
    this.throwIfFailed()
    return ids.map((id) => !this.pending.has(toHex(id)) && !this.isIndexed(id))
  }

  /** Pack writers copy what they append: once `put` settles the store holds no reference to `envelope`. */
  async put(id: Uint8Array, envelope: Uint8Array, release?: () => void): Promise<void> {
    try {
      await this.putMany([{ id, envelope }])
    } finally {
      release?.()
    }
  }

  /**
   * Puts objects in order; those already stored (or put twice in the list) are skipped. Every envelope is decoded
   * and every id looked up once, before anything is written; `admit` then receives the bytes the new objects will
   * take in packs and may throw (a quota refusal) to write nothing. A tree whose references are not stored (or
   * earlier in the list) is refused with BAD_MESSAGE; the objects before it stay written, each complete.
   * Every envelope is copied into a pack writer's stage before this resolves.
   */
  async putMany(objects: readonly { id: Uint8Array; envelope: Uint8Array }[], admit?: (newBytes: number) => void): Promise<void> {
    this.throwIfFailed()
    const fresh: { id: Uint8Array; envelope: Uint8Array; hex: string; kind: ObjectKind; refs: Uint8Array[] }[] = []
    const listed = new Set<string>()
    let newBytes = 0
    for (const { id, envelope } of objects) {
      checkId(id, 'object id')
      const env = decodeEnvelope(envelope)
      const hex = toHex(id)
      if (listed.has(hex) || this.pending.has(hex) || this.putting.has(hex) || this.isIndexed(id)) continue
      listed.add(hex)
      fresh.push({ id, envelope, hex, kind: env.kind, refs: env.refs })
      newBytes += ENTRY_HEADER_BYTES + envelope.length + ENTRY_TRAILER_BYTES
    }
    admit?.(newBytes)
    for (const f of fresh) this.putting.add(f.hex)
    try {
      const unindexed = await this.unindexedRefs(fresh)
      for (const f of fresh) {
        if (f.kind === ObjectKind.TREE) {
          for (const ref of f.refs) {
            const hex = toHex(ref)
            // not indexed when asked, and not written since (earlier in this list, or by another put)
            if (unindexed.has(hex) && !this.pending.has(hex) && !this.isIndexed(ref)) {
              throw ArcaError.badMessage(`tree ${f.hex}`, `references object ${hex} which is not stored`)
            }
          }
        }
        const writer = await this.currentWriter(f.kind === ObjectKind.CHUNK ? 'data' : 'meta')
        const offset = writer.append(EntryType.OBJECT, f.id, f.envelope)
        this.pending.set(f.hex, { pack: writer.packNumber, offset, bodyLength: f.envelope.length, kind: f.kind, writer })
        this.putting.delete(f.hex)
        this.noteAppended(writer, f.envelope.length)
        if (writer.queuedBytes > MAX_QUEUED_WRITE_BYTES) await writer.settle()
      }
    } finally {
      for (const f of fresh) this.putting.delete(f.hex)
    }
  }

  /**
   * The references of the trees among `objects` that are neither pending nor in the index, as hex: one `hasMany`
   * on a libuv thread instead of one lookup per reference on this one (a changed directory's tree lists every
   * chunk of its files: tens of thousands of lookups on a day-2 backup).
   */
  private async unindexedRefs(objects: readonly { kind: ObjectKind; refs: Uint8Array[] }[]): Promise<Set<string>> {
    const asked = new Map<string, Uint8Array>()
    for (const o of objects) {
      if (o.kind !== ObjectKind.TREE) continue
      for (const ref of o.refs) {
        const hex = toHex(ref)
        if (!this.pending.has(hex) && !asked.has(hex)) asked.set(hex, ref)
      }
    }
    if (asked.size === 0) return new Set()
    const hexes = [...asked.keys()]
    const present = await this.db.hasMany(hexes.map((hex) => objectKey(asked.get(hex)!)))
    return new Set(hexes.filter((_, i) => !present[i]))
  }

  private isIndexed(id: Uint8Array): boolean {
    return this.db.getSync(objectKey(id)) !== undefined
  }

  async get(id: Uint8Array): Promise<Uint8Array> {
    this.throwIfFailed()
    const hex = toHex(id)
    const pending = this.pending.get(hex)
    if (pending !== undefined) {
      await pending.writer.drain()
      return this.readBody(pending.pack, pending.offset, pending.bodyLength, pending.writer.path)
    }
    const raw = this.db.getSync(objectKey(id))
    if (raw === undefined) throw ArcaError.chunkNotFound(hex)
    const loc = decodeLocation(raw)
    return this.readBody(loc.pack, loc.offset, loc.bodyLength)
  }

  /**
   * Reads many objects for one answer: each id's envelope, ABSENT, or NOT_SENT once `budgetBytes` of envelopes are
   * taken (the first found object is always sent). Reads are sorted by pack and offset, and neighbouring entries
   * (a restore asks for them in the order they were stored) are read with one system call.
   */
  async getMany(ids: readonly Uint8Array[], budgetBytes: number): Promise<ManyItem[]> {
    this.throwIfFailed()
    const out: ManyItem[] = new Array<ManyItem>(ids.length)
    const reads: PlannedRead[] = []
    let budget = budgetBytes
    for (let index = 0; index < ids.length; index++) {
      if (reads.length > 0 && budget <= 0) {
        out[index] = NOT_SENT
        continue
      }
      const pending = this.pending.get(toHex(ids[index]))
      let read: PlannedRead
      if (pending !== undefined) {
        await pending.writer.drain()
        read = { index, pack: pending.pack, offset: pending.offset, bodyLength: pending.bodyLength, path: pending.writer.path }
      } else {
        const raw = this.db.getSync(objectKey(ids[index]))
        if (raw === undefined) {
          out[index] = ABSENT
          continue
        }
        const loc = decodeLocation(raw)
        read = { index, pack: loc.pack, offset: loc.offset, bodyLength: loc.bodyLength }
      }
      if (reads.length > 0 && read.bodyLength > budget) {
        out[index] = NOT_SENT
        budget = 0
        continue
      }
      budget -= read.bodyLength
      reads.push(read)
    }
    reads.sort((a, b) => a.pack - b.pack || a.offset - b.offset)
    for (let first = 0; first < reads.length; ) {
      let last = first
      const start = reads[first].offset + ENTRY_HEADER_BYTES
      while (last + 1 < reads.length) {
        const next = reads[last + 1]
        const end = next.offset + ENTRY_HEADER_BYTES + next.bodyLength
        if (next.pack !== reads[first].pack || next.offset - (reads[last].offset + reads[last].bodyLength) > MAX_READ_GAP_BYTES || end - start > MAX_RUN_BYTES) break
        last++
      }
      this.readRun(reads.slice(first, last + 1), start, out)
      first = last + 1
    }
    return out
  }

  /** One read for neighbouring entries of one pack; every envelope is a view of the run's buffer. */
  private readRun(run: PlannedRead[], start: number, out: ManyItem[]): void {
    const tail = run[run.length - 1]
    const span = tail.offset + ENTRY_HEADER_BYTES + tail.bodyLength - start
    const buf = Buffer.allocUnsafeSlow(span)
    let bytesRead: number
    try {
      bytesRead = readSync(this.readerFor(run[0].pack, run[0].path), buf, 0, span, start)
    } catch (err) {
      for (const r of run) out[r.index] = { error: ArcaError.ioError(`Cannot read pack ${r.pack}`, err) }
      return
    }
    for (const r of run) {
      const at = r.offset + ENTRY_HEADER_BYTES - start
      out[r.index] = at + r.bodyLength <= bytesRead
        ? { envelope: buf.subarray(at, at + r.bodyLength) }
        : { error: shortPack(r.pack, r.offset, r.bodyLength) }
    }
  }

  locate(id: Uint8Array): FilePlace | undefined {
    if (this.pending.has(toHex(id))) return undefined
    return this.placeOf(this.db.getSync(objectKey(id)))
  }

  /** `locate` for many ids with one `getMany`, which LevelDB answers on a libuv thread. */
  async locateMany(ids: readonly Uint8Array[]): Promise<(FilePlace | undefined)[]> {
    this.throwIfFailed()
    const raws = await this.db.getMany(ids.map(objectKey))
    return raws.map((raw, i) => (this.pending.size > 0 && this.pending.has(toHex(ids[i])) ? undefined : this.placeOf(raw)))
  }

  private placeOf(raw: Uint8Array | undefined): FilePlace | undefined {
    if (raw === undefined) return undefined
    const loc = decodeLocation(raw)
    let path = this.packPaths.get(loc.pack)
    if (path === undefined) {
      if (this.packPaths.size >= MAX_CACHED_PACK_PATHS) this.packPaths.clear()
      path = packPath(this.dir, loc.pack)
      this.packPaths.set(loc.pack, path)
    }
    return { path, offset: loc.offset + ENTRY_HEADER_BYTES, length: loc.bodyLength }
  }

  flush(): Promise<void> {
    const next = this.flushChain.then(() => this.flushNow())
    this.flushChain = next.catch((err) => {
      this.failure ??= err
    })
    return next
  }

  // ---- snapshots ----

  async commitSnapshot(id: Uint8Array, record: Uint8Array): Promise<void> {
    checkId(id, 'snapshot id')
    const { header } = decodeSnapshotRecord(record)
    const [rootAbsent] = await this.missing([header.rootTree])
    if (rootAbsent) {
      throw ArcaError.badMessage(`snapshot ${toHex(id)}`, `root tree ${toHex(header.rootTree)} is not stored`)
    }
    await this.appendMeta(EntryType.SNAPSHOT, id, record, { type: 'put', key: snapshotKey(id), value: Buffer.from(record) })
    await this.flush()
  }

  async listSnapshots(): Promise<StoredRecord[]> {
    return this.listPrefix('S')
  }

  async removeSnapshot(id: Uint8Array): Promise<void> {
    if ((await this.db.get(snapshotKey(id))) === undefined) throw ArcaError.snapshotNotFound(toHex(id))
    await this.appendMeta(EntryType.SNAPSHOT_REMOVED, id, new Uint8Array(0), { type: 'del', key: snapshotKey(id) })
    await this.flush()
  }

  async stats(): Promise<StoreStats> {
    let storedBytes = 0
    let packCount = 0
    for await (const [, value] of this.db.iterator(prefixRange('P'))) {
      storedBytes += decodePackRecord(value).committedBytes
      packCount++
    }
    const snapshotCount = (await this.listSnapshots()).length
    return { objectCount: this.objectCount, storedBytes, packCount, snapshotCount }
  }

  async close(): Promise<void> {
    try {
      if (this.failure === undefined) await this.flush()
    } finally {
      for (const cls of ['data', 'meta'] as const) {
        await this.writers[cls]?.close().catch(() => {})
        this.writers[cls] = undefined
      }
      for (const fd of this.readers.values()) closeSync(fd)
      this.readers.clear()
      await this.db.close()
    }
  }

  // ---- internals ----

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw ArcaError.ioError(`Store "${this.dir}" failed earlier`, this.failure)
  }

  private async listPrefix(prefix: string): Promise<StoredRecord[]> {
    const out: StoredRecord[] = []
    for await (const [key, value] of this.db.iterator(prefixRange(prefix))) out.push({ id: key.subarray(1), record: value })
    return out
  }

  private async appendMeta(type: EntryType, id: Uint8Array, body: Uint8Array, op: BatchOp): Promise<void> {
    this.throwIfFailed()
    const writer = await this.currentWriter('meta')
    const offset = writer.append(type, id, body)
    this.pendingMeta.push({ writer, offset, op })
    this.noteAppended(writer, body.length)
  }

  private noteAppended(writer: PackWriter, bytes: number): void {
    this.unflushedBytes += bytes
    this.appendedBytes += ENTRY_HEADER_BYTES + bytes + ENTRY_TRAILER_BYTES
    if (writer.sizeBytes >= this.packTargetBytes || this.unflushedBytes >= this.autoFlushBytes) {
      this.unflushedBytes = 0
      if (writer.sizeBytes >= this.packTargetBytes) {
        if (this.writers.data === writer) this.writers.data = undefined
        if (this.writers.meta === writer) this.writers.meta = undefined
      }
      void this.flush().catch(() => {})
    }
  }

  private async currentWriter(cls: PackClass): Promise<PackWriter> {
    const current = this.writers[cls]
    if (current !== undefined) return current
    let creating = this.creatingWriters[cls]
    if (creating === undefined) {
      creating = (async () => {
        try {
          const packNumber = this.nextPack++
          const path = packPath(this.dir, packNumber)
          await fsp.mkdir(dirname(path), { recursive: true })
          const writer = await PackWriter.create(packNumber, path)
          this.appendedBytes += writer.sizeBytes
          this.writers[cls] = writer
          return writer
        } finally {
          this.creatingWriters[cls] = undefined
        }
      })()
      this.creatingWriters[cls] = creating
    }
    return creating
  }

  private async flushNow(): Promise<void> {
    const writers = new Set<PackWriter>()
    for (const p of this.pending.values()) writers.add(p.writer)
    for (const m of this.pendingMeta) writers.add(m.writer)
    if (writers.size === 0) return
    const syncedBytes = new Map<PackWriter, number>()
    const syncedEntries = new Map<PackWriter, number>()
    for (const w of writers) {
      syncedBytes.set(w, w.sizeBytes)
      syncedEntries.set(w, w.entryCount)
      await w.sync()
    }
    const ops: BatchOp[] = []
    const done: string[] = []
    for (const [hex, p] of this.pending) {
      if (p.offset >= (syncedBytes.get(p.writer) ?? 0)) continue
      ops.push({ type: 'put', key: objectKey(Buffer.from(hex, 'hex')), value: encodeLocation(p) })
      done.push(hex)
    }
    const committedMeta = new Set<PendingMeta>()
    for (const m of this.pendingMeta) {
      if (m.offset < (syncedBytes.get(m.writer) ?? 0)) {
        ops.push(m.op)
        committedMeta.add(m)
      }
    }
    let maxPack = 0
    for (const [w, bytes] of syncedBytes) {
      ops.push({ type: 'put', key: packKey(w.packNumber), value: encodePackRecord(bytes, syncedEntries.get(w) ?? 0) })
      maxPack = Math.max(maxPack, w.packNumber)
    }
    const next = Buffer.alloc(4)
    // only numbers of committed packs: a pack at or above N without a record is an orphan of a crashed session
    next.writeUInt32LE(Math.max(this.committedNext, maxPack + 1))
    this.committedNext = Math.max(this.committedNext, maxPack + 1)
    ops.push({ type: 'put', key: KEY_NEXT_PACK, value: next })
    ops.push({ type: 'put', key: KEY_OBJECT_COUNT, value: encodeCount(this.objectCount + done.length) })
    await this.db.batch(ops)
    this.objectCount += done.length
    for (const hex of done) this.pending.delete(hex)
    // entries appended while the batch was written stay pending for the next flush
    this.pendingMeta = this.pendingMeta.filter((m) => !committedMeta.has(m))
    for (const w of writers) {
      if (w !== this.writers.data && w !== this.writers.meta && w.sizeBytes === syncedBytes.get(w)) await w.close()
    }
  }

  private readBody(pack: number, offset: number, bodyLength: number, path?: string): Uint8Array {
    const fd = this.readerFor(pack, path)
    const out = Buffer.allocUnsafeSlow(bodyLength)
    const bytesRead = readSync(fd, out, 0, bodyLength, offset + ENTRY_HEADER_BYTES)
    if (bytesRead !== bodyLength) {
      throw shortPack(pack, offset, bodyLength)
    }
    return out
  }

  private readerFor(pack: number, path?: string): number {
    let fd = this.readers.get(pack)
    if (fd === undefined) {
      if (this.readers.size >= MAX_OPEN_PACKS) {
        const [oldest, oldFd] = this.readers.entries().next().value as [number, number]
        this.readers.delete(oldest)
        closeSync(oldFd)
      }
      fd = openSync(path ?? packPath(this.dir, pack), 'r')
      this.readers.set(pack, fd)
    }
    return fd
  }
}

function shortPack(pack: number, offset: number, bodyLength: number): ArcaError {
  return ArcaError.integrity(`pack ${pack} is shorter than its index says (offset ${offset}, ${bodyLength} bytes)`)
}

/** The stored object count; a store from before the counter is counted once, and the count saved. */
async function objectCountOf(db: Db): Promise<number> {
  const raw = await db.get(KEY_OBJECT_COUNT)
  if (raw !== undefined) return decodeCount(raw)
  let n = 0
  for await (const _ of db.keys(prefixRange('O'))) n++
  await db.put(KEY_OBJECT_COUNT, encodeCount(n))
  return n
}

async function openDb(path: string): Promise<Db> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  try {
    await db.open()
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new ArcaError('REPO_LOCKED', `Store index "${path}" is in use by another process`, { cause: err })
    }
    throw ArcaError.ioError(`Cannot open store index "${path}"`, err)
  }
  return db
}

/** Truncates unindexed pack tails and removes packs that never had a committed byte. Returns the next pack number. */
async function recoverPacks(dir: string, db: Db, log: (message: string) => void): Promise<number> {
  const nextRaw = await db.get(KEY_NEXT_PACK)
  const committedNext = nextRaw === undefined ? 1 : nextRaw.readUInt32LE(0)
  let next = committedNext
  for (const { packNumber, path } of listPackFiles(dir)) {
    const name = basename(path)
    next = Math.max(next, packNumber + 1)
    const record = await db.get(packKey(packNumber))
    if (record === undefined) {
      if (packNumber < committedNext || nextRaw === undefined) {
        // the index should know this pack: it is damaged or missing, and deleting would lose data
        throw new ArcaError('INTEGRITY_ERROR', `The store index of "${dir}" does not know pack ${name}: the index is damaged or missing; run arca repair --repo ${dir}`)
      }
      log(`Removed pack ${name}: nothing in it was ever committed (interrupted write)`)
      unlinkSync(path)
      continue
    }
    const { committedBytes } = decodePackRecord(record)
    const size = statSync(path).size
    if (size > committedBytes) {
      log(`Truncated pack ${name} from ${size} to ${committedBytes} bytes: uncommitted tail of an interrupted write`)
      truncateSync(path, committedBytes)
    } else if (size < committedBytes) {
      log(`Pack ${name} is ${size} bytes but ${committedBytes} were committed: run arca check`)
    }
  }
  return next
}

function checkId(id: Uint8Array, what: string): void {
  if (id.length !== 32) throw ArcaError.invalidArgument(`Invalid ${what}: expected 32 bytes, received ${id.length}`)
}
