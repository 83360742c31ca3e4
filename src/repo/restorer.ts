/**
 * The restorer: recreates a snapshot, a directory or a single file under a target directory with its metadata.
 * Names come validated from the tree decoder; files are created with O_EXCL|O_NOFOLLOW and existing directories
 * must be real directories, so a crafted tree or a planted symlink cannot make it write outside the target.
 * Every chunk is authenticated; a bad chunk is reported against its file and the rest of the restore goes on.
 */
import {
  closeSync, constants, fchmodSync, fchownSync, ftruncateSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeSync, chmodSync, chownSync, type Stats,
} from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { ObjectKind } from '../protocol/object-envelope.js'
import type { Repository } from './repository.js'
import type { SealPool } from './seal-pool.js'
import type { Snapshot } from './snapshot.js'
import { resolveSnapshotPath } from './snapshot-path.js'
import type { TreeNode } from './tree.js'

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

const FILES_IN_FLIGHT = 256
const CHUNKS_AHEAD = 4
const ZEROS = Buffer.alloc(8 * 1024 * 1024)
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

  constructor(private readonly repo: Repository, private readonly options: RestoreOptions) {
    this.root = resolve(options.target)
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
    for (const node of nodes) {
      const path = this.childPath(dir, node.name)
      try {
        await this.restoreNode(path, node)
      } catch (err) {
        if (err instanceof ArcaError && err.code === 'UNSAFE_PATH') throw err
        this.problem(this.result.errors, path, (err as Error).message)
      }
    }
  }

  /** lstat or undefined when absent. */
  private existing(path: string): Stats | undefined {
    try {
      return lstatSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  /** Makes room for a new entry; false when an existing one must be kept. */
  private clear(path: string, st: Stats | undefined, isDirWanted: boolean): boolean {
    if (st === undefined) return true
    if (isDirWanted && st.isDirectory()) return true
    if (!this.options.overwrite) {
      this.problem(this.result.skipped, path, 'exists (use --overwrite to replace it)')
      return false
    }
    if (st.isDirectory()) rmSync(path, { recursive: true, force: true })
    else unlinkSync(path)
    return true
  }

  private async restoreNode(path: string, node: TreeNode): Promise<void> {
    const st = this.existing(path)
    if (node.type === 'dir') {
      if (!this.clear(path, st, true)) return
      if (st === undefined || !st.isDirectory()) mkdirSync(path, { mode: 0o700 })
      this.result.dirs++
      this.dirMeta.push({ path, node })
      const children = node.subtree === undefined ? [] : await this.repo.loadTree(node.subtree)
      await this.restoreNodes(path, children)
    } else if (node.type === 'symlink') {
      if (!this.clear(path, st, false)) return
      symlinkSync(node.linkTarget ?? '', path)
      this.applyMeta(path, node)
      this.result.symlinks++
    } else {
      if (!this.clear(path, st, false)) return
      if (node.nlink > 1) {
        const key = `${node.dev}:${node.ino}`
        if (this.firstLink.has(key)) {
          this.links.push({ path, key })
          return
        }
        this.firstLink.set(key, path)
      }
      while (this.running.size >= FILES_IN_FLIGHT) await Promise.race(this.running)
      const job = this.restoreFile(path, node).finally(() => this.running.delete(job))
      this.running.add(job)
    }
  }

  private async restoreFile(path: string, node: TreeNode): Promise<void> {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
    try {
      const content = node.content ?? []
      const fetches: Promise<Uint8Array>[] = []
      let position = 0
      let failed = 0
      for (let i = 0; i < content.length; i++) {
        for (let j = fetches.length; j < Math.min(content.length, i + CHUNKS_AHEAD); j++) {
          const fetch = this.fetch(content[j])
          fetch.catch(() => {}) // handled when awaited; later ones are dropped after a failure
          fetches.push(fetch)
        }
        let data: Uint8Array
        try {
          data = await fetches[i]
        } catch (err) {
          failed++
          this.problem(this.result.errors, path, `chunk ${i} (${toHex(content[i]).slice(0, 16)}): ${(err as Error).message}`)
          // the size of a lost chunk is unknown: later chunks cannot be placed, stop here
          break
        }
        fetches[i] = undefined as unknown as Promise<Uint8Array>
        if (!isZeros(data)) writeAll(fd, data, position)
        position += data.length
      }
      ftruncateSync(fd, failed > 0 ? position : node.size)
      if (failed === 0 && position !== node.size) {
        this.problem(this.result.errors, path, `restored ${position} bytes, the snapshot records ${node.size}`)
      }
      this.result.files++
      this.result.bytes += position
      this.options.onProgress?.({ files: this.result.files, bytes: this.result.bytes })
      if (isRoot) fchownSync(fd, node.uid, node.gid)
      fchmodSync(fd, node.mode)
      futimesSync(fd, toTime(node.mtimeNs), toTime(node.mtimeNs))
    } finally {
      closeSync(fd)
    }
  }

  private async fetch(id: Uint8Array): Promise<Uint8Array> {
    const envelope = await this.repo.store.get(id)
    return (await this.options.pool.submit({ op: 'open', id, data: envelope, kind: ObjectKind.CHUNK })).data
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

  private applyMeta(path: string, node: TreeNode): void {
    const time = toTime(node.mtimeNs)
    try {
      if (node.type === 'symlink') {
        if (isRoot) lchownSync(path, node.uid, node.gid)
        lutimesSync(path, time, time)
        return
      }
      if (isRoot) chownSync(path, node.uid, node.gid)
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

function isZeros(data: Uint8Array): boolean {
  if (data.length > ZEROS.length) return false
  return Buffer.compare(data, ZEROS.subarray(0, data.length)) === 0
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done)
}
