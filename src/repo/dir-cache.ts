/**
 * The directory cache: what a device remembers of its last backup of a plan, so that the next run recognises an
 * unchanged directory from its scan alone, without loading, decrypting and comparing the parent snapshot's tree.
 * It lives on the device (never in the store), one file per plan, and holds no name: a record maps a tree id to the
 * keyed digest of the listing (path, names, lstat fields) that produced it, the directory's own file and symlink
 * counts and bytes, and the tree ids of its subdirectories. A damaged file fails its MAC and is ignored.
 *
 * file = magic "ARCADIRC" | version u8 (1) | 3 zero bytes | rules digest (32) | count u32
 *        | count x (tree id (32) | record offset u32), sorted by tree id | records | MAC (32)
 * record = listing digest (16) | files u32 | symlinks u32 | logicalBytes u64 | subdirs u32 | subdirs x tree id (32)
 * MAC = keyed BLAKE3(cache key, everything before it); cache key = derive_key("arca 2026-11-23 directory cache v1",
 * treeIdKey); offsets count from the start of the file.
 */
import { ArcaError } from '../core/errors.js'
import type { DirScan } from '../core/native-addon.js'
import { deriveBlake3, keyedBlake3 } from '../dedup/blake3.js'
import type { VaultKeys } from '../dedup/vault-keys.js'

export const DIR_CACHE_VERSION = 1
const MAGIC = Buffer.from('ARCADIRC', 'latin1')
const HEADER_BYTES = 8 + 4 + 32 + 4
const ENTRY_BYTES = 32 + 4
const RECORD_FIXED_BYTES = 16 + 4 + 4 + 8 + 4
const MAC_BYTES = 32
export const LISTING_DIGEST_BYTES = 16
const CONTEXT = 'arca 2026-11-23 directory cache v1'

/** What a backup remembers of one directory. */
export interface DirRecord {
  /** Keyed digest of the directory's path and scan (see `listingDigest`). */
  listing: Uint8Array
  /** Regular files, symlinks and the files' bytes in the directory itself (not below it). */
  files: number
  symlinks: number
  logicalBytes: number
  /** Tree ids of its subdirectories, in tree order. */
  subtrees: Uint8Array[]
}

export function dirCacheKey(keys: Pick<VaultKeys, 'treeIdKey'>): Uint8Array {
  return deriveBlake3(CONTEXT, keys.treeIdKey)
}

/**
 * The digest of what a backup saw of a directory: its absolute path, and its scan (names, lstat fields, errors,
 * names that are not UTF-8). Equal digests mean an equal listing at the same place. The parts are hashed one by
 * one (the lstat fields in place), so a directory of a million entries is not copied into one buffer first.
 */
export function listingDigest(key: Uint8Array, path: string, scan: DirScan): Uint8Array {
  const head = Buffer.alloc(8)
  head.writeUInt32LE(scan.names.length, 0)
  head.writeUInt32LE(scan.invalid.length, 4)
  const invalid = Buffer.concat(scan.invalid.flatMap((raw) => [u32(raw.length), raw]))
  const parts = [
    head,
    keyedBlake3(key, Buffer.from(path + '\0' + scan.names.join('\0'), 'utf8')),
    keyedBlake3(key, u8(scan.stats)),
    keyedBlake3(key, u8(scan.errors)),
    keyedBlake3(key, invalid),
  ]
  return keyedBlake3(key, Buffer.concat(parts)).subarray(0, LISTING_DIGEST_BYTES)
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(value)
  return b
}

function u8(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
}

/** A read-only directory cache, searched in place. */
export class DirCache {
  private constructor(
    private readonly buf: Buffer,
    private readonly count: number,
  ) {}

  /**
   * Decodes a cache file; throws BAD_MESSAGE (saying what is wrong) when it is damaged or was written under other
   * keys, UNSUPPORTED_VERSION for an unknown version. Whether it was written for the same paths and rules is for
   * the caller to compare (`rulesDigest`).
   */
  static decode(key: Uint8Array, file: Uint8Array): DirCache {
    const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
    const bad = (what: string): ArcaError => ArcaError.badMessage('directory cache', what)
    if (buf.length < HEADER_BYTES + MAC_BYTES || !buf.subarray(0, 8).equals(MAGIC)) throw bad('not a directory cache file')
    if (buf[8] !== DIR_CACHE_VERSION) throw ArcaError.unsupportedVersion('directory cache', buf[8], DIR_CACHE_VERSION)
    const body = buf.subarray(0, buf.length - MAC_BYTES)
    if (!Buffer.from(keyedBlake3(key, body)).equals(buf.subarray(body.length))) throw bad('MAC mismatch (damaged, or written for another vault)')
    const count = buf.readUInt32LE(44)
    if (HEADER_BYTES + count * ENTRY_BYTES > body.length) throw bad(`${count} entries do not fit in ${body.length} bytes`)
    const cache = new DirCache(body, count)
    for (let i = 0; i < count; i++) {
      const at = cache.recordAt(i)
      const end = at + RECORD_FIXED_BYTES
      if (at < HEADER_BYTES + count * ENTRY_BYTES || end > body.length || end + body.readUInt32LE(at + 32) * 32 > body.length) {
        throw bad(`record ${i} at offset ${at} lies outside the file`)
      }
      if (i > 0 && body.compare(body, cache.entryAt(i - 1), cache.entryAt(i - 1) + 32, cache.entryAt(i), cache.entryAt(i) + 32) > 0) {
        throw bad(`entry ${i} is out of order`)
      }
    }
    return cache
  }

  get size(): number {
    return this.count
  }

  /** The digest of the paths and rules the cache was written for (`rulesDigest`). */
  get rulesDigest(): Uint8Array {
    return this.buf.subarray(12, 44)
  }

  /** Whether some record is about tree `id`. */
  has(id: Uint8Array): boolean {
    const i = this.lowerBound(id)
    return i < this.count && this.isEntry(i, id)
  }

  /** The record of tree `id` made from the listing `listing`, if any. */
  lookup(id: Uint8Array, listing: Uint8Array): DirRecord | undefined {
    for (let i = this.lowerBound(id); i < this.count && this.isEntry(i, id); i++) {
      const at = this.recordAt(i)
      if (this.buf.compare(listing, 0, LISTING_DIGEST_BYTES, at, at + LISTING_DIGEST_BYTES) === 0) return this.record(at)
    }
    return undefined
  }

  private record(at: number): DirRecord {
    const b = this.buf
    const subtrees: Uint8Array[] = []
    const n = b.readUInt32LE(at + 32)
    for (let k = 0; k < n; k++) subtrees.push(b.subarray(at + RECORD_FIXED_BYTES + k * 32, at + RECORD_FIXED_BYTES + (k + 1) * 32))
    return {
      listing: b.subarray(at, at + LISTING_DIGEST_BYTES),
      files: b.readUInt32LE(at + 16),
      symlinks: b.readUInt32LE(at + 20),
      logicalBytes: Number(b.readBigUInt64LE(at + 24)),
      subtrees,
    }
  }

  private entryAt(i: number): number {
    return HEADER_BYTES + i * ENTRY_BYTES
  }

  private recordAt(i: number): number {
    return this.buf.readUInt32LE(this.entryAt(i) + 32)
  }

  private isEntry(i: number, id: Uint8Array): boolean {
    const at = this.entryAt(i)
    return this.buf.compare(id, 0, 32, at, at + 32) === 0
  }

  /** The first entry whose tree id is not below `id`. */
  private lowerBound(id: Uint8Array): number {
    let lo = 0
    let hi = this.count
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const at = this.entryAt(mid)
      if (this.buf.compare(id, 0, 32, at, at + 32) > 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** Collects the records of one backup, in compact form, and encodes the cache file for the next. */
export class DirCacheWriter {
  private raw = Buffer.allocUnsafe(64 * 1024)
  private used = 0
  /** Start (in `raw`) of each record: tree id (32), then the record as stored. */
  private starts: number[] = []

  add(id: Uint8Array, record: DirRecord): void {
    if (id.length !== 32 || record.listing.length !== LISTING_DIGEST_BYTES) throw new Error('Directory cache records need a 32-byte tree id and a 16-byte listing digest')
    const need = 32 + RECORD_FIXED_BYTES + record.subtrees.length * 32
    if (this.used + need > this.raw.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.raw.length * 2, this.used + need))
      this.raw.copy(grown, 0, 0, this.used)
      this.raw = grown
    }
    const b = this.raw
    let at = this.used
    this.starts.push(at)
    b.set(id, at)
    b.set(record.listing, at + 32)
    at += 32 + 16
    b.writeUInt32LE(record.files, at)
    b.writeUInt32LE(record.symlinks, at + 4)
    b.writeBigUInt64LE(BigInt(record.logicalBytes), at + 8)
    b.writeUInt32LE(record.subtrees.length, at + 16)
    at += 20
    for (const s of record.subtrees) {
      b.set(s, at)
      at += 32
    }
    this.used = at
  }

  encode(key: Uint8Array, rulesDigest: Uint8Array): Buffer {
    const raw = this.raw
    const order = [...this.starts].sort((a, b) => raw.compare(raw, a, a + 32, b, b + 32))
    const count = order.length
    const recordsStart = HEADER_BYTES + count * ENTRY_BYTES
    const out = Buffer.alloc(recordsStart + (this.used - 32 * count) + MAC_BYTES)
    MAGIC.copy(out, 0)
    out[8] = DIR_CACHE_VERSION
    out.set(rulesDigest, 12)
    out.writeUInt32LE(count, 44)
    let at = recordsStart
    order.forEach((start, i) => {
      const entry = HEADER_BYTES + i * ENTRY_BYTES
      raw.copy(out, entry, start, start + 32)
      out.writeUInt32LE(at, entry + 32)
      const len = RECORD_FIXED_BYTES + raw.readUInt32LE(start + 32 + 32) * 32
      raw.copy(out, at, start + 32, start + 32 + len)
      at += len
    })
    out.set(keyedBlake3(key, out.subarray(0, at)), at)
    return out
  }
}

/** The digest of what decides which entries a backup takes: its paths and rules. */
export function rulesDigest(key: Uint8Array, rules: { paths: readonly string[]; excludes: readonly string[]; includes: readonly string[]; skipPaths: readonly string[] }): Uint8Array {
  return keyedBlake3(key, Buffer.from(JSON.stringify([DIR_CACHE_VERSION, rules.paths, rules.excludes, rules.includes, rules.skipPaths]), 'utf8'))
}

