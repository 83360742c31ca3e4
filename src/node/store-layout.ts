/**
 * The on-disk layout of an embedded store and its LevelDB keyspace.
 *
 * DIR/ARCA            marker: "arca-store 1\n"
 * DIR/index/          LevelDB (keys and values are bytes)
 * DIR/packs/XXXX/NNNNNNNN.pack   pack number N in hex; XXXX = N >> 10
 *
 * "C"              -> vault config record
 * "K" id(32)       -> key slot record
 * "O" id(32)       -> object location: version u8 (1) | pack u32 | offset u32 | bodyLength u32 | kind u8
 * "P" pack u32 BE  -> pack record: version u8 (1) | committedBytes u64 | entryCount u32
 * "S" id(32)       -> snapshot record
 * "N"              -> next pack number u32
 */
import { existsSync, readdirSync } from 'node:fs'
import { ArcaError } from '../core/errors.js'
import { join } from 'node:path'

export const STORE_MARKER = 'ARCA'
export const STORE_MARKER_TEXT = 'arca-store 1\n'
export const LOCATION_VERSION = 1
export const PACK_RECORD_VERSION = 1

export function packPath(dir: string, packNumber: number): string {
  const group = (packNumber >>> 10).toString(16).padStart(4, '0')
  return join(dir, 'packs', group, packNumber.toString(16).padStart(8, '0') + '.pack')
}

/** Every pack file of the store, by number. */
export function listPackFiles(dir: string): { packNumber: number; path: string }[] {
  const packsDir = join(dir, 'packs')
  const out: { packNumber: number; path: string }[] = []
  if (!existsSync(packsDir)) return out
  for (const group of readdirSync(packsDir)) {
    for (const name of readdirSync(join(packsDir, group))) {
      const m = /^([0-9a-f]{8})\.pack$/.exec(name)
      if (m !== null) out.push({ packNumber: parseInt(m[1], 16), path: join(packsDir, group, name) })
    }
  }
  return out.sort((a, b) => a.packNumber - b.packNumber)
}

export const KEY_CONFIG = Buffer.from('C')
export const KEY_NEXT_PACK = Buffer.from('N')
/** The number of indexed objects, kept by every index batch so usage needs no walk over the index. */
export const KEY_OBJECT_COUNT = Buffer.from('M')

export function encodeCount(n: number): Buffer {
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(BigInt(n))
  return out
}

export function decodeCount(raw: Buffer): number {
  return Number(raw.readBigUInt64LE(0))
}

function prefixed(prefix: string, id: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + id.length)
  out[0] = prefix.charCodeAt(0)
  out.set(id, 1)
  return out
}

export const keySlotKey = (id: Uint8Array): Buffer => prefixed('K', id)
export const objectKey = (id: Uint8Array): Buffer => prefixed('O', id)
export const snapshotKey = (id: Uint8Array): Buffer => prefixed('S', id)
export function packKey(packNumber: number): Buffer {
  const out = Buffer.alloc(5)
  out[0] = 'P'.charCodeAt(0)
  out.writeUInt32BE(packNumber, 1)
  return out
}

/** Bounds for iterating one prefix. */
export function prefixRange(prefix: string): { gte: Buffer; lt: Buffer } {
  const c = prefix.charCodeAt(0)
  return { gte: Buffer.from([c]), lt: Buffer.from([c + 1]) }
}

export interface ObjectLocation {
  pack: number
  offset: number
  bodyLength: number
  kind: number
}

export function encodeLocation(loc: ObjectLocation): Buffer {
  const out = Buffer.allocUnsafe(14)
  out[0] = LOCATION_VERSION
  out.writeUInt32LE(loc.pack, 1)
  out.writeUInt32LE(loc.offset, 5)
  out.writeUInt32LE(loc.bodyLength, 9)
  out[13] = loc.kind
  return out
}

export function decodeLocation(buf: Uint8Array): ObjectLocation {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length !== 14 || b[0] !== LOCATION_VERSION) throw ArcaError.badMessage('object location record', `${b.length} bytes, version ${b[0]}`)
  return { pack: b.readUInt32LE(1), offset: b.readUInt32LE(5), bodyLength: b.readUInt32LE(9), kind: b[13] }
}

export function encodePackRecord(committedBytes: number, entryCount: number): Buffer {
  const out = Buffer.alloc(13)
  out[0] = PACK_RECORD_VERSION
  out.writeBigUInt64LE(BigInt(committedBytes), 1)
  out.writeUInt32LE(entryCount, 9)
  return out
}

export function decodePackRecord(buf: Uint8Array): { committedBytes: number; entryCount: number } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length !== 13 || b[0] !== PACK_RECORD_VERSION) throw ArcaError.badMessage('pack record', `${b.length} bytes, version ${b[0]}`)
  return { committedBytes: Number(b.readBigUInt64LE(1)), entryCount: b.readUInt32LE(9) }
}
