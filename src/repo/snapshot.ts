/**
 * Snapshots as the vault sees them: the cleartext header (protocol/snapshot-record.ts) plus a sealed JSON body.
 *
 * body (JSON, sealed under the data key, aad = "arca/snapshot/v1" | snapshotId | header bytes):
 *   { version: 1, plan, paths, hostname, username, parent, startedAt, finishedAt, stats, warnings }
 */
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { open, seal } from '../dedup/seal.js'
import { keyedBlake3 } from '../dedup/blake3.js'
import type { VaultKeys } from '../dedup/vault-keys.js'
import { decodeSnapshotRecord, encodeSnapshotHeader, PLAN_ID_BYTES, type BackupMode, type SnapshotHeader } from '../protocol/snapshot-record.js'

export const SNAPSHOT_BODY_VERSION = 1
const AAD_PREFIX = Buffer.from('arca/snapshot/v1')

export interface BackupStats {
  filesNew: number
  filesChanged: number
  filesUnchanged: number
  filesDeleted: number
  filesSkipped: number
  dirs: number
  symlinks: number
  bytesRead: number
  logicalBytes: number
  chunksNew: number
  /** Raw bytes of chunks the store did not have. */
  bytesNew: number
  /** Envelope bytes sent to the store for them (after compression, padding and encryption). */
  bytesStored: number
  /** Compressed bytes of the new chunks before padding and encryption. */
  bytesCompressed: number
}

export interface BackupWarning {
  path: string
  reason: string
}

export interface SnapshotBody {
  version: number
  plan: string
  paths: string[]
  hostname: string
  username: string
  parent: string | null
  startedAt: number
  finishedAt: number
  stats: BackupStats
  warnings: BackupWarning[]
  warningCount: number
}

export interface Snapshot {
  id: Uint8Array
  idHex: string
  header: SnapshotHeader
  body: SnapshotBody
}

export function planId(keys: Pick<VaultKeys, 'planIdKey'>, plan: string): Uint8Array {
  return keyedBlake3(keys.planIdKey, Buffer.from(plan, 'utf8')).subarray(0, PLAN_ID_BYTES)
}

export function encodeSnapshot(keys: Pick<VaultKeys, 'dataKey'>, id: Uint8Array, header: SnapshotHeader, body: SnapshotBody, salt?: Uint8Array): Buffer {
  const headerBytes = encodeSnapshotHeader(header)
  const { sealed } = seal(keys.dataKey, Buffer.from(JSON.stringify(body), 'utf8'), Buffer.concat([AAD_PREFIX, id, headerBytes]), { salt })
  return Buffer.concat([headerBytes, sealed])
}

export function decodeSnapshot(keys: Pick<VaultKeys, 'dataKey'>, id: Uint8Array, record: Uint8Array): Snapshot {
  const { header, headerBytes, sealed } = decodeSnapshotRecord(record)
  const plain = open(keys.dataKey, sealed, Buffer.concat([AAD_PREFIX, id, headerBytes]))
  let body: SnapshotBody
  try {
    body = JSON.parse(Buffer.from(plain).toString('utf8')) as SnapshotBody
  } catch (err) {
    throw ArcaError.badMessage(`snapshot ${toHex(id)}`, 'body is not valid JSON')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw ArcaError.badMessage(`snapshot ${toHex(id)}`, 'body is not a JSON object')
  }
  if (body.version !== SNAPSHOT_BODY_VERSION) throw ArcaError.unsupportedVersion('snapshot body', body.version, SNAPSHOT_BODY_VERSION)
  return { id, idHex: toHex(id), header, body }
}

/** Newest first. */
export function sortSnapshots(list: Snapshot[]): Snapshot[] {
  return list.sort((a, b) => b.header.createdAt - a.header.createdAt || (a.idHex < b.idHex ? 1 : -1))
}

/** `latest` or a unique id prefix (at least 4 hex digits). */
export function resolveSnapshot(list: Snapshot[], ref: string): Snapshot {
  if (ref === 'latest') {
    const latest = sortSnapshots([...list])[0]
    if (latest === undefined) throw ArcaError.snapshotNotFound('latest (the vault has no snapshots)')
    return latest
  }
  if (!/^[0-9a-f]{4,64}$/.test(ref)) {
    throw ArcaError.invalidArgument(`Invalid snapshot reference "${ref}": expected "latest" or at least 4 hex digits of an id`)
  }
  const matches = list.filter((s) => s.idHex.startsWith(ref))
  if (matches.length === 0) throw ArcaError.snapshotNotFound(ref)
  if (matches.length > 1) throw ArcaError.invalidArgument(`Snapshot reference "${ref}" is ambiguous: ${matches.length} snapshots match`)
  return matches[0]
}

export function emptyStats(): BackupStats {
  return {
    filesNew: 0, filesChanged: 0, filesUnchanged: 0, filesDeleted: 0, filesSkipped: 0, dirs: 0, symlinks: 0,
    bytesRead: 0, logicalBytes: 0, chunksNew: 0, bytesNew: 0, bytesStored: 0, bytesCompressed: 0,
  }
}

export type { BackupMode }
