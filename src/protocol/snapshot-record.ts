/**
 * The snapshot record: a cleartext header the storage side may read (times, sizes, opaque ids, device name) and
 * a sealed body only the vault can read (plan name, paths, host, statistics, warnings).
 *
 * record = version u8 (1) | createdAt u64 LE (ms) | mode u8 | rootTree (32) | planId (16)
 *          | fileCount u64 LE | logicalBytes u64 LE | addedBytes u64 LE
 *          | deviceNameLength u8 | deviceName (UTF-8) | sealed body
 */
import { ArcaError } from '../core/errors.js'
import { ID_BYTES } from './object-envelope.js'

export const SNAPSHOT_VERSION = 1
export const PLAN_ID_BYTES = 16
export const MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024
const MAX_DEVICE_NAME_BYTES = 128

export type BackupMode = 'full' | 'incremental' | 'differential'
const MODE_CODES: Record<BackupMode, number> = { full: 1, incremental: 2, differential: 3 }
const MODE_NAMES: Record<number, BackupMode> = { 1: 'full', 2: 'incremental', 3: 'differential' }

export interface SnapshotHeader {
  createdAt: number
  mode: BackupMode
  rootTree: Uint8Array
  planId: Uint8Array
  fileCount: number
  logicalBytes: number
  addedBytes: number
  deviceName: string
}

export function encodeSnapshotHeader(h: SnapshotHeader): Buffer {
  const device = Buffer.from(h.deviceName, 'utf8')
  if (device.length > MAX_DEVICE_NAME_BYTES) {
    throw ArcaError.invalidArgument(`Device name too long: at most ${MAX_DEVICE_NAME_BYTES} bytes, received ${device.length}`)
  }
  if (h.rootTree.length !== ID_BYTES || h.planId.length !== PLAN_ID_BYTES) throw new Error('Bad id length in snapshot header')
  const out = Buffer.alloc(1 + 8 + 1 + ID_BYTES + PLAN_ID_BYTES + 24 + 1 + device.length)
  let at = 0
  out[at++] = SNAPSHOT_VERSION
  out.writeBigUInt64LE(BigInt(h.createdAt), at)
  at += 8
  out[at++] = MODE_CODES[h.mode]
  out.set(h.rootTree, at)
  at += ID_BYTES
  out.set(h.planId, at)
  at += PLAN_ID_BYTES
  for (const n of [h.fileCount, h.logicalBytes, h.addedBytes]) {
    out.writeBigUInt64LE(BigInt(n), at)
    at += 8
  }
  out[at++] = device.length
  device.copy(out, at)
  return out
}

export function decodeSnapshotRecord(bytes: Uint8Array): { header: SnapshotHeader; headerBytes: Uint8Array; sealed: Uint8Array } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length > MAX_SNAPSHOT_BYTES) throw ArcaError.badMessage('snapshot record', `${buf.length} bytes exceeds ${MAX_SNAPSHOT_BYTES}`)
  if (buf.length < 1) throw ArcaError.badMessage('snapshot record', 'empty')
  if (buf[0] !== SNAPSHOT_VERSION) throw ArcaError.unsupportedVersion('snapshot record', buf[0], SNAPSHOT_VERSION)
  const fixed = 1 + 8 + 1 + ID_BYTES + PLAN_ID_BYTES + 24 + 1
  if (buf.length < fixed) throw ArcaError.badMessage('snapshot record', `${buf.length} bytes is shorter than its header`)
  let at = 1
  const createdAtBig = buf.readBigUInt64LE(at)
  if (createdAtBig > BigInt(Number.MAX_SAFE_INTEGER)) throw ArcaError.badMessage('snapshot record', `createdAt ${createdAtBig} out of range`)
  const createdAt = Number(createdAtBig)
  at += 8
  const mode = MODE_NAMES[buf[at++]]
  if (mode === undefined) throw ArcaError.badMessage('snapshot record', `unknown mode ${buf[at - 1]}`)
  const rootTree = buf.subarray(at, at + ID_BYTES)
  at += ID_BYTES
  const planId = buf.subarray(at, at + PLAN_ID_BYTES)
  at += PLAN_ID_BYTES
  const counts: number[] = []
  for (let i = 0; i < 3; i++) {
    const n = buf.readBigUInt64LE(at)
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw ArcaError.badMessage('snapshot record', `count ${n} out of range`)
    counts.push(Number(n))
    at += 8
  }
  const deviceLength = buf[at++]
  if (deviceLength > MAX_DEVICE_NAME_BYTES || at + deviceLength > buf.length) {
    throw ArcaError.badMessage('snapshot record', `device name length ${deviceLength} out of range`)
  }
  const deviceName = buf.subarray(at, at + deviceLength).toString('utf8')
  at += deviceLength
  return {
    header: { createdAt, mode, rootTree, planId, fileCount: counts[0], logicalBytes: counts[1], addedBytes: counts[2], deviceName },
    headerBytes: buf.subarray(0, at),
    sealed: buf.subarray(at),
  }
}
