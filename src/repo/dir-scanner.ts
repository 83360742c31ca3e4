/**
 * Directory scans for the archiver, run on libuv threads ahead of the walk. A backup can start scanning before
 * its vault is unlocked (`warm`: the scrypt key derivation takes about 0.4 s on one core, the scans use the other),
 * and while it walks, the subdirectories of the directory at hand are scanned ahead (`prefetch`). Memory stays
 * bounded: at most WARM_DIRS scans of a head start and PREFETCH_DIRS prefetched scans wait to be taken.
 */
import { constants } from 'node:fs'
import { sep } from 'node:path'
import { scanDir, scanDirAsync, ScanField, SCAN_FIELDS, type DirScan } from '../core/native-addon.js'

const WARM_DIRS = 4096
const WARM_ENTRIES = 131072
const WARM_CONCURRENCY = 3
const PREFETCH_DIRS = 64

/** Whether the walk descends into the directory `path` (named `name`): the archiver's exclusion rules. */
export type DescendRule = (path: string, name: string) => boolean

export class DirScanner {
  private readonly scans = new Map<string, { scan: Promise<DirScan>; isPrefetch: boolean }>()
  /** Prefetched scans not taken yet. */
  private prefetched = 0
  private isWarming = false

  /**
   * Scans `roots` and the directories below them, depth first in name order as the archiver walks, until
   * WARM_DIRS directories or WARM_ENTRIES entries are scanned or `stop` is called. Scans are kept for `take`.
   */
  warm(roots: readonly string[], shouldDescend: DescendRule): void {
    this.isWarming = true
    const stack = [...roots].reverse()
    let dirs = 0
    let entries = 0
    let running = 0
    const next = (): void => {
      while (this.isWarming && running < WARM_CONCURRENCY && stack.length > 0 && dirs < WARM_DIRS && entries < WARM_ENTRIES) {
        const path = stack.pop()!
        if (this.scans.has(path)) continue
        dirs++
        running++
        const scan = this.start(path, false)
        scan.then((s) => {
          running--
          entries += s.names.length
          const children = subdirectories(path, s, shouldDescend)
          for (let i = children.length - 1; i >= 0; i--) stack.push(children[i])
          next()
        }, () => {
          running--
          next()
        })
      }
    }
    next()
  }

  /** Ends the head start: scans already running finish and stay available. */
  stop(): void {
    this.isWarming = false
  }

  /** Starts scanning the subdirectories of `path` the walk will enter, within the prefetch bound. */
  prefetch(path: string, scan: DirScan, shouldDescend: DescendRule): void {
    for (const child of subdirectories(path, scan, shouldDescend)) {
      if (this.prefetched >= PREFETCH_DIRS) return
      if (this.scans.has(child)) continue
      this.prefetched++
      this.start(child, true)
    }
  }

  /**
   * The scan of `path`: the one started ahead (then forgotten), or a new one. Rejects as `scanDir` throws. A walk
   * that asks for a directory the head start has not reached has overtaken it: the head start stops, or it would
   * scan again directories the walk has passed.
   */
  take(path: string): Promise<DirScan> {
    const started = this.scans.get(path)
    if (started === undefined) {
      this.stop()
      try {
        return Promise.resolve(scanDir(path))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    this.scans.delete(path)
    if (started.isPrefetch) this.prefetched--
    return started.scan
  }

  private start(path: string, isPrefetch: boolean): Promise<DirScan> {
    const scan = scanDirAsync(path)
    scan.catch(() => {}) // a scan nobody takes must not be an unhandled rejection; `take` gets the rejection
    this.scans.set(path, { scan, isPrefetch })
    return scan
  }
}

/** The mode of entry `i` of a scan (0 when its lstat failed). */
function scannedMode(scan: DirScan, i: number): number {
  return Number(scan.stats[i * SCAN_FIELDS + ScanField.MODE])
}

function subdirectories(path: string, scan: DirScan, shouldDescend: DescendRule): string[] {
  const out: string[] = []
  for (let i = 0; i < scan.names.length; i++) {
    if (scan.errors[i] !== 0 || (scannedMode(scan, i) & constants.S_IFMT) !== constants.S_IFDIR) continue
    const child = childPath(path, scan.names[i])
    if (shouldDescend(child, scan.names[i])) out.push(child)
  }
  return out
}

/** The path of entry `name` of directory `dir`. */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + sep + name
}
