#!/usr/bin/env node
// bench/node-index-rss.mjs: does the storage node's memory depend on how many objects its vault index holds?
// For each N it makes a node with one vault, writes N object locations straight into the vault's LevelDB index
// (the keys and values LocalStore writes, all pointing at one real pack entry), starts the node as a separate
// process, connects a paired device and runs load that touches the index: MISSING for random absent ids and for
// ids that are present, a small backup through the CLI, and one USAGE (which reads the object count kept in the index). The node's
// VmRSS, VmHWM, RssAnon, RssFile and the resident part of its LevelDB table mappings are sampled at idle and after
// each load. Usage: bench/README.md.

import { spawnSync } from 'node:child_process'
import { randomBytes, randomFillSync } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Level } from 'level'
import { createMemoryCgroup } from './memory-cgroup.mjs'
import { freeLoopbackPort, initNodeData, mappedFilesRssKiB, pairDevice, procMemKiB, resetPeakRss, startNodeProcess } from './node-process.mjs'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(REPO_ROOT, 'dist')
const ARCA_MAIN = path.join(DIST, 'cli', 'main.js')
const PASSPHRASE = 'arca-bench-passphrase-not-a-secret-0123'
const BATCH_ENTRIES = 50_000
const USAGE = `Usage: node bench/node-index-rss.mjs [--entries N[,N]...] [--missing N] [--present N] [--dir DIR] [--keep]
                                  [--memory-limit MIB] [--json FILE]
  --entries   index sizes to test (default 0,1000000,10000000)
  --missing   random absent ids asked with MISSING per run (default 500000)
  --present   stored ids asked with MISSING per run, spread over the index (default 100000)
  --dir       work directory (default /tmp/arca-node-rss; about 40 bytes of index per entry)
  --memory-limit  run the node in a cgroup limited to MIB, with the index's page cache dropped first (root)`

// the project's own modules, loaded by main() once dist/ is known to exist
let layout, PackWriter, EntryType, envelopeHeader, ObjectKind, readDeviceConfig, deviceKeyPair, connectToNode, RemoteStore, systemClock

async function loadDist() {
  const load = (...parts) => import(path.join(DIST, ...parts))
  layout = await load('node', 'store-layout.js')
  ;({ PackWriter } = await load('node', 'pack-writer.js'))
  ;({ EntryType } = await load('node', 'pack-format.js'))
  ;({ envelopeHeader, ObjectKind } = await load('protocol', 'object-envelope.js'))
  ;({ readDeviceConfig } = await load('agent', 'device-config.js'))
  ;({ deviceKeyPair } = await load('agent', 'pairing.js'))
  ;({ connectToNode } = await load('agent', 'node-connector.js'))
  ;({ RemoteStore } = await load('agent', 'remote-store.js'))
  ;({ systemClock } = await load('core', 'clock.js'))
}

function parseArgs(argv) {
  const opts = { entries: [0, 1_000_000, 10_000_000], missing: 500_000, present: 100_000, dir: '/tmp/arca-node-rss', keep: false, json: null, memoryLimitMiB: null }
  const count = (text, flag) => {
    const n = Number(text.replace(/_/g, ''))
    if (!Number.isSafeInteger(n) || n < 0) usageError(`Invalid value for "${flag}": expected a whole number, received "${text}"`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) usageError(`Missing value for "${arg}"`)
      return argv[++i]
    }
    if (arg === '--entries') opts.entries = value().split(',').map((t) => count(t, '--entries'))
    else if (arg === '--missing') opts.missing = count(value(), '--missing')
    else if (arg === '--present') opts.present = count(value(), '--present')
    else if (arg === '--dir') opts.dir = path.resolve(value())
    else if (arg === '--keep') opts.keep = true
    else if (arg === '--memory-limit') opts.memoryLimitMiB = count(value(), '--memory-limit')
    else if (arg === '--json') opts.json = path.resolve(value())
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE)
      process.exit(0)
    } else usageError(`Unknown option "${arg}"`)
  }
  return opts
}

function usageError(message) {
  console.error(`${message}\n${USAGE}`)
  process.exit(2)
}

const log = (message) => console.log(`[node-rss] ${message}`)
/** The node process and cgroup of the run under way, for Ctrl-C. */
const current = { node: null, cgroup: null }
const fmtMiB = (kib) => (kib == null ? '-' : `${(kib / 1024).toFixed(0)}`)
const fmtSec = (ms) => `${(ms / 1000).toFixed(1)} s`
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARCA_')))
}

function runCli(args, env) {
  const started = Date.now()
  const res = spawnSync(process.execPath, [ARCA_MAIN, ...args], { env, encoding: 'utf8' })
  if (res.error || res.status !== 0) throw new Error(`Command failed: arca ${args.join(' ')}: exit ${res.status ?? res.signal}\n${res.stdout}${res.stderr}`)
  return { ms: Date.now() - started, out: res.stdout }
}

/**
 * Writes `n` object locations into the vault index at `storeDir`: keys "O" + id, values encodeLocation(...), all
 * pointing at one real OBJECT entry in a new pack (with its "P" record and "N" advanced past it). Ids are random
 * but generated in ascending order (the first 6 bytes step through the key space), so LevelDB mostly moves flushed
 * tables down instead of rewriting them; the resulting index holds the same keys and values as random inserts would.
 * Returns a sample of `sampleSize` stored ids spread over the whole index.
 */
async function generateIndex(storeDir, n, sampleSize) {
  const db = new Level(path.join(storeDir, 'index'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  const started = Date.now()
  const sample = []
  try {
    const countRaw = await db.get(layout.KEY_OBJECT_COUNT)
    const existingObjects = countRaw === undefined ? 0 : layout.decodeCount(countRaw)
    const nextRaw = await db.get(layout.KEY_NEXT_PACK)
    const packNumber = nextRaw === undefined ? 1 : nextRaw.readUInt32LE(0)
    const packFile = layout.packPath(storeDir, packNumber)
    await fsp.mkdir(path.dirname(packFile), { recursive: true })
    const writer = await PackWriter.create(packNumber, packFile)
    const envelope = Buffer.concat([envelopeHeader(ObjectKind.CHUNK, []), randomBytes(4096)])
    const offset = writer.append(EntryType.OBJECT, randomBytes(32), envelope)
    await writer.sync()
    await writer.close()
    const next = Buffer.alloc(4)
    next.writeUInt32LE(packNumber + 1)
    await db.batch([
      { type: 'put', key: layout.packKey(packNumber), value: layout.encodePackRecord(writer.sizeBytes, 1) },
      { type: 'put', key: layout.KEY_NEXT_PACK, value: next },
    ])
    const location = layout.encodeLocation({ pack: packNumber, offset, bodyLength: envelope.length, kind: ObjectKind.CHUNK })
    const sampleEvery = sampleSize > 0 ? Math.max(1, Math.floor(n / sampleSize)) : Infinity
    const span = 2 ** 48 / Math.max(n, 1)
    let lastReport = Date.now()
    for (let first = 0; first < n; first += BATCH_ENTRIES) {
      const count = Math.min(BATCH_ENTRIES, n - first)
      const keys = randomFillSync(Buffer.allocUnsafe(count * 33))
      const batch = db.batch()
      for (let j = 0; j < count; j++) {
        const i = first + j
        const at = j * 33
        keys[at] = 0x4f // "O"
        keys.writeUIntBE(Math.floor((i + Math.random()) * span), at + 1, 6)
        const key = keys.subarray(at, at + 33)
        batch.put(key, location)
        if (i % sampleEvery === 0 && sample.length < sampleSize) sample.push(Buffer.from(key.subarray(1)))
      }
      await batch.write()
      // keep the object count LocalStore keeps with its batches (key M): the synthetic entries count as objects
      await db.put(layout.KEY_OBJECT_COUNT, layout.encodeCount(existingObjects + first + count))
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now()
        log(`  ${first + count} of ${n} entries written, ${fmtSec(Date.now() - started)}`)
      }
    }
  } finally {
    await db.close()
  }
  const writeMs = Date.now() - started
  // LevelDB leaves the last writes in its log and may have compactions pending. Opening once more writes the log to
  // a table; then wait until level 0 is below its compaction trigger (4 files) and the level stats stop changing,
  // so the node opens a settled index, as a long-running node's would be, instead of compacting it at first use.
  const reopened = new Level(path.join(storeDir, 'index'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await reopened.open()
  let previous = ''
  for (const deadline = Date.now() + 600_000; Date.now() < deadline; ) {
    const stats = reopened.getProperty('leveldb.stats')
    if (Number(reopened.getProperty('leveldb.num-files-at-level0')) < 4 && stats === previous) break
    previous = stats
    await sleep(2000)
  }
  const levels = Array.from({ length: 7 }, (_, i) => Number(reopened.getProperty(`leveldb.num-files-at-level${i}`)))
  await reopened.close()
  const ms = Date.now() - started
  const tables = fs.readdirSync(path.join(storeDir, 'index')).filter((f) => f.endsWith('.ldb'))
  const indexBytes = fs.readdirSync(path.join(storeDir, 'index')).reduce((sum, f) => sum + fs.statSync(path.join(storeDir, 'index', f)).size, 0)
  return { ms, writeMs, sample, tableFiles: tables.length, indexBytes, filesPerLevel: levels }
}

/** Memory of the node now; `hwmKiB` is its peak since start or since the last `resetPeakRss`. */
function sampleNode(pid, label, cgroup) {
  const mem = procMemKiB(pid)
  const ldb = mappedFilesRssKiB(pid, '.ldb')
  return { label, ...mem, ldbMappedKiB: ldb?.rssKiB ?? null, ldbMappings: ldb?.mappings ?? null, cgroup: cgroup?.stats() ?? null }
}

/** Writes back and evicts the index's pages from the page cache, so the node reads them in (and is charged). */
function dropIndexCache(indexDir) {
  spawnSync('sync')
  for (const name of fs.readdirSync(indexDir)) {
    spawnSync('dd', [`if=${path.join(indexDir, name)}`, 'iflag=nocache', 'count=0', 'status=none'])
  }
}

function writeTree(dir) {
  fs.mkdirSync(dir, { recursive: true })
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(dir, `f${String(i).padStart(3, '0')}.bin`), randomBytes(32 * 1024))
  fs.writeFileSync(path.join(dir, 'big.bin'), randomBytes(12 * 1024 * 1024))
}

async function runOne(n, opts) {
  const base = path.join(opts.dir, `n${n}`)
  await fsp.rm(base, { recursive: true, force: true })
  fs.mkdirSync(base, { recursive: true })
  const dataDir = path.join(base, 'node')
  const home = path.join(base, 'home')
  const env = cleanEnv()
  const deviceEnv = { ...env, ARCA_HOME: home, ARCA_PASSPHRASE: PASSPHRASE, ARCA_INSECURE_TEST_KDF: '1' }
  const nodeLog = path.join(base, 'node.log')
  // one port for both starts: the paired device keeps the address it was invited with
  const listen = `127.0.0.1:${await freeLoopbackPort()}`

  // a node with one vault and a paired device; the vault's store is created by arca init
  initNodeData({ main: ARCA_MAIN, dataDir, env })
  let node = await startNodeProcess({ main: ARCA_MAIN, dataDir, env, logFile: nodeLog, listen })
  const { storeDir } = pairDevice({ main: ARCA_MAIN, dataDir, env, home })
  runCli(['init'], deviceEnv)
  await node.stop()

  log(`N = ${n}: writing ${n} index entries into ${storeDir}/index`)
  const gen = await generateIndex(storeDir, n, opts.present)
  if (opts.keep) fs.writeFileSync(path.join(base, 'stored-ids.bin'), Buffer.concat(gen.sample)) // 32 bytes each
  log(`  written in ${fmtSec(gen.writeMs)} (${n > 0 ? ((n / gen.writeMs) * 1000).toFixed(0) : 0} entries/s), settled after ${fmtSec(gen.ms)}; ` +
    `index ${(gen.indexBytes / 1e6).toFixed(0)} MB in ${gen.tableFiles} table files (per level ${gen.filesPerLevel.join(' ')})`)
  const tree = path.join(base, 'tree')
  writeTree(tree)

  let cgroup = null
  if (opts.memoryLimitMiB != null) {
    dropIndexCache(path.join(storeDir, 'index'))
    cgroup = createMemoryCgroup(`arca-node-rss-${process.pid}-n${n}`, opts.memoryLimitMiB * 1024 * 1024)
    log(`  node runs in a cgroup (v${cgroup.version}) limited to ${opts.memoryLimitMiB} MiB; index page cache dropped`)
  }
  node = await startNodeProcess({ main: ARCA_MAIN, dataDir, env, logFile: nodeLog, listen, cgroupProcsFile: cgroup?.procsFile ?? null })
  Object.assign(current, { node, cgroup })
  const samples = []
  const timings = {}
  const cfg = readDeviceConfig(home)
  const target = { publicKey: Buffer.from(cfg.node.publicKey, 'hex'), addresses: cfg.node.addresses, bootstrap: [], transport: 'tcp' }
  const connect = () => RemoteStore.connect(() => connectToNode(deviceKeyPair(cfg), target), { clock: systemClock })
  /** Runs one load with the node's VmHWM reset before it, so each sample's peak belongs to that load. */
  const phase = async (label, fn) => {
    resetPeakRss(node.pid)
    const started = Date.now()
    await fn()
    const ms = Date.now() - started
    samples.push({ ...sampleNode(node.pid, label, cgroup), ms })
  }
  try {
    await sleep(2000)
    samples.push({ ...sampleNode(node.pid, 'idle, 2 s after start', cgroup), ms: null })
    const store = await connect()
    try {
      // the node opens the vault's LocalStore on the first request of a session
      await phase('first request (opens the vault)', () => store.readConfig())
      await phase(`MISSING, random absent ids`, async () => {
        let absentSeen = 0
        for (let done = 0; done < opts.missing; done += 65_536) {
          const ids = Array.from({ length: Math.min(65_536, opts.missing - done) }, () => randomBytes(32))
          for (const isMissing of await store.missing(ids)) if (isMissing) absentSeen++
        }
        if (absentSeen !== opts.missing) throw new Error(`MISSING said ${opts.missing - absentSeen} random ids are stored`)
      })
      await phase(`MISSING, stored ids`, async () => {
        const wronglyMissing = (await store.missing(gen.sample)).filter(Boolean).length
        if (wronglyMissing > 0) throw new Error(`MISSING said ${wronglyMissing} of ${gen.sample.length} stored ids are missing`)
      })
    } finally {
      await store.close()
    }
    await phase('backup of 12 MiB + 200 files (CLI)', async () => runCli(['backup', '--plan', 'rss', tree], deviceEnv))
    await phase('USAGE (object count from the index)', async () => {
      const usageStore = await connect()
      try {
        timings.usageObjectCount = (await usageStore.usage()).objectCount
      } finally {
        await usageStore.close()
      }
    })
    await phase('idle, 5 s later', () => sleep(5000))
  } finally {
    const exit = await node.stop()
    if (exit !== 0) log(`  node exited with ${exit}; log in ${nodeLog}`)
    cgroup?.remove()
    Object.assign(current, { node: null, cgroup: null })
  }
  if (!opts.keep) await fsp.rm(base, { recursive: true, force: true })
  return { entries: n, memoryLimitMiB: opts.memoryLimitMiB, missingAbsent: opts.missing, missingPresent: gen.sample.length, generation: { ms: gen.ms, writeMs: gen.writeMs, indexBytes: gen.indexBytes, tableFiles: gen.tableFiles, filesPerLevel: gen.filesPerLevel }, timings, samples }
}

function printTables(runs) {
  const limit = runs[0].memoryLimitMiB
  const header = [`node memory (MiB) after each load${limit != null ? `, cgroup limit ${limit} MiB` : ''}`, ...runs.map((r) => `N = ${r.entries.toLocaleString('en')}`)]
  const rows = []
  rows.push(['index on disk', ...runs.map((r) => `${(r.generation.indexBytes / 1e6).toFixed(0)} MB, ${r.generation.tableFiles} tables`)])
  rows.push(['index written in', ...runs.map((r) => fmtSec(r.generation.writeMs))])
  rows.push(['  settled (compactions done) after', ...runs.map((r) => fmtSec(r.generation.ms))])
  rows.push(['  tables per level 0-6', ...runs.map((r) => r.generation.filesPerLevel.join(' '))])
  for (let i = 0; i < runs[0].samples.length; i++) {
    rows.push([runs[0].samples[i].label, ...runs.map((r) => (r.samples[i].ms == null ? '' : `${fmtSec(r.samples[i].ms)}`))])
    rows.push(['  VmRSS = anon + file', ...runs.map((r) => {
      const s = r.samples[i]
      return `${fmtMiB(s.rssKiB)} = ${fmtMiB(s.anonKiB)} + ${fmtMiB(s.fileKiB)}`
    })])
    rows.push(['  of which .ldb mapped', ...runs.map((r) => `${fmtMiB(r.samples[i].ldbMappedKiB)} (${r.samples[i].ldbMappings} files)`)])
    rows.push([i === 0 ? '  VmHWM since start' : '  VmHWM during this load', ...runs.map((r) => fmtMiB(r.samples[i].hwmKiB))])
    if (runs.some((r) => r.samples[i].cgroup)) {
      rows.push(['  cgroup charged (limit hits)', ...runs.map((r) => {
        const c = r.samples[i].cgroup
        return c ? `${fmtMiB(c.usageBytes / 1024)} (${c.limitHits})` : '-'
      })])
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`)
  for (const row of rows) console.log(line(row))
  const r0 = runs[0]
  console.log(`\nMISSING asked ${r0.missingAbsent} random absent ids, then ${runs.map((r) => r.missingPresent).join(', ')} stored ids; USAGE counted ${runs.map((r) => r.timings.usageObjectCount).join(', ')} objects`)
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const onSignal = async (signal) => {
    log(`${signal}: stopping the node`)
    if (current.node?.isRunning()) await current.node.stop(0) // SIGKILL at once: a thrashing node is slow to stop
    current.cgroup?.remove()
    process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  if (!fs.existsSync(ARCA_MAIN)) usageError(`Arca CLI not built: ${ARCA_MAIN} does not exist (run "npm run build")`)
  await loadDist()
  fs.mkdirSync(opts.dir, { recursive: true })
  log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at start, ${os.cpus().length} cores`)
  const runs = []
  for (const n of opts.entries) {
    const run = await runOne(n, opts)
    run.load1AtEnd = os.loadavg()[0]
    runs.push(run)
    log(`N = ${n}: done, load average ${run.load1AtEnd.toFixed(2)}`)
  }
  printTables(runs)
  if (opts.json) {
    fs.writeFileSync(opts.json, `${JSON.stringify({ createdAt: new Date().toISOString(), host: { cores: os.cpus().length, node: process.version }, options: opts, runs }, null, 2)}\n`)
    log(`numbers written to ${opts.json}`)
  }
}

await main()
