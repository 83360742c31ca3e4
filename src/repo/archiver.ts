/**
 * The archiver: walks the selected paths, chunks and hashes file data on the main thread, asks the store which
 * chunks it lacks (batched), seals those on the seal pool's threads and puts them, then writes one tree per directory
 * (children before parents) and finally commits the snapshot. Unchanged files (incremental/differential) reuse the
 * parent snapshot's chunk lists without being read; unchanged directories produce identical tree ids.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, readSync, renameSync, rmSync, writeFileSync, type BigIntStats } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { getSystemErrorName } from 'node:util'
import type { Clock } from '../core/clock.js'
import { ScanField, SCAN_FIELDS, type DirScan } from '../core/native-addon.js'
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import type { Chunker } from '../dedup/chunker.js'
import { envelopeHeader, ObjectKind } from '../protocol/object-envelope.js'
import type { BackupMode } from '../protocol/snapshot-record.js'
import { chunkId, sealObject, treeId } from './objects.js'
import { DirCache, DirCacheWriter, dirCacheKey, listingDigest, rulesDigest, type DirRecord } from './dir-cache.js'
import { childPath, DirScanner, type DescendRule } from './dir-scanner.js'
import { createPathFilter, type PathFilter } from './path-filter.js'
import type { Repository } from './repository.js'
import { SubtreePrefetch, TreeReadAhead } from './subtree-prefetch.js'
import type { SealPool } from './seal-pool.js'
import { UploadQueue } from './upload-queue.js'
import { emptyStats, encodeSnapshot, planId, type BackupStats, type BackupWarning, type Snapshot, type SnapshotBody } from './snapshot.js'
import { encodeTree, TREE_VERSION, type ChunkRef, type TreeNode, type Xattr } from './tree.js'
import { readXattrs } from './xattrs.js'

export interface BackupOptions {
  plan: string
  paths: string[]
  mode: BackupMode
  excludes?: string[]
  includes?: string[]
  /** Absolute paths never backed up, whatever the patterns (the store's own directory). */
  skipPaths?: string[]
  deviceName?: string
  clock: Clock
  pool: SealPool
  onProgress?: (p: BackupProgress) => void
  onWarning?: (w: BackupWarning) => void
  signal?: AbortSignal
  /** Scans started before the backup (see `startScanning`); a new scanner otherwise. */
  scanner?: DirScanner
  /**
   * Where the device keeps its directory cache (see dir-cache.ts), one file per plan; none is read or written when
   * undefined.
   */
  cacheDir?: string
  /** Notes that are not about a backed-up path (a damaged directory cache); none when undefined. */
  log?: (message: string) => void
}

export interface BackupProgress {
  files: number
  bytesRead: number
  bytesStored: number
  /** Sizes of the files seen so far, read or not: the measure of progress against the estimate. */
  logicalBytes: number
  /** The logical size of the newest snapshot of the plan, as an estimate of the total; undefined on a first run. */
  estimatedBytes: number | undefined
  currentPath: string
}

export interface BackupResult {
  snapshot: Snapshot
  stats: BackupStats
  warnings: BackupWarning[]
  /** The mode actually used: a differential or incremental without a base runs as full. */
  mode: BackupMode
}

type Selection = Map<string, Selection | true>

/** A directory archived: its tree id, and a promise that settles when it and all below are stored. */
interface Archived {
  id: Uint8Array
  done: Promise<void>
}

/** Warnings raised below the directory at hand, so that its own can be told apart. */
interface WarningTally {
  below: number
}

const IN_PLACE_EXTENSIONS = new Set([
  'sqlite', 'sqlite3', 'db', 'db3', 'mdb', 'accdb', 'pst', 'ost', 'vmdk', 'vdi', 'qcow2', 'img', 'vhd', 'vhdx', 'raw', 'fdb', 'kdbx',
])
const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = constants
const MAX_WARNINGS_KEPT = 200
const CHECK_BATCH_IDS = 512
const ARENA_BYTES = 8 * 1024 * 1024
/** Files below this size are read whole into the arena; larger ones stream through the window. */
const SMALL_FILE_BYTES = 1024 * 1024
/**
 * A larger file streams through a window of at least 10 MiB, and at least its chunker's largest chunk plus 2 MiB
 * (each refill then reads that much or more). 16 MiB measured no faster and held 6 MiB more.
 */
const MIN_WINDOW_BYTES = 10 * 1024 * 1024
const WINDOW_SLACK_BYTES = 2 * 1024 * 1024

export async function backup(repo: Repository, options: BackupOptions): Promise<BackupResult> {
  return new Archiver(repo, options).run()
}

/**
 * Starts scanning what a backup of `paths` will walk, before the vault is open (unlocking it takes a while): pass
 * the result as `scanner` to `backup` with the same paths and rules.
 */
export function startScanning(paths: readonly string[], options: Pick<BackupOptions, 'excludes' | 'includes' | 'skipPaths'>): DirScanner {
  const scanner = new DirScanner()
  const roots = paths.map((p) => resolvePath(p)).filter((p) => {
    try {
      return lstatSync(p).isDirectory()
    } catch {
      return false
    }
  })
  scanner.warm(roots, descendRule(createPathFilter({ excludes: options.excludes, includes: options.includes }), skipSet(options.skipPaths)))
  return scanner
}

function skipSet(skipPaths: readonly string[] | undefined): Set<string> {
  return new Set((skipPaths ?? []).map((p) => resolvePath(p)))
}

function descendRule(filter: PathFilter, skipPaths: Set<string>): DescendRule {
  return (path, name) => !filter.isExcluded(path, name) && !skipPaths.has(path)
}

class Archiver {
  private readonly stats = emptyStats()
  private readonly warnings: BackupWarning[] = []
  private warningCount = 0
  private readonly filter: PathFilter
  private readonly uploads: UploadQueue
  /** Small files are read into this buffer back to back; its bytes stay valid until the next flushChecks. */
  private readonly arena = Buffer.allocUnsafeSlow(ARENA_BYTES)
  private arenaUsed = 0
  private window: Buffer | undefined
  private readonly hardLinks = new Map<string, { content: ChunkRef[]; size: number; xattrs: Xattr[] | undefined }>()
  private lastProgressAt = 0
  private estimatedBytes: number | undefined
  private readonly store
  private readonly scanner: DirScanner
  private readonly shouldDescend: DescendRule
  /** The parent snapshot's trees, loaded ahead of the walk (except those the directory cache may spare). */
  private readonly prevTrees: TreeReadAhead
  private readonly cacheKey: Uint8Array
  /** What the last run of the plan remembered; undefined on a first run, without a cache dir, or when unusable. */
  private dirCache: DirCache | undefined
  /** What this run remembers for the next; undefined without a cache dir. */
  private readonly cacheWriter: DirCacheWriter | undefined

  constructor(private readonly repo: Repository, private readonly options: BackupOptions) {
    this.filter = createPathFilter({ excludes: options.excludes, includes: options.includes })
    this.shouldDescend = descendRule(this.filter, skipSet(options.skipPaths))
    this.scanner = options.scanner ?? new DirScanner()
    this.prevTrees = new TreeReadAhead(repo, (id) => this.dirCache?.has(id) === true)
    this.cacheKey = dirCacheKey(repo.keys)
    this.cacheWriter = options.cacheDir === undefined ? undefined : new DirCacheWriter()
    this.store = repo.store
    this.uploads = new UploadQueue(repo.store, options.pool, this.stats)
  }

  async run(): Promise<BackupResult> {
    try {
      return await this.walkAndCommit()
    } finally {
      this.scanner.stop()
    }
  }

  private async walkAndCommit(): Promise<BackupResult> {
    const { options, repo } = this
    if (options.paths.length === 0) throw ArcaError.invalidArgument('Nothing to back up: give at least one path')
    if (options.plan === '' || Buffer.byteLength(options.plan) > 128) {
      throw ArcaError.invalidArgument(`Invalid plan name "${options.plan}": expected 1-128 bytes`)
    }
    const startedAt = options.clock.now()
    const pid = planId(repo.keys, options.plan)
    const samePlan = (await repo.listSnapshots()).filter((s) => Buffer.compare(s.header.planId, pid) === 0)
    const parent =
      options.mode === 'incremental' ? samePlan[0] : options.mode === 'differential' ? samePlan.find((s) => s.header.mode === 'full') : undefined
    const mode: BackupMode = parent === undefined ? 'full' : options.mode
    this.estimatedBytes = samePlan[0]?.header.logicalBytes
    const absolute = options.paths.map((p) => resolvePath(p))
    for (const p of absolute) {
      try {
        lstatSync(p)
      } catch (err) {
        throw ArcaError.invalidArgument(`Cannot back up "${p}": ${(err as Error).message}`)
      }
    }
    const selection = buildSelection(absolute)
    // a skipped path outside the backed-up ones (the store, usually) takes nothing away: it does not count
    const skipped = [...skipSet(options.skipPaths)].filter((p) => absolute.some((a) => p === a || p.startsWith(a === '/' ? '/' : a + '/')))
    const rules = rulesDigest(this.cacheKey, { paths: absolute, excludes: options.excludes ?? [], includes: options.includes ?? [], skipPaths: skipped })
    const cachePath = options.cacheDir === undefined ? undefined : join(options.cacheDir, `dirs-${toHex(pid)}.cache`)
    if (parent !== undefined && cachePath !== undefined) this.dirCache = this.readDirCache(cachePath, rules)
    const root = await this.archiveDir('/', selection, undefined, parent?.header.rootTree)
    await this.flushChecks()
    await root.done
    this.throwIfFailed()
    await this.store.flush()

    const id = randomBytes(32)
    const finishedAt = options.clock.now()
    const body: SnapshotBody = {
      version: 1,
      plan: options.plan,
      paths: absolute,
      hostname: hostname(),
      username: safeUsername(),
      parent: parent?.idHex ?? null,
      startedAt,
      finishedAt,
      stats: this.stats,
      warnings: this.warnings,
      warningCount: this.warningCount,
    }
    const header = {
      createdAt: finishedAt,
      mode,
      rootTree: root.id,
      planId: pid,
      fileCount: this.stats.filesNew + this.stats.filesChanged + this.stats.filesUnchanged,
      logicalBytes: this.stats.logicalBytes,
      addedBytes: this.stats.bytesStored,
      deviceName: options.deviceName ?? hostname(),
    }
    await this.store.commitSnapshot(id, encodeSnapshot(repo.keys, id, header, body))
    if (cachePath !== undefined) this.writeDirCache(cachePath, rules)
    return { snapshot: { id, idHex: toHex(id), header, body }, stats: this.stats, warnings: this.warnings, mode }
  }

  private warn(path: string, reason: string): void {
    this.warningCount++
    const w = { path, reason }
    if (this.warnings.length < MAX_WARNINGS_KEPT) this.warnings.push(w)
    this.options.onWarning?.(w)
  }

  private throwIfFailed(): void {
    if (this.uploads.failure !== undefined) throw this.uploads.failure
    if (this.options.signal?.aborted) throw new ArcaError('INTERRUPTED', 'Backup interrupted; what was uploaded is kept and the next run continues from there')
  }

  private progress(path: string): void {
    const now = this.options.clock.now()
    if (this.options.onProgress === undefined || now - this.lastProgressAt < 200) return
    this.lastProgressAt = now
    const s = this.stats
    this.options.onProgress({
      files: s.filesNew + s.filesChanged + s.filesUnchanged,
      bytesRead: s.bytesRead,
      bytesStored: s.bytesStored,
      logicalBytes: s.logicalBytes,
      estimatedBytes: this.estimatedBytes,
      currentPath: path,
    })
  }

  /** Archives one directory; returns its tree id and a promise that settles when it and all below are stored. */
  private async archiveDir(
    absPath: string,
    selection: Selection | true,
    prevNodes: TreeNode[] | undefined,
    prevTreeId: Uint8Array | undefined,
  ): Promise<Archived> {
    this.throwIfFailed()
    const warningsBefore = this.warningCount
    const tally: WarningTally = { below: 0 }
    let names: string[]
    // a whole directory is listed and stat-ed in one native call; selected path components one by one
    let scan: DirScan | undefined
    if (selection === true) {
      try {
        scan = await this.scanner.take(absPath)
        names = scan.names
        this.scanner.prefetch(absPath, scan, this.shouldDescend)
      } catch (err) {
        this.warn(absPath, `cannot list directory: ${(err as Error).message}`)
        names = []
      }
      for (const raw of scan?.invalid ?? []) {
        this.warn(childPath(absPath, raw.toString('utf8')), 'name is not valid UTF-8: not backed up')
        this.stats.filesSkipped++
      }
    } else names = sortByUtf8([...selection.keys()])
    const listing = scan !== undefined && this.cacheWriter !== undefined ? listingDigest(this.cacheKey, absPath, scan) : undefined
    let archived: Map<string, Archived> | undefined
    if (scan !== undefined && listing !== undefined && prevTreeId !== undefined) {
      // the same listing at the same place as when the parent's tree was made: the tree is the parent's if every
      // subdirectory's is, and nothing of the directory itself needs loading or comparing
      const record = this.dirCache?.lookup(prevTreeId, listing)
      if (record !== undefined) {
        const reused = await this.reuseDir(absPath, scan, prevTreeId, record, tally)
        if (reused.result !== undefined) return reused.result
        archived = reused.children
      }
    }
    prevNodes ??= prevTreeId === undefined ? undefined : await this.prevTrees.loadTree(prevTreeId)
    const result = await this.compareDir(absPath, selection, scan, names, prevNodes, prevTreeId, archived, tally)
    const ownWarnings = this.warningCount - warningsBefore - tally.below
    if (listing !== undefined && result.record !== undefined && ownWarnings === 0) this.cacheWriter!.add(result.id, { listing, ...result.record })
    return result
  }

  /**
   * Archives the subdirectories of a directory whose listing the cache knows, against the subtrees the record
   * names. When each keeps its tree, the directory keeps `id` and its own entries count as unchanged; otherwise the
   * subdirectories archived so far are returned for the comparison.
   */
  private async reuseDir(absPath: string, scan: DirScan, id: Uint8Array, record: DirRecord, tally: WarningTally): Promise<{ result?: Archived; children: Map<string, Archived> }> {
    const children = new Map<string, Archived>()
    const subtrees: Uint8Array[] = []
    for (let i = 0; i < scan.names.length; i++) {
      if (scan.errors[i] !== 0) return { children }
      if ((Number(scan.stats[i * SCAN_FIELDS + ScanField.MODE]) & S_IFMT) !== S_IFDIR) continue
      const name = scan.names[i]
      const path = childPath(absPath, name)
      if (!this.shouldDescend(path, name)) continue
      const child = await this.archiveChild(path, true, undefined, record.subtrees[subtrees.length] as Uint8Array | undefined, tally)
      children.set(name, child)
      subtrees.push(child.id)
    }
    if (subtrees.length !== record.subtrees.length) return { children }
    const childDone = [...children.values()].map((c) => c.done)
    const isSame = subtrees.every((s, i) => Buffer.compare(s, record.subtrees[i]) === 0)
    // only subtree ids changed: the parent's tree with those references replaced, neither decoded nor compared
    const result = isSame ? { id, done: Promise.all(childDone).then(() => undefined) } : await this.patchTree(id, record.subtrees, subtrees, childDone)
    if (result === undefined) return { children }
    const s = this.stats
    s.filesUnchanged += record.files
    s.symlinks += record.symlinks
    s.logicalBytes += record.logicalBytes
    s.dirs += children.size
    this.cacheWriter!.add(result.id, { ...record, subtrees })
    this.progress(absPath)
    return { result, children }
  }

  /**
   * Stores the tree `id` with its subtree references `before` replaced by `after` (same order), as encodeTree would
   * write the same nodes with the new subtrees. Undefined (compare the directory instead) when that is not sure:
   * a replaced id shared by two subdirectories, a new id already referenced, a tree of an older version.
   */
  private async patchTree(id: Uint8Array, before: readonly Uint8Array[], after: readonly Uint8Array[], childDone: Promise<void>[]): Promise<Archived | undefined> {
    const { refs, plain } = await this.repo.loadTreeRecord(id)
    if (plain[0] !== TREE_VERSION) return undefined
    const uses = new Map<string, number>()
    for (const b of before) {
      const hex = toHex(b)
      uses.set(hex, (uses.get(hex) ?? 0) + 1)
    }
    const position = new Map(refs.map((r, i) => [toHex(r), i]))
    const patched = [...refs]
    for (let i = 0; i < before.length; i++) {
      if (Buffer.compare(before[i], after[i]) === 0) continue
      const oldHex = toHex(before[i])
      const newHex = toHex(after[i])
      const at = position.get(oldHex)
      if (at === undefined || uses.get(oldHex) !== 1 || position.has(newHex)) return undefined
      patched[at] = after[i]
      position.set(newHex, at)
    }
    return this.storeTreeRecord(patched, plain, id, childDone)
  }

  private async archiveChild(path: string, selection: Selection | true, prevNodes: TreeNode[] | undefined, prevTreeId: Uint8Array | undefined, tally: WarningTally): Promise<Archived> {
    const before = this.warningCount
    try {
      return await this.archiveDir(path, selection, prevNodes, prevTreeId)
    } finally {
      tally.below += this.warningCount - before
    }
  }

  /**
   * Compares a directory's entries with the parent snapshot's tree of it, archives what changed and stores its
   * tree; `archived` holds subdirectories already archived. Returns also what the cache may remember of it
   * (nothing for a directory with a hard-linked file, which the walk must see).
   */
  private async compareDir(
    absPath: string,
    selection: Selection | true,
    scan: DirScan | undefined,
    names: string[],
    prevNodes: TreeNode[] | undefined,
    prevTreeId: Uint8Array | undefined,
    archived: Map<string, Archived> | undefined,
    tally: WarningTally,
  ): Promise<Archived & { record?: Omit<DirRecord, 'listing'> }> {
    const prevByName = new Map((prevNodes ?? []).map((n) => [n.name, n]))
    const nodes: TreeNode[] = []
    const childDone: Promise<void>[] = []
    const cache = this.dirCache
    const prevSubtrees = new SubtreePrefetch(this.prevTrees, (prevNodes ?? []).filter((n) => n.subtree === undefined || cache?.has(n.subtree) !== true))
    let hasHardLink = false
    for (let i = 0; i < names.length; i++) {
      const name = names[i]
      const path = childPath(absPath, name)
      if (!this.shouldDescend(path, name)) continue
      let st: EntryStat
      try {
        st = scan === undefined ? lstatSync(path, { bigint: true }) : scannedStat(scan, i)
      } catch (err) {
        this.warn(path, `cannot stat: ${(err as Error).message}`)
        this.stats.filesSkipped++
        continue
      }
      const sub = selection === true ? true : selection.get(name)!
      const prev = prevByName.get(name)
      const format = Number(st.mode) & S_IFMT
      if (format === S_IFDIR) {
        let child = archived?.get(name)
        if (child === undefined) {
          const prevChild = prev?.type === 'dir' ? await prevSubtrees.load(prev.name) : undefined
          child = await this.archiveChild(path, sub, prevChild, prev?.subtree, tally)
        }
        childDone.push(child.done)
        // attributes of a directory change its ctime, as entries added or removed do
        const xattrs = prev?.type === 'dir' && isSameInode(prev, st) ? prev.xattrs : this.xattrsOf(path)
        nodes.push(nodeFromStat(name, 'dir', st, { subtree: child.id, xattrs }))
        this.stats.dirs++
      } else if (sub !== true) {
        this.warn(path, 'selected path component is not a directory')
      } else if (format === S_IFREG) {
        if (!this.filter.isIncludedFile(path, name)) continue
        if (st.nlink > 1n) hasHardLink = true
        const node = await this.archiveFile(path, name, st, prev)
        if (node !== undefined) {
          // what the snapshot holds: a skipped file adds nothing, a file that changed while read adds what was read
          this.stats.logicalBytes += node.size
          nodes.push(node)
        }
        this.progress(path)
      } else if (format === S_IFLNK) {
        try {
          // a symlink's target cannot change in place: a new one has a new ctime
          const isSame = prev?.type === 'symlink' && isSameInode(prev, st) && prev.size === Number(st.size)
          const linkTarget = isSame ? prev.linkTarget : readlinkSync(path)
          nodes.push(nodeFromStat(name, 'symlink', st, { linkTarget, xattrs: isSame ? prev.xattrs : this.xattrsOf(path) }))
          this.stats.symlinks++
        } catch (err) {
          this.warn(path, `cannot read symlink: ${(err as Error).message}`)
        }
      } else {
        this.warn(path, 'special file (device, socket or FIFO) not backed up')
        this.stats.filesSkipped++
      }
    }
    if (selection === true && prevNodes !== undefined) {
      const current = new Set(names)
      for (const p of prevNodes) if (!current.has(p.name)) this.stats.filesDeleted++
    }
    const record = hasHardLink ? undefined : ownRecord(nodes)
    // an unchanged directory (every node as in the parent snapshot) has the parent's tree: nothing to encode or hash
    if (prevTreeId !== undefined && prevNodes !== undefined && isSameNodes(nodes, prevNodes)) {
      return { id: prevTreeId, done: Promise.all(childDone).then(() => undefined), record }
    }
    // the files' chunks may still be queued for their `missing` question: the tree waits for them, not the walk
    return { ...(await this.storeTree(nodes, prevTreeId, childDone)), record }
  }

  private readDirCache(path: string, rules: Uint8Array): DirCache | undefined {
    let file: Buffer
    try {
      file = readFileSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.options.log?.(`Directory cache "${path}" unreadable, every directory is compared: ${(err as Error).message}`)
      return undefined
    }
    try {
      const cache = DirCache.decode(this.cacheKey, file)
      // other paths or rules take other entries: the cache of another selection is not used (nor is it damaged)
      return Buffer.compare(cache.rulesDigest, rules) === 0 ? cache : undefined
    } catch (err) {
      this.options.log?.(`Directory cache "${path}" ignored, every directory is compared: ${(err as Error).message}`)
      return undefined
    }
  }

  /** Replaces the plan's cache file (written aside, then renamed over); a failure only costs the next run time. */
  private writeDirCache(path: string, rules: Uint8Array): void {
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      mkdirSync(this.options.cacheDir!, { recursive: true, mode: 0o700 })
      writeFileSync(tmp, this.cacheWriter!.encode(this.cacheKey, rules), { mode: 0o600 })
      renameSync(tmp, path)
    } catch (err) {
      rmSync(tmp, { force: true })
      this.options.log?.(`Directory cache "${path}" not written, the next run compares every directory: ${(err as Error).message}`)
    }
  }

  private async storeTree(nodes: TreeNode[], prevTreeId: Uint8Array | undefined, childDone: Promise<void>[]): Promise<Archived> {
    const { refs, plain } = encodeTree(nodes)
    return this.storeTreeRecord(refs, plain, prevTreeId, childDone)
  }

  private async storeTreeRecord(refs: Uint8Array[], plain: Uint8Array, prevTreeId: Uint8Array | undefined, childDone: Promise<void>[]): Promise<Archived> {
    const header = envelopeHeader(ObjectKind.TREE, refs)
    const id = treeId(this.repo.keys, header, plain)
    const hex = toHex(id)
    const deps: Promise<void>[] = [...childDone]
    for (const r of refs) {
      const p = this.uploads.stored(toHex(r))
      if (p !== undefined) deps.push(p)
    }
    const settled = Promise.all(deps).then(() => undefined)
    if ((prevTreeId !== undefined && Buffer.compare(prevTreeId, id) === 0) || this.uploads.isKnown(hex)) return { id, done: settled }
    this.uploads.markKnown(hex)
    // A tree is put without asking `missing` first (a round trip per directory on the network): a changed
    // directory's tree is new, and a store ignores the put of an object it holds (bytesStored may then count a
    // tree that was already stored). Trees are small: sealed here, so a run that changes only a few directories
    // never starts the seal threads.
    const { envelope } = sealObject(this.repo.keys, id, header, plain, { level: this.repo.config.zstdLevel })
    this.stats.bytesStored += envelope.length
    return { id, done: this.uploads.track(hex, settled.then(() => this.store.put(id, envelope))) }
  }

  private xattrsOf(path: string): Xattr[] | undefined {
    return readXattrs(path, (reason) => this.warn(path, reason))
  }

  private async archiveFile(path: string, name: string, st: EntryStat, prev: TreeNode | undefined): Promise<TreeNode | undefined> {
    const size = Number(st.size)
    const linkKey = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined
    if (linkKey !== undefined) {
      const seen = this.hardLinks.get(linkKey)
      if (seen !== undefined) {
        this.stats.filesUnchanged++
        return nodeFromStat(name, 'file', st, { content: seen.content, size: seen.size, xattrs: seen.xattrs })
      }
    }
    if (prev !== undefined && prev.type === 'file' && prev.size === size && prev.mtimeNs === st.mtimeNs && prev.ctimeNs === st.ctimeNs && prev.ino === st.ino) {
      // its chunks are not marked known: the same chunk in a file read later costs one `missing` lookup, while
      // marking every chunk of every unchanged file cost 55 ms and a hex string per chunk on a no-change run
      this.stats.filesUnchanged++
      // a change of attributes changes ctime, so an unchanged file keeps them (unless its tree predates them)
      const xattrs = prev.isXattrsUnknown === true ? this.xattrsOf(path) : prev.xattrs
      if (linkKey !== undefined) this.hardLinks.set(linkKey, { content: prev.content ?? [], size, xattrs })
      return nodeFromStat(name, 'file', st, { content: prev.content ?? [], xattrs })
    }
    let fd: number
    try {
      fd = openSync(path, 'r')
    } catch (err) {
      this.warn(path, `cannot open: ${(err as Error).message}`)
      this.stats.filesSkipped++
      return undefined
    }
    let content: ChunkRef[]
    let bytesRead: number
    try {
      ;({ content, bytesRead } = await this.readChunks(fd, size, chunkerFor(this.repo, name, size)))
      const after = fstatSync(fd, { bigint: true })
      if (after.size !== st.size || after.mtimeNs !== st.mtimeNs || after.ctimeNs !== st.ctimeNs || bytesRead !== size) {
        this.warn(path, 'file changed while being read; the snapshot holds what was read and the next run reads it again')
      }
    } catch (err) {
      if (err instanceof ArcaError) throw err
      this.warn(path, `read error: ${(err as Error).message}`)
      this.stats.filesSkipped++
      return undefined
    } finally {
      closeSync(fd)
    }
    if (prev === undefined) this.stats.filesNew++
    else this.stats.filesChanged++
    const xattrs = this.xattrsOf(path)
    if (linkKey !== undefined) this.hardLinks.set(linkKey, { content, size: bytesRead, xattrs })
    return nodeFromStat(name, 'file', st, { content, size: bytesRead, xattrs })
  }

  /**
   * Reads a file and queues its chunks. Files under 1 MiB are read whole into the arena (shared by many small
   * files until the next flushChecks); bigger files stream through one reusable window.
   */
  private async readChunks(fd: number, sizeHint: number, chunker: { chunker: Chunker; maxBytes: number }): Promise<{ content: ChunkRef[]; bytesRead: number }> {
    const wanted = sizeHint + 1
    const isSmall = wanted <= SMALL_FILE_BYTES
    if (isSmall && this.arenaUsed + wanted > ARENA_BYTES) await this.flushChecks()
    const windowBytes = Math.max(MIN_WINDOW_BYTES, chunker.maxBytes + WINDOW_SLACK_BYTES)
    if (!isSmall && (this.window?.length ?? 0) < windowBytes) this.window = Buffer.allocUnsafeSlow(windowBytes)
    const buf = isSmall ? this.arena.subarray(this.arenaUsed, this.arenaUsed + wanted) : this.window!
    const content: ChunkRef[] = []
    let start = 0
    let end = 0
    let isEof = false
    let bytesRead = 0
    for (;;) {
      while (!isEof && end < buf.length) {
        // never past the size seen before reading (as tar does): a file that keeps growing cannot hold the run
        const room = Math.min(buf.length - end, sizeHint - bytesRead)
        const n = room > 0 ? readSync(fd, buf, end, room, null) : 0
        if (n === 0) isEof = true
        else {
          end += n
          bytesRead += n
        }
      }
      while (start < end) {
        const cut = chunker.chunker.nextCut(buf, start, end, isEof)
        if (cut === 0) break
        const data = buf.subarray(start, start + cut)
        const id = chunkId(this.repo.keys, data)
        content.push({ id, length: cut })
        this.uploads.enqueue(id, data)
        start += cut
      }
      if (isEof && start === end) break
      // only a window gets here (a small file fits its buffer): its queued chunks are sent before it is reused
      await this.flushChecks()
      buf.copyWithin(0, start, end)
      end -= start
      start = 0
    }
    if (isSmall && buf.buffer === this.arena.buffer) this.arenaUsed += bytesRead
    this.stats.bytesRead += bytesRead
    // the window is reused by the next file: its queued chunks must be sent (copied) first
    if (!isSmall || this.uploads.queuedCount >= CHECK_BATCH_IDS) await this.flushChecks()
    return { content, bytesRead }
  }

  /** Sends queued chunks on; afterwards nothing refers to the arena, so it starts over. */
  private async flushChecks(): Promise<void> {
    await this.uploads.flush(() => this.throwIfFailed())
    this.arenaUsed = 0
  }
}

function chunkerFor(repo: Repository, name: string, size: number): { chunker: Chunker; maxBytes: number } {
  const dot = name.lastIndexOf('.')
  const ext = dot >= 0 ? name.slice(dot + 1).toLowerCase() : ''
  if (IN_PLACE_EXTENSIONS.has(ext) && size > repo.config.smallChunker.maxBytes) {
    return { chunker: repo.inPlaceChunker, maxBytes: repo.config.smallChunker.maxBytes }
  }
  return { chunker: repo.fileChunker, maxBytes: repo.config.fileChunker.maxBytes }
}

function nodeFromStat(
  name: string,
  type: TreeNode['type'],
  st: EntryStat,
  extra: { content?: ChunkRef[]; subtree?: Uint8Array; linkTarget?: string; size?: number; xattrs?: Xattr[] },
): TreeNode {
  const node: TreeNode = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    size: extra.size ?? (type === 'file' || type === 'symlink' ? Number(st.size) : 0),
    ino: st.ino,
    dev: st.dev,
    nlink: Number(st.nlink),
    content: extra.content,
    subtree: extra.subtree,
    linkTarget: extra.linkTarget,
  }
  if (extra.xattrs !== undefined) node.xattrs = extra.xattrs
  return node
}

/** What the archiver uses of an lstat: node:fs's BigIntStats, or an entry of a native directory scan. */
type EntryStat = Pick<BigIntStats, 'mode' | 'uid' | 'gid' | 'size' | 'mtimeNs' | 'ctimeNs' | 'ino' | 'dev' | 'nlink'>

/** Entry `i` of a scan; throws a node:fs-like error when its lstat failed. */
function scannedStat(scan: DirScan, i: number): EntryStat {
  const errno = scan.errors[i]
  if (errno !== 0) {
    const code = getSystemErrorName(-errno)
    throw Object.assign(new Error(`${code}: lstat failed`), { code, errno: -errno, syscall: 'lstat' })
  }
  const s = scan.stats
  const at = i * SCAN_FIELDS
  return {
    mode: s[at + ScanField.MODE], uid: s[at + ScanField.UID], gid: s[at + ScanField.GID], size: s[at + ScanField.SIZE],
    mtimeNs: s[at + ScanField.MTIME_NS], ctimeNs: s[at + ScanField.CTIME_NS], ino: BigInt.asUintN(64, s[at + ScanField.INO]),
    dev: BigInt.asUintN(64, s[at + ScanField.DEV]), nlink: s[at + ScanField.NLINK],
  }
}

/** Same inode, unchanged since the parent snapshot, which recorded its attributes (ctime moves with any change). */
function isSameInode(prev: TreeNode, st: EntryStat): boolean {
  return prev.isXattrsUnknown !== true && prev.ctimeNs === st.ctimeNs && prev.mtimeNs === st.mtimeNs && prev.ino === st.ino && prev.dev === st.dev
}

/** What the directory cache keeps of a directory's own entries. */
function ownRecord(nodes: readonly TreeNode[]): Omit<DirRecord, 'listing'> {
  const record = { files: 0, symlinks: 0, logicalBytes: 0, subtrees: [] as Uint8Array[] }
  for (const n of nodes) {
    if (n.type === 'file') {
      record.files++
      record.logicalBytes += n.size
    } else if (n.type === 'symlink') record.symlinks++
    else if (n.type === 'dir') record.subtrees.push(n.subtree!)
  }
  return record
}

/** True when `nodes` would encode exactly as `prev` (a tree read from the parent snapshot) does. */
function isSameNodes(nodes: readonly TreeNode[], prev: readonly TreeNode[]): boolean {
  if (nodes.length !== prev.length) return false
  for (let i = 0; i < nodes.length; i++) if (!isSameNode(nodes[i], prev[i])) return false
  return true
}

function isSameNode(a: TreeNode, b: TreeNode): boolean {
  if (
    b.isXattrsUnknown === true || a.name !== b.name || a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid ||
    a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs || a.size !== b.size || a.ino !== b.ino || a.dev !== b.dev || a.nlink !== b.nlink ||
    a.linkTarget !== b.linkTarget || !isSameXattrs(a.xattrs, b.xattrs)
  ) return false
  if (a.type === 'dir') return a.subtree !== undefined && b.subtree !== undefined && Buffer.compare(a.subtree, b.subtree) === 0
  if (a.type !== 'file') return true
  const ac = a.content ?? []
  const bc = b.content ?? []
  if (ac === bc) return true
  if (ac.length !== bc.length) return false
  for (let i = 0; i < ac.length; i++) {
    if (ac[i].length !== bc[i].length || Buffer.compare(ac[i].id, bc[i].id) !== 0) return false
  }
  return true
}

function isSameXattrs(a: readonly Xattr[] | undefined, b: readonly Xattr[] | undefined): boolean {
  if (a === b) return true
  const al = a ?? []
  const bl = b ?? []
  if (al.length !== bl.length) return false
  for (let i = 0; i < al.length; i++) if (al[i].name !== bl[i].name || Buffer.compare(al[i].value, bl[i].value) !== 0) return false
  return true
}

/** The absolute paths as a tree of selected components; `true` selects a whole subtree. */
function buildSelection(paths: string[]): Selection | true {
  const root: Selection = new Map()
  for (const p of paths) {
    const parts = p.split('/').filter((x) => x !== '')
    if (parts.length === 0) return true
    let node: Selection = root
    for (let i = 0; i < parts.length; i++) {
      const existing = node.get(parts[i])
      if (existing === true) break
      if (i === parts.length - 1) {
        node.set(parts[i], true)
        break
      }
      if (existing === undefined) {
        const child: Selection = new Map()
        node.set(parts[i], child)
        node = child
      } else node = existing
    }
  }
  return root
}

/** Sorts names by their UTF-8 bytes (the tree order), encoding each name once. */
function sortByUtf8(names: string[]): string[] {
  const keyed = names.map((name) => ({ name, bytes: Buffer.from(name, 'utf8') }))
  keyed.sort((a, b) => Buffer.compare(a.bytes, b.bytes))
  return keyed.map((k) => k.name)
}

function safeUsername(): string {
  try {
    return userInfo().username
  } catch {
    return ''
  }
}
