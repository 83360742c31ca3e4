/**
 * The restorer: recreates a snapshot, a directory or a single file under a target directory with its metadata.
 * Names come validated from the tree decoder; files are created with O_EXCL|O_NOFOLLOW and existing directories
 * must be real directories, so a crafted tree or a planted symlink cannot make it write outside the target.
 * Every chunk is authenticated; a bad chunk is reported against its file and the rest of the restore goes on.
 */
import {
  closeSync, constants, fchmodSync, fchownSync, ftruncateSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, rmSync, symlinkSync, unlinkSync, utimesSync, chmodSync, chownSync, type Stats,
} from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { ObjectKind } from '../protocol/object-envelope.js'
import type { Repository } from './repository.js'
import type { PoolOutput, SealPool } from './seal-pool.js'
import type { Snapshot } from './snapshot.js'
import { resolveSnapshotPath } from './snapshot-path.js'
import { SubtreePrefetch, TreeReadAhead } from './subtree-prefetch.js'
import type { ChunkRef, TreeNode } from './tree.js'
import { writeXattrs } from './xattrs.js'

export interface RestoreOptions {
  target: string
  /** Path inside the snapshot; the whole snapshot when absent. */
  path?: string
  overwrite?: boolean
  pool: SealPool
  onProgress?: (p: RestoreProgress) => void
  onProblem?: (p: RestoreProblem) => void
}

export interface RestoreProgress {
  files: number
  bytes: number
}

export interface RestoreProblem {
  path: string
  reason: string
}

export interface RestoreResult {
  files: number
  dirs: number
  symlinks: number
  bytes: number
  /** Existing entries left alone (without --overwrite). */
  skipped: RestoreProblem[]
  errors: RestoreProblem[]
}

const FILES_IN_FLIGHT = 512
const MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
const EMPTY = new Uint8Array(0)
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

export async function restore(repo: Repository, snapshot: Snapshot, options: RestoreOptions): Promise<RestoreResult> {
  return new Restorer(repo, options).run(snapshot)
}

class Restorer {
  private readonly result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, skipped: [], errors: [] }
  private readonly root: string
  private readonly dirMeta: { path: string; node: TreeNode }[] = []
  private readonly links: { path: string; key: string }[] = []
  private readonly firstLink = new Map<string, string>()
  private readonly running = new Set<Promise<void>>()
  private lowWater = -1
  /** Backpressure: plaintext bytes of chunks between their read and their write stay bounded. */
  private inflightBytes = 0
  private roomWaiters: (() => void)[] = []
  private drainWaiter: (() => void) | undefined
  /** The snapshot's trees, loaded ahead of the walk. */
  private readonly trees: TreeReadAhead
  /** Set at the first ENOTSUP: the target file system keeps no extended attributes, reported once. */
  private isXattrsUnsupported = false

  constructor(private readonly repo: Repository, private readonly options: RestoreOptions) {
    this.root = resolve(options.target)
    this.trees = new TreeReadAhead(repo)
  }

  async run(snapshot: Snapshot): Promise<RestoreResult> {
    const selected = await resolveSnapshotPath(this.repo, snapshot, this.options.path)
    mkdirSync(this.root, { recursive: true })
    if (!lstatSync(this.root).isDirectory()) throw ArcaError.invalidArgument(`Restore target "${this.root}" is not a directory`)
    if (selected.node === undefined) await this.restoreNodes(this.root, selected.children ?? [])
    else await this.restoreNodes(this.root, [selected.node])
    await Promise.all(this.running)
    for (const { path, key } of this.links) this.linkNow(path, key)
    for (let i = this.dirMeta.length - 1; i >= 0; i--) this.applyMeta(this.dirMeta[i].path, this.dirMeta[i].node)
    return this.result
  }

  private problem(list: RestoreProblem[], path: string, reason: string): void {
    const p = { path, reason }
    list.push(p)
    this.options.onProblem?.(p)
  }

  private childPath(dir: string, name: string): string {
    const path = join(dir, name)
    if (!path.startsWith(this.root + sep)) throw new ArcaError('UNSAFE_PATH', `Refusing to write outside the target: ${JSON.stringify(path)}`)
    return path
  }

  private async restoreNodes(dir: string, nodes: TreeNode[]): Promise<void> {
    const subtrees = new SubtreePrefetch(this.trees, nodes)
    for (const node of nodes) {
      const path = this.childPath(dir, node.name)
      try {
        await this.restoreNode(path, node, subtrees)
      } catch (err) {
        if (err instanceof ArcaError && err.code === 'UNSAFE_PATH') throw err
        this.problem(this.result.errors, path, (err as Error).message)
      }
    }
  }

  /**
   * Runs `create`; when the name is taken, applies the overwrite rules and, if the entry may be replaced, runs
   * `create` again. Creating first saves an lstat per entry on an empty target. False when the entry is kept.
   */
  private createOrClear(path: string, isDirWanted: boolean, create: () => void): boolean {
    try {
      create()
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const st: Stats = lstatSync(path)
    if (isDirWanted && st.isDirectory()) return true
    if (!this.options.overwrite) {
      this.problem(this.result.skipped, path, 'exists (use --overwrite to replace it)')
      return false
    }
    if (st.isDirectory()) rmSync(path, { recursive: true, force: true })
    else unlinkSync(path)
    create()
    return true
  }

  private async restoreNode(path: string, node: TreeNode, subtrees: SubtreePrefetch): Promise<void> {
    if (node.type === 'dir') {
      if (!this.createOrClear(path, true, () => mkdirSync(path, { mode: 0o700 }))) return
      this.result.dirs++
      this.dirMeta.push({ path, node })
      const children = (await subtrees.load(node.name)) ?? []
      await this.restoreNodes(path, children)
    } else if (node.type === 'symlink') {
      if (!this.createOrClear(path, false, () => symlinkSync(node.linkTarget ?? '', path))) return
      this.applyMeta(path, node)
      this.result.symlinks++
    } else {
      if (node.nlink > 1) {
        const key = `${node.dev}:${node.ino}`
        if (this.firstLink.has(key)) {
          this.links.push({ path, key })
          return
        }
        this.firstLink.set(key, path)
      }
      let fd = -1
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
      if (!this.createOrClear(path, false, () => (fd = openSync(path, flags, 0o600)))) return
      if (this.running.size >= FILES_IN_FLIGHT) await this.drainTo(FILES_IN_FLIGHT - 64)
      const job = this.restoreFile(fd, path, node).finally(() => {
        this.running.delete(job)
        if (this.running.size <= this.lowWater) this.wakeDrain()
      })
      this.running.add(job)
    }
  }

  /** Waits until at most `count` files are in flight, so new files start in bulk (and batch well). */
  private drainTo(count: number): Promise<void> {
    this.lowWater = count
    return new Promise((resolve) => (this.drainWaiter = resolve))
  }

  private wakeDrain(): void {
    const w = this.drainWaiter
    this.drainWaiter = undefined
    this.lowWater = -1
    w?.()
  }

  /**
   * Every chunk's position is known from the tree, so all of a file's chunks are fetched at once and the seal
   * threads decrypt, verify and write them in place; the main thread never touches plaintext.
   */
  private async restoreFile(fd: number, path: string, node: TreeNode): Promise<void> {
    try {
      const content = node.content ?? []
      const jobs: Promise<PoolOutput>[] = []
      let position = 0
      for (const chunk of content) {
        while (this.inflightBytes >= MAX_INFLIGHT_BYTES) await new Promise<void>((resolve) => this.roomWaiters.push(resolve))
        this.inflightBytes += chunk.length
        jobs.push(
          this.fetchInto(chunk, fd, position).finally(() => {
            this.inflightBytes -= chunk.length
            const waiters = this.roomWaiters
            this.roomWaiters = []
            for (const w of waiters) w()
          }),
        )
        position += chunk.length
      }
      const results = await Promise.allSettled(jobs)
      let writtenEnd = 0
      position = 0
      results.forEach((r, i) => {
        const chunk = content[i]
        if (r.status === 'rejected') {
          this.problem(this.result.errors, path, `chunk ${i} (${toHex(chunk.id).slice(0, 16)}): ${(r.reason as Error).message}`)
        } else if (r.value.plainBytes !== chunk.length) {
          this.problem(this.result.errors, path, `chunk ${i} (${toHex(chunk.id).slice(0, 16)}): ${r.value.plainBytes} bytes, the tree records ${chunk.length}`)
        } else if (r.value.isWritten) writtenEnd = position + chunk.length
        position += chunk.length
      })
      // a failed chunk stays a hole of the right size, so every other chunk is in its place
      if (writtenEnd !== node.size) ftruncateSync(fd, node.size)
      this.result.files++
      this.result.bytes += node.size
      this.options.onProgress?.({ files: this.result.files, bytes: this.result.bytes })
      if (isRoot) fchownSync(fd, node.uid, node.gid)
      // after the owner (chown drops security.capability), before the mode (user.* needs write permission)
      if (node.xattrs !== undefined) this.restoreXattrs(fd, path, node)
      fchmodSync(fd, node.mode)
      futimesSync(fd, toTime(node.mtimeNs), toTime(node.mtimeNs))
    } finally {
      closeSync(fd)
    }
  }

  private async fetchInto(chunk: ChunkRef, fd: number, position: number): Promise<PoolOutput> {
    const source = this.repo.store.locate?.(chunk.id)
    if (source !== undefined) {
      return this.options.pool.submit({ op: 'open', id: chunk.id, data: EMPTY, source, kind: ObjectKind.CHUNK, writeTo: { fd, position } })
    }
    const envelope = await this.repo.store.get(chunk.id)
    return this.options.pool.submit({ op: 'open', id: chunk.id, data: envelope, kind: ObjectKind.CHUNK, writeTo: { fd, position } })
  }

  private linkNow(path: string, key: string): void {
    const first = this.firstLink.get(key)!
    try {
      linkSync(first, path)
      this.result.files++
    } catch (err) {
      this.problem(this.result.errors, path, `cannot create hard link to ${first}: ${(err as Error).message}`)
    }
  }

  private restoreXattrs(target: string | number, path: string, node: TreeNode): void {
    if (this.isXattrsUnsupported) return
    const failures = writeXattrs(target, node.xattrs ?? [])
    if (failures.length === 0) return
    if (failures.some((f) => f.error.code === 'ENOTSUP')) {
      this.isXattrsUnsupported = true
      this.problem(this.result.errors, path, 'extended attributes not restored here nor anywhere after: the target file system does not support them')
      return
    }
    const list = failures.map((f) => `"${f.name}" (${f.error.code ?? f.error.message})`).join(', ')
    this.problem(this.result.errors, path, `cannot restore extended attributes ${list}`)
  }

  private applyMeta(path: string, node: TreeNode): void {
    const time = toTime(node.mtimeNs)
    try {
      if (node.type === 'symlink') {
        if (isRoot) lchownSync(path, node.uid, node.gid)
        if (node.xattrs !== undefined) this.restoreXattrs(path, path, node)
        lutimesSync(path, time, time)
        return
      }
      if (isRoot) chownSync(path, node.uid, node.gid)
      if (node.xattrs !== undefined) this.restoreXattrs(path, path, node)
      chmodSync(path, node.mode)
      utimesSync(path, time, time)
    } catch (err) {
      this.problem(this.result.errors, path, `cannot restore metadata: ${(err as Error).message}`)
    }
  }
}

/**
 * Seconds as a number for times after 1970, a Date before (Node turns negative numbers into "now"). libuv keeps
 * microseconds and truncates, so the value is nudged by half a microsecond to land on the exact one.
 */
function toTime(ns: bigint): number | Date {
  return ns >= 0n ? (Number(ns / 1000n) + 0.5) / 1e6 : new Date(Number(ns / 1_000_000n))
}
