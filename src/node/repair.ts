/**
 * arca repair: rebuilds the LevelDB index from the pack files alone. Every pack is scanned and validated entry
 * by entry (CRC); a damaged or unfinished tail is cut off; objects, snapshots, key slots and the config are
 * replayed in pack order. The new index is built beside the old one and swapped in only when complete.
 */
import { existsSync, renameSync, rmSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import { ArcaError } from '../core/errors.js'
import { EntryType, scanPack } from './pack-format.js'
import {
  encodeCount, encodeLocation, encodePackRecord, KEY_CONFIG, KEY_NEXT_PACK, KEY_OBJECT_COUNT, keySlotKey, listPackFiles, objectKey, packKey, snapshotKey, STORE_MARKER,
} from './store-layout.js'

export interface RepairReport {
  packs: number
  objects: number
  snapshots: number
  keySlots: number
  truncatedBytes: number
}

export async function repairStore(dir: string, options: { log?: (m: string) => void } = {}): Promise<RepairReport> {
  const log = options.log ?? (() => {})
  if (!existsSync(join(dir, STORE_MARKER))) throw new ArcaError('REPO_NOT_FOUND', `No Arca store at "${dir}": the ARCA marker file is missing`)
  const indexDir = join(dir, 'index')
  await assertNotLocked(indexDir)
  const rebuildDir = join(dir, 'index.rebuild')
  rmSync(rebuildDir, { recursive: true, force: true })
  const db = new Level<Buffer, Buffer>(rebuildDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  const report: RepairReport = { packs: 0, objects: 0, snapshots: 0, keySlots: 0, truncatedBytes: 0 }
  const objects = new Set<string>()
  const snapshots = new Set<string>()
  const slots = new Set<string>()
  let maxPack = 0
  try {
    for (const { packNumber, path } of listPackFiles(dir)) {
      const scan = scanPack(path)
      if (scan.packNumber !== packNumber) log(`Pack ${path} says it is number ${scan.packNumber}; using its file name`)
      if (scan.validBytes < scan.fileBytes) {
        log(`Pack ${path}: cut ${scan.fileBytes - scan.validBytes} bytes after the last valid entry`)
        truncateSync(path, scan.validBytes)
        report.truncatedBytes += scan.fileBytes - scan.validBytes
      }
      const ops: { type: 'put' | 'del'; key: Buffer; value?: Buffer }[] = []
      for (const e of scan.entries) {
        const hex = Buffer.from(e.id).toString('hex')
        switch (e.type) {
          case EntryType.OBJECT:
            ops.push({ type: 'put', key: objectKey(e.id), value: encodeLocation({ pack: packNumber, offset: e.offset, bodyLength: e.bodyLength, kind: e.body[1] }) })
            objects.add(hex)
            break
          case EntryType.SNAPSHOT:
            ops.push({ type: 'put', key: snapshotKey(e.id), value: Buffer.from(e.body) })
            snapshots.add(hex)
            break
          case EntryType.SNAPSHOT_REMOVED:
            ops.push({ type: 'del', key: snapshotKey(e.id) })
            snapshots.delete(hex)
            break
          case EntryType.CONFIG:
            ops.push({ type: 'put', key: KEY_CONFIG, value: Buffer.from(e.body) })
            break
          case EntryType.KEY_SLOT:
            ops.push({ type: 'put', key: keySlotKey(e.id), value: Buffer.from(e.body) })
            slots.add(hex)
            break
          case EntryType.KEY_SLOT_REMOVED:
            ops.push({ type: 'del', key: keySlotKey(e.id) })
            slots.delete(hex)
            break
        }
      }
      ops.push({ type: 'put', key: packKey(packNumber), value: encodePackRecord(scan.validBytes, scan.entries.length) })
      await db.batch(ops as never)
      maxPack = Math.max(maxPack, packNumber)
      report.packs++
    }
    const next = Buffer.alloc(4)
    next.writeUInt32LE(maxPack + 1)
    await db.put(KEY_NEXT_PACK, next)
    await db.put(KEY_OBJECT_COUNT, encodeCount(objects.size))
  } finally {
    await db.close()
  }
  report.objects = objects.size
  report.snapshots = snapshots.size
  report.keySlots = slots.size
  const oldDir = join(dir, 'index.old')
  rmSync(oldDir, { recursive: true, force: true })
  if (existsSync(indexDir)) renameSync(indexDir, oldDir)
  renameSync(rebuildDir, indexDir)
  rmSync(oldDir, { recursive: true, force: true })
  return report
}

/** Refuses to rebuild under a running process; a corrupt index that cannot open is fine to replace. */
async function assertNotLocked(indexDir: string): Promise<void> {
  if (!existsSync(indexDir)) return
  const db = new Level<Buffer, Buffer>(indexDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  try {
    await db.open()
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') throw new ArcaError('REPO_LOCKED', `Store index "${indexDir}" is in use by another process`)
    return
  }
  await db.close()
}
