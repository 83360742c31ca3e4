/**
 * Test helper: compares two directory trees the way a restore must reproduce a backed-up one, and reports every
 * difference as a readable line (empty list = identical). Walks with lstat and never follows symlinks. Compares
 * the entries inside the two roots, not the roots themselves. Names are handled as UTF-8 strings, so a name that
 * is not valid UTF-8 is not supported.
 */
import { createHash } from 'node:crypto'
import type { BigIntStats } from 'node:fs'
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { listXattrs } from '../../src/core/native-addon.js'

export interface CompareTreesOptions {
  /** Compare uid and gid. Default true. */
  checkOwner?: boolean
  /** Compare mtimes to the millisecond, for files, directories and symlinks. Default true. */
  checkMtime?: boolean
  /** Compare extended attributes (POSIX ACLs included), names and values. Default true. */
  checkXattrs?: boolean
  /** Atimes are never compared: reading a tree to back it up or compare it moves them. */
  checkAtime?: false
}

export type TreeEntryKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device'

interface TreeEntry {
  kind: TreeEntryKind
  stat: BigIntStats
  /** Symlink target, read during the scan. */
  target?: string
}

const COMPARE_CHUNK_BYTES = 256 * 1024
const NS_PER_MS = 1_000_000n

/**
 * Differences between the tree at `expected` and the tree at `actual`: paths, kinds, content, modes (07777), owners,
 * mtimes, extended attributes, symlink targets and hard-link grouping. Directory mtime differences come last.
 */
export async function compareTrees(
  expected: string,
  actual: string,
  options: CompareTreesOptions = {},
): Promise<string[]> {
  const checkOwner = options.checkOwner ?? true
  const checkMtime = options.checkMtime ?? true
  const checkXattrs = options.checkXattrs ?? true
  await assertDisjoint(expected, actual)

  // Every lstat of both trees is taken before any content is read, so nothing this comparison does can move a
  // timestamp it compares (reading only moves atimes, but directory mtimes are the fragile ones).
  const expectedEntries = await scanTree(expected)
  const actualEntries = await scanTree(actual)

  const diffs: string[] = []
  const dirMtimeDiffs: string[] = []
  const common = new Set<string>()
  for (const rel of expectedEntries.keys()) {
    if (actualEntries.has(rel)) common.add(rel)
    else diffs.push(`Missing entry in actual: ${quote(rel)}`)
  }
  for (const rel of actualEntries.keys()) {
    if (!expectedEntries.has(rel)) diffs.push(`Extra entry in actual: ${quote(rel)}`)
  }

  const comparedInodePairs = new Set<string>()
  for (const rel of common) {
    const e = expectedEntries.get(rel)!
    const a = actualEntries.get(rel)!
    if (e.kind !== a.kind) {
      diffs.push(`Kind differs at ${quote(rel)}: expected ${e.kind}, received ${a.kind}`)
      continue
    }
    const eMode = Number(e.stat.mode) & 0o7777
    const aMode = Number(a.stat.mode) & 0o7777
    if (eMode !== aMode) diffs.push(`Mode differs at ${quote(rel)}: expected ${octal(eMode)}, received ${octal(aMode)}`)
    if (checkOwner && (e.stat.uid !== a.stat.uid || e.stat.gid !== a.stat.gid)) {
      diffs.push(`Owner differs at ${quote(rel)}: expected ${e.stat.uid}:${e.stat.gid}, received ${a.stat.uid}:${a.stat.gid}`)
    }
    if (e.kind === 'file') {
      if (e.stat.size !== a.stat.size) {
        diffs.push(`Size differs at ${quote(rel)}: expected ${e.stat.size} bytes, received ${a.stat.size}`)
      } else {
        const pairKey = `${inodeKey(e.stat)}|${inodeKey(a.stat)}`
        if (!comparedInodePairs.has(pairKey)) {
          comparedInodePairs.add(pairKey)
          const offset = await firstDifference(path.join(expected, rel), path.join(actual, rel))
          if (offset >= 0) diffs.push(`Content differs at ${quote(rel)}: first difference at byte ${offset}`)
        }
      }
    }
    if (checkXattrs) {
      const eX = xattrView(path.join(expected, rel))
      const aX = xattrView(path.join(actual, rel))
      if (eX !== aX) diffs.push(`Extended attributes differ at ${quote(rel)}: expected ${eX || 'none'}, received ${aX || 'none'}`)
    }
    if (e.kind === 'symlink' && e.target !== a.target) {
      diffs.push(`Symlink target differs at ${quote(rel)}: expected ${quote(e.target!)}, received ${quote(a.target!)}`)
    }
    if (checkMtime) {
      const eMs = floorDiv(e.stat.mtimeNs, NS_PER_MS)
      const aMs = floorDiv(a.stat.mtimeNs, NS_PER_MS)
      if (eMs !== aMs) {
        const line = `Mtime differs at ${quote(rel)}: expected ${isoMs(eMs)}, received ${isoMs(aMs)}`
        ;(e.kind === 'dir' ? dirMtimeDiffs : diffs).push(line)
      }
    }
  }
  diffs.push(...hardLinkDiffs(expectedEntries, actualEntries, common))
  diffs.push(...dirMtimeDiffs)
  return diffs
}

/** The extended attributes of an entry (not following a symlink) as one comparable line, sorted by name. */
function xattrView(file: string): string {
  return listXattrs(file)
    .map(([name, value]) => `${name.toString('utf8')}=${value.length <= 64 ? value.toString('hex') : `${value.subarray(0, 16).toString('hex')}...(${value.length} bytes, sha256 ${createHash('sha256').update(value).digest('hex').slice(0, 16)})`}`)
    .sort()
    .join(' ')
}

/** Bytes actually allocated on disk for the entry at `file` (st_blocks * 512, not following a symlink). */
export async function allocatedBytes(file: string): Promise<number> {
  const stat = await lstat(file, { bigint: true })
  return Number(stat.blocks * 512n)
}

/** Every entry under `root`, keyed by '/'-separated relative path, depth first in sorted name order. */
async function scanTree(root: string): Promise<Map<string, TreeEntry>> {
  const entries = new Map<string, TreeEntry>()
  const walk = async (relDir: string): Promise<void> => {
    const names = (await readdir(path.join(root, relDir))).sort()
    for (const name of names) {
      const rel = relDir === '' ? name : `${relDir}/${name}`
      const abs = path.join(root, rel)
      const stat = await lstat(abs, { bigint: true })
      const kind = kindOf(stat)
      const entry: TreeEntry = { kind, stat }
      if (kind === 'symlink') entry.target = await readlink(abs)
      entries.set(rel, entry)
      if (kind === 'dir') await walk(rel)
    }
  }
  await walk('')
  return entries
}

/** For each common non-directory path, the other common names of its inode must match on both sides. */
function hardLinkDiffs(
  expectedEntries: Map<string, TreeEntry>,
  actualEntries: Map<string, TreeEntry>,
  common: Set<string>,
): string[] {
  const expectedGroups = inodeGroups(expectedEntries, common)
  const actualGroups = inodeGroups(actualEntries, common)
  const diffs: string[] = []
  for (const rel of common) {
    const e = expectedEntries.get(rel)!
    const a = actualEntries.get(rel)!
    if (e.kind === 'dir' || a.kind === 'dir') continue
    const ePeers = (expectedGroups.get(inodeKey(e.stat)) ?? []).filter((p) => p !== rel)
    const aPeers = (actualGroups.get(inodeKey(a.stat)) ?? []).filter((p) => p !== rel)
    if (ePeers.join('\0') !== aPeers.join('\0')) {
      diffs.push(
        `Hard link grouping differs at ${quote(rel)}: expected linked with [${ePeers.map(quote).join(', ')}], ` +
          `received linked with [${aPeers.map(quote).join(', ')}]`,
      )
    }
  }
  return diffs
}

/** Sorted common paths per inode, for non-directories only. */
function inodeGroups(entries: Map<string, TreeEntry>, common: Set<string>): Map<string, string[]> {
  const groups = new Map<string, string[]>()
  for (const [rel, entry] of entries) {
    if (entry.kind === 'dir' || !common.has(rel)) continue
    const key = inodeKey(entry.stat)
    const group = groups.get(key)
    if (group) group.push(rel)
    else groups.set(key, [rel])
  }
  for (const group of groups.values()) group.sort()
  return groups
}

/** Offset of the first byte where the two files differ (including one ending early), or -1 if identical. */
async function firstDifference(fileA: string, fileB: string): Promise<number> {
  const handleA = await open(fileA, 'r')
  try {
    const handleB = await open(fileB, 'r')
    try {
      const bufA = Buffer.allocUnsafe(COMPARE_CHUNK_BYTES)
      const bufB = Buffer.allocUnsafe(COMPARE_CHUNK_BYTES)
      for (let position = 0; ; ) {
        const [readA, readB] = await Promise.all([readFull(handleA, bufA, position), readFull(handleB, bufB, position)])
        const n = Math.min(readA, readB)
        if (!bufA.subarray(0, n).equals(bufB.subarray(0, n))) {
          let i = 0
          while (bufA[i] === bufB[i]) i++
          return position + i
        }
        if (readA !== readB) return position + n
        if (readA < COMPARE_CHUNK_BYTES) return -1
        position += readA
      }
    } finally {
      await handleB.close()
    }
  } finally {
    await handleA.close()
  }
}

/** Reads until `buf` is full or the file ends; returns the byte count. */
async function readFull(handle: FileHandle, buf: Buffer, position: number): Promise<number> {
  let filled = 0
  while (filled < buf.length) {
    const { bytesRead } = await handle.read(buf, filled, buf.length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled
}

/** Refuses overlapping roots: walking one would then see the other, and comparing a tree to itself proves nothing. */
async function assertDisjoint(expected: string, actual: string): Promise<void> {
  const [realExpected, realActual] = await Promise.all([realpath(expected), realpath(actual)])
  const isInside = (inner: string, outer: string): boolean => {
    const rel = path.relative(outer, inner)
    return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel))
  }
  if (isInside(realActual, realExpected) || isInside(realExpected, realActual)) {
    throw new Error(`Invalid roots for compareTrees: trees must not overlap, received ${quote(realExpected)} and ${quote(realActual)}`)
  }
}

function kindOf(stat: BigIntStats): TreeEntryKind {
  if (stat.isFile()) return 'file'
  if (stat.isDirectory()) return 'dir'
  if (stat.isSymbolicLink()) return 'symlink'
  if (stat.isFIFO()) return 'fifo'
  if (stat.isSocket()) return 'socket'
  if (stat.isCharacterDevice()) return 'char-device'
  return 'block-device'
}

function inodeKey(stat: BigIntStats): string {
  return `${stat.dev}:${stat.ino}`
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q
}

function isoMs(ms: bigint): string {
  return new Date(Number(ms)).toISOString()
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`
}

/** JSON quoting, so a newline or backslash in a name stays visible in the message. */
function quote(s: string): string {
  return JSON.stringify(s)
}
