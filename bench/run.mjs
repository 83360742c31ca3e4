#!/usr/bin/env node
// bench/run.mjs: Arca against restic on the shared office-backup dataset (day 1, no change, day 2, restore,
// check --read-data), wall time and peak RSS per step, repository sizes, then a table against the targets.
// Three tools: "arca" (embedded store, --repo), "arca-net" (the same agent against a storage node running as a
// separate process on loopback) and "restic". Plain Node ESM, node:* only. Usage and what it measures:
// bench/README.md.

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initNodeData, pairDevice, procMemKiB, startNodeProcess, trackPeakRss } from './node-process.mjs'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SHARED_DIR = process.env.ARCA_BENCH_SHARED ?? path.resolve(REPO_ROOT, '..', 'shared', 'bench')
const BENCH_DIR = path.resolve(process.env.ARCA_BENCH_DIR ?? '/tmp/arca-bench')
const DATA_DIR = path.join(BENCH_DIR, 'data')
const PRISTINE_MARKER = path.join(BENCH_DIR, 'data.day1-pristine')
const LOG_DIR = path.join(BENCH_DIR, 'logs')
const ARCA_MAIN = path.join(REPO_ROOT, 'dist', 'cli', 'main.js')
const PASSPHRASE = 'arca-bench-passphrase-not-a-secret-0123'
const RESTORE_IMAGE_BYTES = 8 * 1024 ** 3
const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`
const MB = 1e6
const MIB = 1024 ** 2
const TOOLS = ['arca', 'arca-net', 'restic']
/** restic 0.14 backing up this dataset over sftp, day 1 (cited from the issue; not measured by this script). */
const RESTIC_SFTP_DAY1 = { medianMs: 37_700, bestMs: 23_900 }
const TIMED_STEPS = [
  { key: 'day1', label: 'day-1 backup' },
  { key: 'nochange', label: 'no-change backup' },
  { key: 'day2', label: 'day-2 backup' },
  { key: 'restore', label: 'restore (fresh fs)' },
  { key: 'check', label: 'check --read-data' },
]
const USAGE = `Usage: node bench/run.mjs [--only TOOL[,TOOL]]... [--skip-restore] [--json FILE] [--reuse-day1] [--keep]
                        [--quick-verify]
Tools: arca (embedded store), arca-net (storage node as a separate process on loopback), restic; default all three
Env: ARCA_BENCH_DIR (default /tmp/arca-bench), ARCA_BENCH_SHARED (default <repo>/../shared/bench)`

class CommandError extends Error {
  constructor(message, stderrTail) {
    super(message)
    this.stderrTail = stderrTail
  }
}

function parseArgs(argv) {
  const opts = { only: null, skipRestore: false, json: null, reuseDay1: false, keep: false, quickVerify: false }
  const only = new Set()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) usageError(`Missing value for "${arg}"`)
      return argv[++i]
    }
    if (arg === '--only') {
      for (const tool of value().split(',')) {
        if (!TOOLS.includes(tool)) usageError(`Invalid value for "--only": expected ${TOOLS.join(', ')}, received "${tool}"`)
        only.add(tool)
      }
    } else if (arg === '--json') opts.json = path.resolve(value())
    else if (arg === '--skip-restore') opts.skipRestore = true
    else if (arg === '--reuse-day1') opts.reuseDay1 = true
    else if (arg === '--keep') opts.keep = true
    else if (arg === '--quick-verify') opts.quickVerify = true
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE)
      process.exit(0)
    } else usageError(`Unknown option "${arg}"`)
  }
  if (only.size > 0) opts.only = TOOLS.filter((t) => only.has(t))
  return opts
}

function usageError(message) {
  console.error(`${message}\n${USAGE}`)
  process.exit(2)
}

const log = (message) => console.log(`[bench] ${message}`)
const fmtSec = (ms) => `${(ms / 1000).toFixed(1)} s`
const fmtMB = (bytes) => `${(bytes / MB).toFixed(0)} MB`
const fmtMiB = (kib) => `${(kib / 1024).toFixed(0)} MiB`

/** Runs a command to completion with output to files; throws CommandError unless it exits 0. Not timed. */
function runQuiet(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MIB, env: { ...process.env, PATH: SBIN_PATH }, ...opts })
  if (res.error || res.status !== 0) {
    const why = res.error ? res.error.message : `exit code ${res.status ?? res.signal}`
    throw new CommandError(`Command failed: ${[cmd, ...args].join(' ')}: ${why}`, tail(`${res.stdout ?? ''}${res.stderr ?? ''}`))
  }
  return res.stdout
}

function tail(text, lines = 30) {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

function detectGnuTime() {
  const res = spawnSync('/usr/bin/time', ['--version'], { encoding: 'utf8' })
  return !res.error && /GNU/.test(`${res.stdout}${res.stderr}`)
}

function whichSync(name) {
  for (const dir of SBIN_PATH.split(':')) {
    if (dir && fs.existsSync(path.join(dir, name))) return path.join(dir, name)
  }
  return null
}

// ---------------------------------------------------------------------------------------------- timed steps

let currentChild = null
let stepCounter = 0

/** Sum of VmHWM over a process and its descendants (fallback when GNU time is missing; approximate). */
function treeHwmKiB(pid) {
  let total = 0
  const pending = [pid]
  while (pending.length > 0) {
    const p = pending.pop()
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, 'utf8')
      total += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
      for (const task of fs.readdirSync(`/proc/${p}/task`)) {
        const kids = fs.readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim()
        if (kids) pending.push(...kids.split(/\s+/).map(Number))
      }
    } catch {
      // the process exited between polls
    }
  }
  return total
}

/**
 * Runs one timed step: wall time from spawn to exit, peak RSS via GNU time (or /proc polling); for arca-net also
 * the node process's peak RSS over the step.
 */
async function timedStep(ctx, tool, stepKey, cmd, args, env) {
  const base = path.join(LOG_DIR, `${String(++stepCounter).padStart(2, '0')}-${tool}-${stepKey}`)
  const outFd = fs.openSync(`${base}.out`, 'w')
  const errFd = fs.openSync(`${base}.err`, 'w')
  const argv = ctx.hasGnuTime ? ['/usr/bin/time', '-f', '%M %U %S', '-o', `${base}.rss`, cmd, ...args] : [cmd, ...args]
  // untimed: write back what earlier steps left dirty, so no step pays for the writeback of the one before it
  // (the page cache stays warm; only dirty pages are flushed)
  spawnSync('sync')
  const load1 = os.loadavg()[0] // other users of a shared machine show up here, not in the numbers
  const nodeTracker = tool === 'arca-net' && ctx.node ? trackPeakRss(ctx.node.pid) : null
  const started = process.hrtime.bigint()
  const child = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, env, stdio: ['ignore', outFd, errFd], detached: true })
  currentChild = child
  let pollPeakKiB = 0
  const poller = ctx.hasGnuTime ? null : setInterval(() => {
    pollPeakKiB = Math.max(pollPeakKiB, treeHwmKiB(child.pid))
  }, 50)
  const exitCode = await new Promise((resolve) => {
    child.on('error', (err) => resolve(`spawn error: ${err.message}`))
    child.on('exit', (code, signal) => resolve(signal ? `signal ${signal}` : code))
  })
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  const nodeUse = nodeTracker?.stop() ?? null
  currentChild = null
  if (poller) clearInterval(poller)
  fs.closeSync(outFd)
  fs.closeSync(errFd)
  const commandLine = [cmd, ...args].join(' ')
  if (exitCode !== 0) {
    const output = `${fs.readFileSync(`${base}.err`, 'utf8')}\n${tail(fs.readFileSync(`${base}.out`, 'utf8'), 10)}`
    throw new CommandError(`Command failed (${tool} ${stepKey}): ${commandLine}: exit ${exitCode}; logs in ${base}.{out,err}`, tail(output, 40))
  }
  let peakRssKiB = pollPeakKiB
  let cpuMs = null
  if (ctx.hasGnuTime) {
    const lines = fs.readFileSync(`${base}.rss`, 'utf8').trim().split('\n')
    const [maxRss, userSec, sysSec] = lines[lines.length - 1].split(' ').map(Number)
    peakRssKiB = maxRss
    cpuMs = (userSec + sysSec) * 1000
  }
  const result = { wallMs, peakRssKiB, cpuMs, load1AtStart: load1, command: commandLine }
  if (nodeTracker) Object.assign(result, { nodePeakRssKiB: nodeUse.peakRssKiB, nodeCpuMs: nodeUse.cpuMs, nodePeakRssSource: nodeTracker.source })
  ctx.results[tool][stepKey] = result
  const cpuText = cpuMs == null ? '' : `   CPU ${fmtSec(cpuMs)}`
  const nodeText = nodeTracker
    ? `   node: peak RSS ${result.nodePeakRssKiB == null ? '?' : fmtMiB(result.nodePeakRssKiB)}, CPU ${result.nodeCpuMs == null ? '?' : fmtSec(result.nodeCpuMs)}`
    : ''
  log(`${stepKey.padEnd(8)} ${tool.padEnd(8)} ${fmtSec(wallMs).padStart(8)}   peak RSS ${fmtMiB(peakRssKiB).padStart(7)}${cpuText}   load ${load1.toFixed(1)} at start${nodeText}`)
  return result
}

function toolCommands(tool, paths) {
  const arca = (...args) => [process.execPath, [ARCA_MAIN, ...args]]
  if (tool === 'arca') {
    const repo = paths.repo.arca
    return {
      init: arca('init', '--repo', repo),
      backup: arca('backup', '--repo', repo, '--plan', 'bench', DATA_DIR),
      restore: (target) => arca('restore', '--repo', repo, 'latest', '--target', target),
      check: arca('check', '--repo', repo, '--read-data'),
    }
  }
  if (tool === 'arca-net') {
    // no --repo: the device paired in ARCA_HOME talks to the node
    return {
      init: arca('init'),
      backup: arca('backup', '--plan', 'bench', DATA_DIR),
      restore: (target) => arca('restore', 'latest', '--target', target),
      check: arca('check', '--read-data'),
    }
  }
  const restic = (...args) => ['restic', args]
  return {
    init: restic('init'),
    backup: restic('backup', DATA_DIR),
    restore: (target) => restic('restore', 'latest', '--target', target),
    check: restic('check', '--read-data'),
  }
}

function toolEnv(tool, paths) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARCA_') && !k.startsWith('RESTIC_')))
  // no ARCA_INSECURE_TEST_KDF: the real KDF; the directory cache in the bench directory, as restic's cache is
  if (tool === 'arca') return { ...env, ARCA_PASSPHRASE: PASSPHRASE, ARCA_CACHE_DIR: paths.arcaCache }
  if (tool === 'arca-net') return { ...env, ARCA_PASSPHRASE: PASSPHRASE, ARCA_HOME: paths.netHome }
  return { ...env, RESTIC_PASSWORD: PASSPHRASE, RESTIC_REPOSITORY: paths.repo.restic, RESTIC_CACHE_DIR: paths.resticCache }
}

function repoSizeBytes(dir) {
  return Number(runQuiet('du', ['-sb', dir]).split('\t')[0])
}

// -------------------------------------------------------------------------------------------------- dataset

async function prepareDataset(opts) {
  const state = fs.existsSync(path.join(DATA_DIR, '.bench-state')) ? fs.readFileSync(path.join(DATA_DIR, '.bench-state'), 'utf8').trim() : null
  if (opts.reuseDay1 && fs.existsSync(PRISTINE_MARKER) && state === 'day1') {
    log(`reusing pristine day-1 dataset at ${DATA_DIR}`)
    return
  }
  if (opts.reuseDay1) log(`--reuse-day1: ${DATA_DIR} is not a pristine day-1 dataset (state ${JSON.stringify(state)}); rebuilding`)
  fs.rmSync(PRISTINE_MARKER, { force: true })
  await fsp.rm(DATA_DIR, { recursive: true, force: true })
  log(`building dataset: ${path.join(SHARED_DIR, 'make-dataset.sh')} ${DATA_DIR} (about 40 s, not timed)`)
  runQuiet(path.join(SHARED_DIR, 'make-dataset.sh'), [DATA_DIR], { stdio: ['ignore', 'pipe', 'pipe'] })
  fs.writeFileSync(PRISTINE_MARKER, `day1 built ${new Date().toISOString()} from ${SHARED_DIR}\n`)
}

function mutateDay2() {
  fs.rmSync(PRISTINE_MARKER, { force: true })
  log(`mutating: ${path.join(SHARED_DIR, 'mutate-day2.sh')} ${DATA_DIR} (not timed)`)
  runQuiet(path.join(SHARED_DIR, 'mutate-day2.sh'), [DATA_DIR])
}

/** Walks a tree without following symlinks: relative path -> metadata. */
async function walkTree(root) {
  const entries = new Map()
  const pending = ['']
  while (pending.length > 0) {
    const rel = pending.pop()
    for (const dirent of await fsp.readdir(path.join(root, rel), { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${dirent.name}` : dirent.name
      const abs = path.join(root, childRel)
      const st = await fsp.lstat(abs)
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other'
      entries.set(childRel, {
        type,
        size: type === 'file' ? st.size : 0,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtimeSec: Math.floor(st.mtimeMs / 1000),
        target: type === 'symlink' ? await fsp.readlink(abs) : null,
        ino: st.ino,
        nlink: st.nlink,
      })
      if (type === 'dir') pending.push(childRel)
    }
  }
  return entries
}

async function sameContent(a, b, sizeBytes) {
  if (sizeBytes <= 4 * MIB) return (await fsp.readFile(a)).equals(await fsp.readFile(b))
  const [fa, fb] = await Promise.all([fsp.open(a), fsp.open(b)])
  try {
    const bufA = Buffer.allocUnsafe(4 * MIB)
    const bufB = Buffer.allocUnsafe(4 * MIB)
    for (let pos = 0; pos < sizeBytes; pos += bufA.length) {
      const [ra, rb] = await Promise.all([fa.read(bufA, 0, bufA.length, pos), fb.read(bufB, 0, bufB.length, pos)])
      if (ra.bytesRead !== rb.bytesRead || !bufA.subarray(0, ra.bytesRead).equals(bufB.subarray(0, rb.bytesRead))) return false
    }
    return true
  } finally {
    await Promise.all([fa.close(), fb.close()])
  }
}

/**
 * Compares a restored tree against DATA_DIR: entry set, type, size, symlink target, mode, owner, mtime (seconds)
 * hard links among the files, and file contents (all files, or with quickVerify every 16th file plus every file
 * of 16 MiB or more).
 */
async function verifyRestore(restoredRoot, quickVerify) {
  const [want, got] = await Promise.all([walkTree(DATA_DIR), walkTree(restoredRoot)])
  const problems = []
  const note = (kind, rel, detail = '') => problems.push({ kind, path: rel, detail })
  let comparedBytes = 0
  let index = 0
  const firstPathByIno = new Map()
  for (const [rel, w] of [...want].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const g = got.get(rel)
    if (!g) { note('missing', rel); continue }
    if (g.type !== w.type) { note('type', rel, `expected ${w.type}, received ${g.type}`); continue }
    if (w.type === 'symlink') {
      if (g.target !== w.target) note('link target', rel, `expected "${w.target}", received "${g.target}"`)
      continue
    }
    if (g.mode !== w.mode) note('mode', rel, `expected ${w.mode.toString(8)}, received ${g.mode.toString(8)}`)
    if (g.uid !== w.uid || g.gid !== w.gid) note('owner', rel, `expected ${w.uid}:${w.gid}, received ${g.uid}:${g.gid}`)
    if (g.mtimeSec !== w.mtimeSec) note('mtime', rel, `expected ${w.mtimeSec}, received ${g.mtimeSec}`)
    if (w.type !== 'file') continue
    if (g.size !== w.size) { note('size', rel, `expected ${w.size}, received ${g.size}`); continue }
    if (w.nlink > 1) {
      const first = firstPathByIno.get(w.ino)
      if (first === undefined) firstPathByIno.set(w.ino, rel)
      else if (got.get(first)?.ino !== g.ino) note('hard link', rel, `expected a hard link to "${first}"`)
    }
    const isSampled = !quickVerify || index++ % 16 === 0 || w.size >= 16 * MIB
    if (!isSampled) continue
    comparedBytes += w.size
    if (!(await sameContent(path.join(DATA_DIR, rel), path.join(restoredRoot, rel), w.size))) note('content', rel)
  }
  for (const rel of got.keys()) if (!want.has(rel)) note('extra', rel)
  const byKind = {}
  for (const p of problems) byKind[p.kind] = (byKind[p.kind] ?? 0) + 1
  return { isPass: problems.length === 0, entries: want.size, comparedBytes, byKind, examples: problems.slice(0, 8) }
}

/** Where a tool put DATA_DIR inside the restore target: restic keeps the absolute path, others may not. */
function locateRestoredRoot(target) {
  const candidates = [path.join(target, DATA_DIR), path.join(target, path.basename(DATA_DIR)), target]
  return candidates.find((dir) => fs.existsSync(path.join(dir, '.bench-state'))) ?? null
}

// ----------------------------------------------------------------------------------------- restore target fs

const activeMounts = new Set()

function unmount(mountPoint) {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const res = spawnSync('umount', [mountPoint], { encoding: 'utf8', env: { ...process.env, PATH: SBIN_PATH } })
    if (res.status === 0) { activeMounts.delete(mountPoint); return }
    if (attempt === 5) throw new CommandError(`Command failed: umount ${mountPoint}`, res.stderr ?? '')
    spawnSync('sleep', ['1'])
  }
}

/** A fresh empty directory on a fresh ext4 filesystem (loop-mounted sparse image), or under BENCH_DIR if that fails. */
async function freshRestoreTarget(tool) {
  const mountPoint = path.join(BENCH_DIR, `restore-${tool}`)
  const image = `${mountPoint}.img`
  await fsp.rm(mountPoint, { recursive: true, force: true })
  fs.rmSync(image, { force: true })
  fs.mkdirSync(mountPoint, { recursive: true })
  let why = null
  try {
    fs.closeSync(fs.openSync(image, 'w'))
    fs.truncateSync(image, RESTORE_IMAGE_BYTES)
    // Inode tables and journal initialised now, so no ext4lazyinit thread writes in the background while timing.
    runQuiet('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image])
    runQuiet('mount', ['-o', 'loop', image, mountPoint])
    activeMounts.add(mountPoint)
  } catch (err) {
    why = err.message
    fs.rmSync(image, { force: true })
  }
  const target = path.join(mountPoint, 'target')
  fs.mkdirSync(target)
  const dispose = async () => {
    if (activeMounts.has(mountPoint)) unmount(mountPoint)
    fs.rmSync(image, { force: true })
    await fsp.rm(mountPoint, { recursive: true, force: true })
  }
  if (why) log(`NOTE: loop-mounted ext4 not available (${why}); restoring ${tool} into a fresh directory ${target} instead`)
  return { target, kind: why ? 'tmp-dir' : 'ext4-loop', dispose }
}

function clearStaleMounts() {
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((line) => line.split(' ')[1]).filter(Boolean)
  for (const mountPoint of mounts) {
    if (mountPoint.startsWith(`${BENCH_DIR}/restore-`)) {
      log(`unmounting stale ${mountPoint} from an earlier run`)
      unmount(mountPoint)
    }
  }
}

// ------------------------------------------------------------------------------------------------ reporting

function buildRows(ctx) {
  const { results, sizes, verify, tools } = ctx
  const both = tools.includes('arca') && tools.includes('restic')
  const rows = []
  const add = (label, a, r, fmt, targetText, passes) => {
    const ratio = a != null && r != null && r > 0 ? a / r : null
    const verdict = passes == null ? '' : passes(a, ratio) == null ? 'n/a' : passes(a, ratio) ? 'PASS' : 'FAIL'
    rows.push({ label, arca: a, restic: r, ratio, target: targetText, verdict, fmt })
  }
  const ratioAtMost = (limit) => (_a, ratio) => (both && ratio != null ? ratio <= limit : null)
  for (const { key, label } of TIMED_STEPS) {
    const a = results.arca?.[key]?.wallMs ?? null
    const r = results.restic?.[key]?.wallMs ?? null
    if (a != null || r != null) add(label, a, r, fmtSec, '<= 0.5x restic', ratioAtMost(0.5))
  }
  add('repo after day 1', sizes.arca?.day1 ?? null, sizes.restic?.day1 ?? null, fmtMB, '<= restic', ratioAtMost(1))
  add('repo after day 2', sizes.arca?.day2 ?? null, sizes.restic?.day2 ?? null, fmtMB, '', null)
  add('added by day 2', addedByDay2(sizes, 'arca'), addedByDay2(sizes, 'restic'), fmtMB, '<= 0.7x restic', ratioAtMost(0.7))
  for (const { key, label } of TIMED_STEPS) {
    const a = results.arca?.[key]?.peakRssKiB ?? null
    const r = results.restic?.[key]?.peakRssKiB ?? null
    if (a != null || r != null) add(`peak RSS ${label}`, a, r, fmtMiB, '', null)
  }
  add('peak RSS (all steps)', maxOf(results.arca, 'peakRssKiB'), maxOf(results.restic, 'peakRssKiB'), fmtMiB, 'arca < 200 MiB', (a) => (a == null ? null : a < 200 * 1024))
  if (verify.arca || verify.restic) {
    const v = (t) => (verify[t] ? (verify[t].isPass ? 1 : 0) : null)
    add('restore verified', v('arca'), v('restic'), (x) => (x ? 'pass' : 'FAIL'), 'identical tree', (a) => (a == null ? null : a === 1))
    rows[rows.length - 1].ratio = null
  }
  return rows
}

const addedByDay2 = (sizes, tool) => (sizes[tool]?.day2 != null && sizes[tool]?.nochange != null ? sizes[tool].day2 - sizes[tool].nochange : null)

/** Agent plus node CPU time of an arca-net step, when both are known. */
const cpuSum = (step) => (step?.cpuMs != null && step?.nodeCpuMs != null ? step.cpuMs + step.nodeCpuMs : null)

function maxOf(steps, field) {
  const values = Object.values(steps ?? {}).map((s) => s[field]).filter((v) => v != null)
  return values.length > 0 ? Math.max(...values) : null
}

/**
 * The network path against its targets: arca-net compared with embedded arca in the same run, with restic in the
 * same run, and with the cited restic-over-sftp day-1 figures.
 */
function buildNetRows(ctx) {
  const { results, sizes, verify, node } = ctx
  if (!results['arca-net']) return []
  const rows = []
  const add = (label, value, refLabel, ref, fmt, limit = null, target = '') => {
    if (value == null) return
    const ratio = ref != null && ref > 0 ? value / ref : null
    const verdict = limit == null ? '' : ratio == null ? 'n/a' : ratio <= limit ? 'PASS' : 'FAIL'
    rows.push({ label, value, refLabel: ref == null && refLabel !== '' ? `${refLabel} (not run)` : refLabel, ref, ratio, target, verdict, fmt })
  }
  const wall = (tool, key) => results[tool]?.[key]?.wallMs ?? null
  const rss = (tool, key) => results[tool]?.[key]?.peakRssKiB ?? null
  const net = (key) => wall('arca-net', key)
  add('day-1 backup', net('day1'), 'arca', wall('arca', 'day1'), fmtSec, 1.25, '<= 1.25x arca')
  add('day-1 backup', net('day1'), 'restic/sftp median (cited)', RESTIC_SFTP_DAY1.medianMs, fmtSec, 0.5, '<= 0.5x restic/sftp')
  add('day-1 backup', net('day1'), 'restic/sftp best (cited)', RESTIC_SFTP_DAY1.bestMs, fmtSec, 0.5, '<= 0.5x restic/sftp')
  add('no-change backup', net('nochange'), 'arca', wall('arca', 'nochange'), fmtSec, 1.5, '<= 1.5x arca')
  add('day-2 backup', net('day2'), 'arca', wall('arca', 'day2'), fmtSec)
  add('restore (fresh fs)', net('restore'), 'restic', wall('restic', 'restore'), fmtSec, 0.5, '<= 0.5x restic')
  add('restore (fresh fs)', net('restore'), 'arca', wall('arca', 'restore'), fmtSec)
  add('check --read-data', net('check'), 'arca', wall('arca', 'check'), fmtSec)
  add('vault after day 1', sizes['arca-net']?.day1 ?? null, 'arca', sizes.arca?.day1 ?? null, fmtMB)
  add('added by day 2', addedByDay2(sizes, 'arca-net'), 'arca', addedByDay2(sizes, 'arca'), fmtMB)
  for (const { key, label } of TIMED_STEPS) add(`agent peak RSS ${label}`, rss('arca-net', key), 'arca', rss('arca', key), fmtMiB)
  for (const { key, label } of TIMED_STEPS) add(`node peak RSS ${label}`, results['arca-net'][key]?.nodePeakRssKiB ?? null, '', null, fmtMiB)
  for (const { key, label } of TIMED_STEPS) add(`CPU agent + node ${label}`, cpuSum(results['arca-net'][key]), 'arca', results.arca?.[key]?.cpuMs ?? null, fmtSec)
  add('node RSS idle after start', node?.idleRssKiB ?? null, '', null, fmtMiB)
  add('node RSS after all steps', node?.finalRssKiB ?? null, '', null, fmtMiB)
  if (verify['arca-net']) {
    rows.push({ label: 'restore verified', value: verify['arca-net'].isPass ? 1 : 0, refLabel: '', ref: null, ratio: null, target: 'identical tree', verdict: verify['arca-net'].isPass ? 'PASS' : 'FAIL', fmt: (x) => (x ? 'pass' : 'FAIL') })
  }
  return rows
}

/** Prints rows as an aligned table; `numeric` lists the columns to right-align. */
function printTable(header, body, numeric) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)))
  const line = (cells) => cells.map((c, i) => (numeric.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd()
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`)
  for (const row of body) console.log(line(row))
}

function printMainTable(rows) {
  const body = rows.map((r) => [
    r.label,
    r.arca == null ? '-' : r.fmt(r.arca),
    r.restic == null ? '-' : r.fmt(r.restic),
    r.ratio == null ? '-' : `${r.ratio.toFixed(2)}x`,
    r.target,
    r.verdict,
  ])
  printTable(['step', 'arca', 'restic', 'arca/restic', 'target', 'result'], body, [1, 2, 3])
}

function printNetTable(rows) {
  console.log('\nnetwork path: arca-net (agent and storage node as separate processes, loopback TCP + Noise)')
  const body = rows.map((r) => [
    r.label,
    r.fmt(r.value),
    r.refLabel,
    r.ref == null ? '-' : r.fmt(r.ref),
    r.ratio == null ? '-' : `${r.ratio.toFixed(2)}x`,
    r.target,
    r.verdict,
  ])
  printTable(['step', 'arca-net', 'compared with', 'value', 'ratio', 'target', 'result'], body, [1, 3, 4])
}

// ---------------------------------------------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const hasGnuTime = detectGnuTime()
  if (!hasGnuTime) {
    log('NOTE: GNU time not found at /usr/bin/time (install: apt-get install -y time); peak RSS comes from polling')
    log('      /proc/<pid>/status VmHWM every 50 ms over the process tree, which can miss short peaks')
  }
  let tools = opts.only ? [...opts.only] : [...TOOLS]
  if (tools.includes('restic') && !whichSync('restic')) {
    if (opts.only?.includes('restic')) usageError('restic is not on PATH (install: apt-get install -y restic)')
    log('NOTE: restic is not on PATH, so there is nothing to compare against (install: apt-get install -y restic)')
    tools = tools.filter((t) => t !== 'restic')
  }
  if ((tools.includes('arca') || tools.includes('arca-net')) && !fs.existsSync(ARCA_MAIN)) {
    usageError(`Arca CLI not built: ${ARCA_MAIN} does not exist (run "npm run build", or use --only restic)`)
  }
  for (const script of ['make-dataset.sh', 'mutate-day2.sh']) {
    if (!fs.existsSync(path.join(SHARED_DIR, script))) usageError(`Dataset script not found: "${path.join(SHARED_DIR, script)}" (set ARCA_BENCH_SHARED)`)
  }
  if (!opts.skipRestore && process.getuid?.() !== 0) log('NOTE: not root, so restores cannot use a loop-mounted ext4 image')

  fs.mkdirSync(LOG_DIR, { recursive: true })
  const { bavail, bsize } = fs.statfsSync(BENCH_DIR)
  if (bavail * bsize < 12e9) log(`NOTE: only ${fmtMB(bavail * bsize)} free under ${BENCH_DIR}; a full run needs about 12 GB`)

  const paths = {
    // repo['arca-net'] is the vault's store directory inside the node's data dir, known once the vault exists
    repo: { arca: path.join(BENCH_DIR, 'repo-arca'), restic: path.join(BENCH_DIR, 'repo-restic') },
    resticCache: path.join(BENCH_DIR, 'restic-cache'),
    arcaCache: path.join(BENCH_DIR, 'arca-cache'),
    netData: path.join(BENCH_DIR, 'node-arca-net'),
    netHome: path.join(BENCH_DIR, 'home-arca-net'),
  }
  const ctx = { hasGnuTime, tools, results: {}, sizes: {}, verify: {}, restoreFs: {}, node: null }
  for (const t of tools) { ctx.results[t] = {}; ctx.sizes[t] = {} }
  const cleanupDirs = [paths.repo.arca, paths.repo.restic, paths.resticCache, paths.arcaCache, paths.netData, paths.netHome]
  let nodeProcess = null
  const disposers = []
  let exitCode = 0

  const onSignal = (signal) => {
    log(`${signal}: stopping`)
    if (currentChild?.pid) try { process.kill(-currentChild.pid, 'SIGTERM') } catch {}
    if (nodeProcess?.isRunning()) try { process.kill(nodeProcess.pid, 'SIGKILL') } catch {}
    for (const mountPoint of activeMounts) try { unmount(mountPoint) } catch {}
    if (!opts.keep) {
      const keepNames = new Set(['logs', ...(fs.existsSync(PRISTINE_MARKER) ? ['data', path.basename(PRISTINE_MARKER)] : [])])
      for (const name of fs.readdirSync(BENCH_DIR)) {
        const isBusy = activeMounts.has(path.join(BENCH_DIR, name))
        if (!keepNames.has(name) && !isBusy) fs.rmSync(path.join(BENCH_DIR, name), { recursive: true, force: true })
      }
    }
    process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    clearStaleMounts()
    for (const dir of cleanupDirs) await fsp.rm(dir, { recursive: true, force: true })
    for (const name of fs.readdirSync(LOG_DIR)) fs.rmSync(path.join(LOG_DIR, name))
    await prepareDataset(opts)

    const warm = runQuiet('sh', ['-c', 'tar -cf - -C "$1" . | wc -c', 'sh', DATA_DIR]).trim()
    const day1Tree = await walkTree(DATA_DIR)
    const day1Bytes = [...day1Tree.values()].reduce((sum, e) => sum + e.size, 0)
    log(`dataset: ${day1Tree.size} entries, ${fmtMB(day1Bytes)} in regular files; warm-up read ${fmtMB(Number(warm))} through tar`)

    const cmds = Object.fromEntries(tools.map((t) => [t, toolCommands(t, paths)]))
    const envs = Object.fromEntries(tools.map((t) => [t, toolEnv(t, paths)]))
    if (tools.includes('arca-net')) {
      // untimed: the node's data dir, the node process on a free loopback port, an invite, a paired device
      const env = toolEnv('arca', paths)
      initNodeData({ main: ARCA_MAIN, dataDir: paths.netData, env })
      nodeProcess = await startNodeProcess({ main: ARCA_MAIN, dataDir: paths.netData, env, logFile: path.join(LOG_DIR, 'node-arca-net.log') })
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const idle = procMemKiB(nodeProcess.pid)
      const { storeDir } = pairDevice({ main: ARCA_MAIN, dataDir: paths.netData, env, home: paths.netHome })
      paths.repo['arca-net'] = storeDir
      ctx.node = { pid: nodeProcess.pid, address: nodeProcess.address, idleRssKiB: idle?.rssKiB ?? null, storeDir }
      log(`arca-net: node pid ${nodeProcess.pid} listening on ${nodeProcess.address}, RSS ${fmtMiB(idle?.rssKiB ?? 0)} idle after start; device paired (not timed)`)
    }
    for (const t of tools) {
      const [cmd, args] = cmds[t].init
      runQuiet(cmd, args, { env: envs[t], cwd: REPO_ROOT })
      log(`${t}: repository initialised (not timed)`)
    }
    const backupAll = async (stepKey) => {
      for (const t of tools) {
        await timedStep(ctx, t, stepKey, ...cmds[t].backup, envs[t])
        ctx.sizes[t][stepKey] = repoSizeBytes(paths.repo[t])
      }
    }
    await backupAll('day1')
    await backupAll('nochange')
    mutateDay2()
    await backupAll('day2')

    if (!opts.skipRestore) {
      for (const t of tools) {
        const { target, kind, dispose } = await freshRestoreTarget(t)
        disposers.push(dispose)
        ctx.restoreFs[t] = kind
        await timedStep(ctx, t, 'restore', ...cmds[t].restore(target), envs[t])
        const root = locateRestoredRoot(target)
        ctx.verify[t] = root
          ? { root: path.relative(target, root) || '.', ...(await verifyRestore(root, opts.quickVerify)) }
          : { root: null, isPass: false, byKind: { 'no .bench-state found': 1 }, examples: [] }
        const v = ctx.verify[t]
        const kinds = Object.entries(v.byKind).map(([k, n]) => `${n} ${k}`).join(', ')
        log(`restore ${t}: ${v.isPass ? 'identical' : `DIFFERS (${kinds})`}` +
          (root ? ` (${v.entries} entries, ${fmtMB(v.comparedBytes)} contents compared, restored at <target>/${v.root})` : ''))
        for (const ex of v.examples) log(`  ${ex.kind}: ${ex.path}${ex.detail ? `: ${ex.detail}` : ''}`)
        await dispose()
        disposers.pop()
      }
    }
    for (const t of tools) await timedStep(ctx, t, 'check', ...cmds[t].check, envs[t])
  } catch (err) {
    exitCode = 1
    console.error(`\n[bench] ${err.message}`)
    if (err.stderrTail) console.error(`--- output (tail) ---\n${err.stderrTail}\n---`)
  } finally {
    if (nodeProcess) {
      const mem = procMemKiB(nodeProcess.pid)
      if (ctx.node) ctx.node.finalRssKiB = mem?.rssKiB ?? null
      const exit = await nodeProcess.stop()
      if (ctx.node) ctx.node.exit = exit
      log(`arca-net: node stopped (exit ${exit}), RSS ${mem ? fmtMiB(mem.rssKiB) : '?'} after the last step`)
    }
    for (const dispose of disposers.reverse()) try { await dispose() } catch (err) { console.error(`[bench] cleanup: ${err.message}`) }
    if (!opts.keep) {
      for (const dir of cleanupDirs) await fsp.rm(dir, { recursive: true, force: true })
      if (fs.existsSync(PRISTINE_MARKER)) log(`kept the still pristine day-1 dataset in ${DATA_DIR} for --reuse-day1`)
      else await fsp.rm(DATA_DIR, { recursive: true, force: true })
    } else log(`--keep: repositories and dataset left in ${BENCH_DIR}`)
  }

  const rows = tools.includes('arca') || tools.includes('restic') ? buildRows(ctx) : []
  if (rows.length > 0) printMainTable(rows)
  const netRows = buildNetRows(ctx)
  if (netRows.length > 0) printNetTable(netRows)
  for (const t of tools) if (ctx.restoreFs[t] === 'tmp-dir') console.log(`(${t} restored into a directory on ${BENCH_DIR}, not a fresh ext4 filesystem)`)
  console.log(`\nwarm page cache, ${os.cpus().length} cores; logs in ${LOG_DIR}`)
  if (opts.json) {
    const resticVersion = tools.includes('restic') ? runQuiet('restic', ['version']).trim() : null
    const commit = spawnSync('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout?.trim() || null
    const report = {
      createdAt: new Date().toISOString(),
      host: { cores: os.cpus().length, memBytes: os.totalmem(), node: process.version, resticVersion, arcaCommit: commit },
      peakRssSource: hasGnuTime ? 'GNU time %M' : '/proc VmHWM polling',
      restoreFs: ctx.restoreFs,
      node: ctx.node,
      resticSftpDay1Cited: RESTIC_SFTP_DAY1,
      steps: ctx.results,
      repoSizeBytes: ctx.sizes,
      verify: ctx.verify,
      table: rows.map(({ fmt, ...row }) => row),
      netTable: netRows.map(({ fmt, ...row }) => row),
      failed: exitCode !== 0,
    }
    fs.writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`)
    log(`numbers written to ${opts.json}`)
  }
  process.exitCode = exitCode
}

await main()
