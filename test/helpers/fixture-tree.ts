/**
 * Test helper: builds a deterministic "awkward" tree for backup/restore end-to-end tests (every kind of entry,
 * name, mode, link and timestamp a restorer tends to get wrong) and applies typical day-2 changes to it. Same seed,
 * same tree: content and choices come from a seeded PRNG, timestamps from fixed epochs, never from Math.random or
 * the wall clock. Owner stays the current user. Paths in the manifest are relative and '/'-separated.
 */
import { appendFile, chmod, link, lstat, lutimes, mkdir, open, rename, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setXattr } from '../../src/core/native-addon.js'

export type FixtureEntryKind = 'file' | 'dir' | 'symlink'
export type SymlinkRole = 'relative' | 'absolute' | 'dangling' | 'toDir'

export interface TreeManifest {
  seed: number
  /** Every entry below the root (the root excluded), sorted. */
  all: string[]
  kinds: Record<string, FixtureEntryKind>
  dirs: string[]; files: string[]; symlinks: string[]
  symlinkTargets: Record<string, string>
  symlinkByRole: Record<SymlinkRole, string>
  emptyDir: string; emptyFiles: string[]
  /** Small plain text files; mutateTree appends to, deletes and renames some of these. */
  textFiles: string[]
  /** Entries whose awkward name the filesystem accepted. */
  awkwardNames: string[]
  /** Awkward names or features the filesystem refused, with the reason; empty on ext4. */
  refused: { what: string; reason: string }[]
  largeFile: string; largeFileBytes: number
  sparseFile: string; sparseFileBytes: number
  /** Offsets of the 4 KiB data blocks in the sparse file; everything else is a hole. */
  sparseDataOffsets: number[]
  /** 1 MiB of written (allocated, not sparse) zeros. */
  zeroFile: string
  /** Each group is the names of one inode, across directories. */
  hardLinkGroups: string[][]
  /** The mode (07777) set on every file and directory; symlinks keep the system's. */
  modes: Record<string, number>
  /** mtime in seconds (fractional, possibly negative) set on every entry. */
  mtimes: Record<string, number>
  /** A file with an mtime before 1970, or null if the filesystem refused one. */
  preEpochFile: string | null; subSecondFile: string
  /** Extended attribute names set per entry (user attributes and POSIX ACLs), those the filesystem accepted. */
  xattrs: Record<string, string[]>
}

const MIB = 1024 * 1024
const BASE_EPOCH_S = 1_600_000_000 // 2020-09-13
const DAY2_EPOCH_S = 1_735_689_600 // 2025-01-01
const PRE_EPOCH_S = -100_000_000 // 1966-10-31
const SUB_SECOND_S = 1_700_000_000.123456
const WORDS = ['arca', 'chunk', 'pack', 'tree', 'snapshot', 'vault', 'device', 'agent', 'node', 'policy', 'seal',
  'the', 'a', 'of', 'and', 'backup', 'restore', 'lorem', 'ipsum', 'dolor', 'sit', 'amet', 'quick', 'fox']

/** Creates the awkward tree under `root`, which must exist and be empty. Default seed 1, large file 3 MiB. */
export async function makeAwkwardTree(
  root: string,
  options: { seed?: number; largeFileBytes?: number } = {},
): Promise<TreeManifest> {
  const seed = options.seed ?? 1
  const largeFileBytes = options.largeFileBytes ?? 3 * MIB
  const rng = createRng(seed)
  const b = new TreeBuilder(root)

  for (const dir of ['a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/b/c/d/empty', 'data', 'docs', 'hard', 'links', 'modes', 'names',
    'names/日本語 フォルダ', 'names/🎉 party', 'times']) await b.dir(dir)
  await b.dir('modes/secret-0700', 0o700)

  await b.file('empty.txt', '')
  await b.file('a/b/c/empty-deep', '')
  await b.file('.hidden-config', 'dotfile = true\n')
  await b.file('a/b/c/d/deep.txt', text(rng, 300))
  const textFiles = ['docs/readme.txt', ...[1, 2, 3, 4, 5, 6, 7].map((i) => `docs/notes-${i}.txt`)]
  for (const rel of textFiles) await b.file(rel, text(rng, 100 + rng.int(2000)))

  const longName = padToBytes('long-name-' + '長'.repeat(60) + 'é'.repeat(20), 255)
  const awkwardNames = ['caf\u00e9.txt', 'cafe\u0301.txt', '日本語のファイル.txt', '🦀 crab 🎉.txt', 'name with  spaces .txt',
    'trailing space ', 'line\nbreak.txt', 'back\\slash.txt', longName, '-leading-dash.txt', '--', '...', '日本語 フォルダ/文書.txt',
    '🎉 party/🎈.txt']
  const acceptedNames: string[] = []
  for (const name of awkwardNames) {
    if (await b.tryFile(`names/${name}`, `name: ${JSON.stringify(name)}\n`)) acceptedNames.push(`names/${name}`)
  }

  const largeFile = 'data/large.bin'
  await writeLargeFile(b.abs(largeFile), largeFileBytes, rng)
  b.record(largeFile, 'file', 0o644)
  const sparseFile = 'data/sparse.img'
  const sparseFileBytes = 20 * MIB
  const sparseDataOffsets = [0, 3 * MIB + 4096 * rng.int(64), 11 * MIB + 4096 * rng.int(64), sparseFileBytes - 4096]
  await writeSparseFile(b.abs(sparseFile), sparseFileBytes, sparseDataOffsets, rng)
  b.record(sparseFile, 'file', 0o644)
  const zeroFile = 'data/zeros.bin'
  await b.file(zeroFile, Buffer.alloc(MIB))

  const symlinkByRole: Record<SymlinkRole, string> = {
    relative: 'links/relative', absolute: 'links/absolute', dangling: 'links/dangling', toDir: 'links/to-dir',
  }
  const symlinkTargets: Record<string, string> = {
    [symlinkByRole.relative]: '../docs/readme.txt',
    [symlinkByRole.absolute]: '/etc/hostname',
    [symlinkByRole.dangling]: '../no/such/file',
    [symlinkByRole.toDir]: '../a/b',
    'a/b/c/up-two': '../../../docs',
  }
  for (const [rel, target] of Object.entries(symlinkTargets)) await b.symlink(rel, target)

  const hardLinkGroups = [['hard/pair-1', 'a/b/pair-2'], ['hard/triple-1', 'a/triple-2', 'a/b/c/triple-3']]
  for (const [first, ...others] of hardLinkGroups) {
    await b.file(first!, text(rng, 500))
    for (const other of others) await b.link(first!, other)
  }

  await b.file('modes/private-0600', 'secret\n', 0o600)
  await b.file('modes/script-0755', '#!/bin/sh\necho arca\n', 0o755)
  await b.file('modes/readonly-0444', 'read only\n', 0o444)
  await b.file('modes/secret-0700/inside.txt', text(rng, 200), 0o600)

  const preEpochFile = 'times/pre-1970.txt'
  const subSecondFile = 'times/subsecond.txt'
  await b.file(preEpochFile, 'older than the epoch\n')
  await b.file(subSecondFile, 'fractional mtime\n')

  // Extended attributes, among them a POSIX access ACL (named user 1234 may read) and a default ACL on a directory
  // (the kernel's xattr layout: version 2, then (tag u16, perm u16, id u32) entries sorted by tag, then id).
  const acl = (...entries: [number, number, number][]): Buffer => {
    const value = Buffer.alloc(4 + 8 * entries.length)
    value.writeUInt32LE(2, 0)
    entries.forEach(([tag, perm, id], i) => {
      value.writeUInt16LE(tag, 4 + 8 * i)
      value.writeUInt16LE(perm, 6 + 8 * i)
      value.writeUInt32LE(id, 8 + 8 * i)
    })
    return value
  }
  const NO_ID = 0xffffffff
  const xattrValues: [string, string, Uint8Array][] = [
    ['docs/readme.txt', 'user.comment', Buffer.from('awkward tree, ü')],
    ['docs/readme.txt', 'user.empty', Buffer.alloc(0)],
    ['docs/readme.txt', 'user.binary', randomBytes(rng, 3000)],
    ['docs', 'user.dir-note', Buffer.from('a directory attribute')],
    ['hard/pair-1', 'user.linked', Buffer.from('one inode, two names')],
    ['docs/notes-1.txt', 'system.posix_acl_access', acl([0x01, 6, NO_ID], [0x02, 4, 1234], [0x04, 4, NO_ID], [0x10, 4, NO_ID], [0x20, 4, NO_ID])],
    ['a/b/c/d', 'system.posix_acl_default', acl([0x01, 7, NO_ID], [0x04, 5, NO_ID], [0x20, 5, NO_ID])],
  ]
  const xattrs: Record<string, string[]> = {}
  for (const [rel, name, value] of xattrValues) {
    try {
      setXattr(b.abs(rel), name, value)
      ;(xattrs[rel] ??= []).push(name)
    } catch (err) {
      b.refused.push({ what: `extended attribute ${name} on ${rel}`, reason: (err as Error).message })
    }
  }

  // Modes, then times, only once every entry exists: creating an entry moves its directory's mtime.
  for (const [rel, mode] of Object.entries(b.modes)) await chmod(b.abs(rel), mode)
  const mtimes: Record<string, number> = {}
  for (const rel of [...b.kinds.keys()].sort()) mtimes[rel] = BASE_EPOCH_S + rng.int(86_400 * 365) + rng.int(4) * 0.25
  for (const [first, ...others] of hardLinkGroups) for (const other of others) mtimes[other] = mtimes[first!]!
  mtimes[subSecondFile] = SUB_SECOND_S
  mtimes[preEpochFile] = PRE_EPOCH_S
  for (const [rel, seconds] of Object.entries(mtimes)) {
    const setTimes = b.kinds.get(rel) === 'symlink' ? lutimes : utimes
    await setTimes(b.abs(rel), fsTime(seconds), fsTime(seconds))
  }
  let hasPreEpoch = true
  const preEpochReadBackMs = (await lstat(b.abs(preEpochFile))).mtimeMs
  if (preEpochReadBackMs >= 0) {
    hasPreEpoch = false
    mtimes[preEpochFile] = preEpochReadBackMs / 1000
    b.refused.push({ what: 'mtime before 1970', reason: `set ${PRE_EPOCH_S}, read back non-negative` })
  }

  const all = [...b.kinds.keys()].sort()
  const ofKind = (kind: FixtureEntryKind): string[] => all.filter((rel) => b.kinds.get(rel) === kind)
  return {
    seed, all, kinds: Object.fromEntries(b.kinds), dirs: ofKind('dir'), files: ofKind('file'), symlinks: ofKind('symlink'),
    symlinkTargets, symlinkByRole, emptyDir: 'a/b/c/d/empty', emptyFiles: ['empty.txt', 'a/b/c/empty-deep'], textFiles,
    awkwardNames: acceptedNames, refused: b.refused, largeFile, largeFileBytes, sparseFile, sparseFileBytes,
    sparseDataOffsets, zeroFile, hardLinkGroups, modes: { ...b.modes }, mtimes, preEpochFile: hasPreEpoch ? preEpochFile : null,
    subSecondFile, xattrs,
  }
}

/**
 * Day-2 changes, deterministic for `seed`: patches a few bytes of the large file in place (same size), appends to
 * one text file, deletes another, moves a third to another directory, adds a new file. Changed files and touched
 * directories get a fixed later mtime. `manifest` is not updated: its `all`, `files` and `textFiles` describe day 1,
 * its other entries stay valid.
 */
export async function mutateTree(root: string, manifest: TreeManifest, seed: number): Promise<void> {
  const rng = createRng(seed ^ 0x5eed_da72)
  const at = DAY2_EPOCH_S + (seed % 1000) + 0.5
  const abs = (rel: string): string => path.join(root, rel)
  const touchedDirs = new Set<string>()

  const handle = await open(abs(manifest.largeFile), 'r+')
  try {
    const size = (await handle.stat()).size
    for (let i = 0; i < 3 && size > 0; i++) {
      const patch = Buffer.alloc(Math.min(size, 1 + rng.int(16)))
      const offset = rng.int(size - patch.length + 1)
      await handle.read(patch, 0, patch.length, offset)
      for (let j = 0; j < patch.length; j++) patch[j] = patch[j]! ^ (1 + rng.int(255))
      await handle.write(patch, 0, patch.length, offset)
    }
  } finally {
    await handle.close()
  }
  await utimes(abs(manifest.largeFile), at, at)

  const pool: string[] = []
  for (const rel of manifest.textFiles) if (await exists(abs(rel))) pool.push(rel)
  if (pool.length < 3) throw new Error(`Invalid tree for mutateTree: need 3 text files, found ${pool.length}`)
  const take = (): string => pool.splice(rng.int(pool.length), 1)[0]!
  const [appended, deleted, moved] = [take(), take(), take()]

  await appendFile(abs(appended), `day 2, seed ${seed}: ${text(rng, 80)}\n`)
  await utimes(abs(appended), at, at)
  await unlink(abs(deleted))
  touchedDirs.add(path.posix.dirname(deleted))
  const movedTo = `a/b/moved-${seed}-${path.posix.basename(moved)}`
  await rename(abs(moved), abs(movedTo))
  touchedDirs.add(path.posix.dirname(moved)).add('a/b')
  const added = `a/b/c/day2-${seed}.txt`
  await writeFile(abs(added), text(rng, 400))
  await utimes(abs(added), at, at)
  touchedDirs.add('a/b/c')
  for (const dir of touchedDirs) await utimes(abs(dir), at, at)
}

/** Creates entries under the root and records their kinds and modes. */
class TreeBuilder {
  readonly kinds = new Map<string, FixtureEntryKind>()
  readonly modes: Record<string, number> = {}
  readonly refused: { what: string; reason: string }[] = []

  constructor(readonly root: string) {}

  abs(rel: string): string {
    return path.join(this.root, rel)
  }

  record(rel: string, kind: FixtureEntryKind, mode?: number): void {
    this.kinds.set(rel, kind)
    if (mode !== undefined) this.modes[rel] = mode
  }

  async dir(rel: string, mode = 0o755): Promise<void> {
    await mkdir(this.abs(rel))
    this.record(rel, 'dir', mode)
  }

  async file(rel: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
    await writeFile(this.abs(rel), data, { flag: 'wx' })
    this.record(rel, 'file', mode)
  }

  /** Like file(), but a refusal by the filesystem is recorded instead of thrown. */
  async tryFile(rel: string, data: string): Promise<boolean> {
    try {
      await this.file(rel, data)
      return true
    } catch (err) {
      this.refused.push({ what: `name ${JSON.stringify(rel)}`, reason: (err as Error).message })
      return false
    }
  }

  async symlink(rel: string, target: string): Promise<void> {
    await symlink(target, this.abs(rel))
    this.record(rel, 'symlink')
  }

  async link(existingRel: string, rel: string): Promise<void> {
    await link(this.abs(existingRel), this.abs(rel))
    this.record(rel, 'file', this.modes[existingRel])
  }
}

/** Blocks of 64 KiB: random, text-like (compressible) or a repeat of the first block (dedup-friendly). */
async function writeLargeFile(file: string, sizeBytes: number, rng: Rng): Promise<void> {
  const blockBytes = 64 * 1024
  const handle = await open(file, 'wx')
  try {
    let firstBlock: Buffer | undefined
    for (let position = 0; position < sizeBytes; position += blockBytes) {
      const n = Math.min(blockBytes, sizeBytes - position)
      const choice = rng.int(10)
      const block =
        choice < 2 && firstBlock ? firstBlock.subarray(0, n) : choice < 6 ? randomBytes(rng, n) : Buffer.from(text(rng, n))
      firstBlock ??= block.length === blockBytes ? block : undefined
      await handle.write(block, 0, n, position)
    }
  } finally {
    await handle.close()
  }
}

async function writeSparseFile(file: string, sizeBytes: number, dataOffsets: number[], rng: Rng): Promise<void> {
  const handle = await open(file, 'wx')
  try {
    await handle.truncate(sizeBytes)
    for (const offset of dataOffsets) await handle.write(randomBytes(rng, 4096), 0, 4096, offset)
  } finally {
    await handle.close()
  }
}

interface Rng {
  next(): number
  int(n: number): number
}

/** mulberry32: tiny and fast, plenty for test data. */
function createRng(seed: number): Rng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  return { next, int: (n) => next() % n }
}

function randomBytes(rng: Rng, n: number): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4))
  for (let i = 0; i < words.length; i++) words[i] = rng.next()
  return Buffer.from(words.buffer, 0, n)
}

/** ASCII words and newlines, exactly `n` bytes. */
function text(rng: Rng, n: number): string {
  let out = ''
  while (out.length < n) out += WORDS[rng.int(WORDS.length)] + (rng.int(12) === 0 ? '\n' : ' ')
  return out.slice(0, n)
}

/** Appends 'x' until `name` is exactly `bytes` long in UTF-8. */
function padToBytes(name: string, bytes: number): string {
  const missing = bytes - Buffer.byteLength(name)
  if (missing < 0) throw new Error(`Invalid name for padToBytes: already ${Buffer.byteLength(name)} bytes, limit ${bytes}`)
  return name + 'x'.repeat(missing)
}

/** Node's utimes silently turns a negative number of seconds into "now"; a Date gets through (at ms precision). */
function fsTime(seconds: number): number | Date {
  return seconds < 0 ? new Date(seconds * 1000) : seconds
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(() => true, () => false)
}
