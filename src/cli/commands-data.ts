/**
 * arca backup, snapshots, ls, restore, check, forget.
 */
import { ArcaError } from '../core/errors.js'
import type { BackupMode } from '../protocol/snapshot-record.js'
import { backup, startScanning } from '../repo/archiver.js'
import { check } from '../repo/checker.js'
import { restore } from '../repo/restorer.js'
import { resolveSnapshot, type Snapshot } from '../repo/snapshot.js'
import { resolveSnapshotPath } from '../repo/snapshot-path.js'
import type { Repository } from '../repo/repository.js'
import type { TreeNode } from '../repo/tree.js'
import { all, parseArgs, single } from './args.js'
import { cacheDir, defaultDeviceName, REPO_OPTIONS, storeDirs, withPool, withRepository, type Io } from './context.js'
import { formatBytes, formatDuration, ProgressLine } from './progress.js'

const MODES: readonly BackupMode[] = ['full', 'incremental', 'differential']

export async function backupCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const args = parseArgs('backup', argv, {
    ...REPO_OPTIONS, plan: { value: true }, mode: { value: true }, exclude: { value: true, repeat: true },
    include: { value: true, repeat: true }, device: { value: true }, json: {}, 'no-cache': {},
  })
  const plan = single(args, 'plan')
  if (plan === undefined) throw ArcaError.invalidArgument('arca backup needs --plan NAME')
  const mode = (single(args, 'mode') ?? 'incremental') as BackupMode
  if (!MODES.includes(mode)) throw ArcaError.invalidArgument(`Invalid --mode "${mode}": expected full, incremental or differential`)
  if (args.positionals.length === 0) throw ArcaError.invalidArgument('arca backup needs at least one PATH')
  const rules = { excludes: all(args, 'exclude'), includes: all(args, 'include'), skipPaths: storeDirs(args, io) }
  // the directories are scanned while the vault is unlocked (scrypt runs on one core for about 0.4 s)
  const scanner = startScanning(args.positionals, rules)
  try {
    return await withRepository(args, io, (repo) =>
      withPool(repo, async (pool) => {
        const progress = new ProgressLine(io.clock)
        const result = await backup(repo, {
          plan, mode, paths: args.positionals, ...rules, scanner, cacheDir: cacheDir(args, io), log: (m) => io.err(`arca: ${m}`),
          deviceName: single(args, 'device') ?? defaultDeviceName(args, io), clock: io.clock, pool, signal,
          onProgress: (p) => progress.update('backup', p.files, p.logicalBytes, p.estimatedBytes),
          onWarning: (w) => {
            progress.done()
            io.err(`warning: ${JSON.stringify(w.path)}: ${w.reason}`)
          },
        }).finally(() => progress.done())
        const s = result.stats
        if (args.flags.has('json')) {
          io.out(JSON.stringify({ snapshot: result.snapshot.idHex, mode: result.mode, stats: s, warnings: result.warnings, warningCount: result.snapshot.body.warningCount }))
        } else {
          const seconds = (result.snapshot.body.finishedAt - result.snapshot.body.startedAt) / 1000
          io.out(`snapshot ${result.snapshot.idHex.slice(0, 8)} saved (${result.mode}) in ${seconds.toFixed(1)}s`)
          io.out(`files: ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnchanged} unchanged, ${s.filesDeleted} removed, ${s.filesSkipped} skipped`)
          io.out(`data: ${formatBytes(s.bytesRead)} read, ${formatBytes(s.bytesNew)} new, ${formatBytes(s.bytesStored)} stored`)
          if (result.snapshot.body.warningCount > 0) io.out(`${result.snapshot.body.warningCount} warnings (see above)`)
        }
        return 0
      }),
    )
  } finally {
    scanner.stop()
  }
}

export async function snapshotsCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('snapshots', argv, { ...REPO_OPTIONS, json: {} })
  return withRepository(args, io, async (repo) => {
    const list = await repo.listSnapshots()
    if (args.flags.has('json')) {
      io.out(JSON.stringify(list.map(snapshotJson)))
      return 0
    }
    io.out('ID        Time                      Mode          Plan                 Device           Files     Size')
    for (const s of [...list].reverse()) {
      io.out([
        s.idHex.slice(0, 8), new Date(s.header.createdAt).toISOString().padEnd(25), s.header.mode.padEnd(13),
        s.body.plan.slice(0, 20).padEnd(20), s.header.deviceName.slice(0, 16).padEnd(16), String(s.header.fileCount).padStart(5),
        formatBytes(s.header.logicalBytes).padStart(10),
      ].join(' '))
    }
    io.out(`${list.length} snapshots`)
    return 0
  })
}

function snapshotJson(s: Snapshot): Record<string, unknown> {
  return {
    id: s.idHex, time: new Date(s.header.createdAt).toISOString(), mode: s.header.mode, plan: s.body.plan, device: s.header.deviceName,
    hostname: s.body.hostname, paths: s.body.paths, parent: s.body.parent, files: s.header.fileCount, logicalBytes: s.header.logicalBytes,
    addedBytes: s.header.addedBytes, stats: s.body.stats, warningCount: s.body.warningCount,
  }
}

function nodeJson(path: string, n: TreeNode): Record<string, unknown> {
  return {
    path, type: n.type, mode: '0' + n.mode.toString(8), uid: n.uid, gid: n.gid, size: n.size,
    mtime: new Date(Number(n.mtimeNs / 1_000_000n)).toISOString(), ...(n.linkTarget !== undefined ? { target: n.linkTarget } : {}),
    ...(n.content !== undefined ? { chunks: n.content.length } : {}),
    ...(n.xattrs !== undefined ? { xattrs: n.xattrs.map((x) => x.name) } : {}),
  }
}

export async function lsCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('ls', argv, { ...REPO_OPTIONS, json: {} })
  const [ref, path, ...extra] = args.positionals
  if (ref === undefined || extra.length > 0) throw ArcaError.invalidArgument('Usage: arca ls --repo DIR SNAPSHOT [PATH] [--json]')
  return withRepository(args, io, async (repo) => {
    const snapshot = resolveSnapshot(await repo.listSnapshots(), ref)
    const start = await resolveSnapshotPath(repo, snapshot, path)
    const emit = (p: string, n: TreeNode): void => {
      if (args.flags.has('json')) io.out(JSON.stringify(nodeJson(p, n)))
      else io.out(`${n.type === 'dir' ? 'd' : n.type === 'symlink' ? 'l' : '-'}${modeString(n.mode)} ${String(n.size).padStart(12)} ${new Date(Number(n.mtimeNs / 1_000_000n)).toISOString()} ${p}${n.linkTarget !== undefined ? ' -> ' + n.linkTarget : ''}`)
    }
    const walk = async (prefix: string, nodes: TreeNode[]): Promise<void> => {
      for (const n of nodes) {
        const p = prefix === '/' ? '/' + n.name : prefix + '/' + n.name
        emit(p, n)
        if (n.type === 'dir' && n.subtree !== undefined) await walk(p, await repo.loadTree(n.subtree))
      }
    }
    if (start.node !== undefined) emit(start.path, start.node)
    await walk(start.path, start.children ?? [])
    return 0
  })
}

function modeString(mode: number): string {
  const r = (m: number): string => (m & 4 ? 'r' : '-') + (m & 2 ? 'w' : '-') + (m & 1 ? 'x' : '-')
  return r(mode >> 6) + r(mode >> 3) + r(mode)
}

/** SNAPSHOT or SNAPSHOT:PATH */
function splitRef(arg: string): { ref: string; path?: string } {
  const colon = arg.indexOf(':')
  return colon < 0 ? { ref: arg } : { ref: arg.slice(0, colon), path: arg.slice(colon + 1) }
}

export async function restoreCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('restore', argv, { ...REPO_OPTIONS, target: { value: true }, overwrite: {}, json: {} })
  const [arg, ...extra] = args.positionals
  const target = single(args, 'target')
  if (arg === undefined || extra.length > 0 || target === undefined) {
    throw ArcaError.invalidArgument('Usage: arca restore --repo DIR SNAPSHOT[:PATH] --target DIR [--overwrite]')
  }
  const { ref, path } = splitRef(arg)
  return withRepository(args, io, (repo: Repository) =>
    withPool(repo, async (pool) => {
      const snapshot = resolveSnapshot(await repo.listSnapshots(), ref)
      const progress = new ProgressLine(io.clock)
      const startedAt = io.clock.now()
      const total = path === undefined ? snapshot.header.logicalBytes : undefined
      const result = await restore(repo, snapshot, {
        target, path, overwrite: args.flags.has('overwrite'), pool,
        onProgress: (p) => progress.update('restore', p.files, p.bytes, total),
      }).finally(() => progress.done())
      for (const s of result.skipped.slice(0, 50)) io.err(`skipped: ${JSON.stringify(s.path)}: ${s.reason}`)
      if (result.skipped.length > 50) io.err(`skipped: ... and ${result.skipped.length - 50} more`)
      for (const e of result.errors) io.err(`error: ${JSON.stringify(e.path)}: ${e.reason}`)
      if (args.flags.has('json')) io.out(JSON.stringify({ snapshot: snapshot.idHex, ...result }))
      else {
        io.out(`restored ${result.files} files, ${result.dirs} directories, ${result.symlinks} symlinks, ${formatBytes(result.bytes)} in ${formatDuration(io.clock.now() - startedAt)}`)
        if (result.skipped.length > 0) io.out(`${result.skipped.length} existing entries left alone (use --overwrite to replace them)`)
      }
      if (result.errors.length > 0) throw ArcaError.integrity(`restore finished with ${result.errors.length} errors (listed above)`)
      return 0
    }),
  )
}

export async function checkCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('check', argv, { ...REPO_OPTIONS, 'read-data': {}, 'read-data-subset': { value: true }, json: {} })
  const subset = single(args, 'read-data-subset')
  return withRepository(args, io, (repo) =>
    withPool(repo, async (pool) => {
      const progress = new ProgressLine(io.clock)
      const result = await check(repo, {
        readData: args.flags.has('read-data') || subset !== undefined, subset, pool,
        onProgress: (p) => progress.update('check', p.chunksRead, p.bytesRead),
      }).finally(() => progress.done())
      if (args.flags.has('json')) io.out(JSON.stringify(result))
      else {
        io.out(`${result.snapshots} snapshots, ${result.trees} trees, ${result.chunks} chunks referenced`)
        if (result.chunksRead > 0) io.out(`read and verified ${result.chunksRead} chunks, ${formatBytes(result.bytesRead)}`)
        for (const p of result.problems.slice(0, 100)) io.err(`error: ${p.id}: ${p.reason}`)
        io.out(result.problems.length === 0 ? 'no errors found' : `${result.problems.length} errors found`)
      }
      if (result.problems.length > 0) throw ArcaError.integrity(`check found ${result.problems.length} errors`)
      return 0
    }),
  )
}

export async function forgetCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('forget', argv, REPO_OPTIONS)
  if (args.positionals.length === 0) throw ArcaError.invalidArgument('Usage: arca forget --repo DIR SNAPSHOT...')
  return withRepository(args, io, async (repo) => {
    const list = await repo.listSnapshots()
    for (const ref of args.positionals) {
      const s = resolveSnapshot(list, ref)
      await repo.store.removeSnapshot(s.id)
      io.out(`removed snapshot ${s.idHex.slice(0, 8)} (its data is reclaimed by a later prune)`)
    }
    return 0
  })
}
