/**
 * Pack files: append-only containers of entries. Every metadata change is also appended as an entry, so the
 * whole LevelDB index can be rebuilt from the packs alone (`arca repair`).
 *
 * pack  = magic "ARCAPACK" (8) | version u32 LE (1) | packNumber u32 LE | entry*
 * entry = bodyLength u32 LE | type u8 | id (32) | body | crc32 u32 LE (over bodyLength through body)
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import { ArcaError } from '../core/errors.js'
import { ID_BYTES, MAX_OBJECT_BYTES } from '../protocol/object-envelope.js'

export const PACK_MAGIC = Buffer.from('ARCAPACK')
export const PACK_VERSION = 1
export const PACK_HEADER_BYTES = 16
export const ENTRY_HEADER_BYTES = 4 + 1 + ID_BYTES
export const ENTRY_TRAILER_BYTES = 4
/** A pack is closed and a new one started once it reaches this size. */
export const PACK_TARGET_BYTES = 64 * 1024 * 1024

export const EntryType = {
  OBJECT: 1,
  SNAPSHOT: 2,
  SNAPSHOT_REMOVED: 3,
  CONFIG: 4,
  KEY_SLOT: 5,
  KEY_SLOT_REMOVED: 6,
} as const
export type EntryType = (typeof EntryType)[keyof typeof EntryType]
const MAX_ENTRY_TYPE = 6

export function packHeader(packNumber: number): Buffer {
  const out = Buffer.alloc(PACK_HEADER_BYTES)
  PACK_MAGIC.copy(out, 0)
  out.writeUInt32LE(PACK_VERSION, 8)
  out.writeUInt32LE(packNumber, 12)
  return out
}

export function entryHeader(type: EntryType, id: Uint8Array, bodyLength: number): Buffer {
  if (id.length !== ID_BYTES) throw new Error(`Pack entry id must be ${ID_BYTES} bytes, received ${id.length}`)
  const out = Buffer.alloc(ENTRY_HEADER_BYTES)
  out.writeUInt32LE(bodyLength, 0)
  out[4] = type
  out.set(id, 5)
  return out
}

/** CRC-32 of an entry's header and body. Node 20's zlib.crc32 can return 0 for an empty view, hence the branch. */
export function entryCrc(header: Uint8Array, body: Uint8Array): number {
  return body.length === 0 ? crc32(header) : crc32(body, crc32(header))
}

export function entryTrailer(header: Uint8Array, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ENTRY_TRAILER_BYTES)
  out.writeUInt32LE(entryCrc(header, body), 0)
  return out
}

export interface ScannedEntry {
  type: EntryType
  id: Uint8Array
  /** Offset of the entry (its length field) in the pack. */
  offset: number
  bodyLength: number
  body: Uint8Array
}

export interface PackScan {
  packNumber: number
  entries: ScannedEntry[]
  /** Length of the valid prefix; anything after it is an orphan tail. */
  validBytes: number
  fileBytes: number
}

/**
 * Reads a whole pack and validates every entry. Stops at the first entry that is truncated, has an impossible
 * length or type, or fails its CRC: what follows is an orphan tail. Throws only when the header itself is wrong.
 */
export function scanPack(path: string, options: { keepBodies?: (type: EntryType) => boolean } = {}): PackScan {
  const fd = openSync(path, 'r')
  try {
    const fileBytes = fstatSync(fd).size
    const header = Buffer.alloc(PACK_HEADER_BYTES)
    if (readSync(fd, header, 0, PACK_HEADER_BYTES, 0) < PACK_HEADER_BYTES || !header.subarray(0, 8).equals(PACK_MAGIC)) {
      throw ArcaError.badMessage(`pack ${path}`, 'missing ARCAPACK header')
    }
    const version = header.readUInt32LE(8)
    if (version !== PACK_VERSION) throw ArcaError.unsupportedVersion(`pack ${path}`, version, PACK_VERSION)
    const packNumber = header.readUInt32LE(12)
    const entries: ScannedEntry[] = []
    let offset = PACK_HEADER_BYTES
    const head = Buffer.alloc(ENTRY_HEADER_BYTES)
    while (offset + ENTRY_HEADER_BYTES + ENTRY_TRAILER_BYTES <= fileBytes) {
      readSync(fd, head, 0, ENTRY_HEADER_BYTES, offset)
      const bodyLength = head.readUInt32LE(0)
      const type = head[4]
      const end = offset + ENTRY_HEADER_BYTES + bodyLength + ENTRY_TRAILER_BYTES
      if (type < 1 || type > MAX_ENTRY_TYPE || bodyLength > MAX_OBJECT_BYTES || end > fileBytes) break
      const rest = Buffer.alloc(bodyLength + ENTRY_TRAILER_BYTES)
      readSync(fd, rest, 0, rest.length, offset + ENTRY_HEADER_BYTES)
      const body = rest.subarray(0, bodyLength)
      if (rest.readUInt32LE(bodyLength) !== entryCrc(head, body)) break
      const keep = options.keepBodies?.(type as EntryType) ?? true
      entries.push({
        type: type as EntryType,
        id: Buffer.from(head.subarray(5, 5 + ID_BYTES)),
        offset,
        bodyLength,
        body: keep ? body : new Uint8Array(0),
      })
      offset = end
    }
    return { packNumber, entries, validBytes: offset, fileBytes }
  } finally {
    closeSync(fd)
  }
}
