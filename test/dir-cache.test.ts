/**
 * The directory cache: its file format (round trip, golden vector, every damaged byte refused), and what it
 * changes in a backup: nothing in the snapshots (a plan backed up with the cache and one without give the same
 * trees and counts, through day-2 changes of every kind), only which trees are loaded.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { systemClock } from '../src/core/clock.js'
import { scanDir, setXattr } from '../src/core/native-addon.js'
import { LocalStore } from '../src/node/local-store.js'
import { backup, type BackupOptions, type BackupResult } from '../src/repo/archiver.js'
import { DirCache, DirCacheWriter, dirCacheKey, listingDigest, rulesDigest, type DirRecord } from '../src/repo/dir-cache.js'
import { restore } from '../src/repo/restorer.js'
import { Repository } from '../src/repo/repository.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { compareTrees } from './helpers/compare-trees.js'
import { codeOf as errorCode } from './helpers/error-code.js'
import { PASSPHRASE, runCli, tempDir, TEST_KDF } from './helpers/env.js'
import { makeAwkwardTree, mutateTree } from './helpers/fixture-tree.js'

const GOLDEN = new URL('./fixtures/dir-cache-v1.json', import.meta.url)

function id(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte)
}

function listing(byte: number): Uint8Array {
  return new Uint8Array(16).fill(byte)
}

/** The records of the golden vector: a duplicate tree id (two listings), subdirectories, a large byte count. */
function goldenRecords(): [Uint8Array, DirRecord][] {
  return [
    [id(0x30), { listing: listing(1), files: 3, symlinks: 1, logicalBytes: 2 ** 40 + 5, subtrees: [id(0x10), id(0x20)] }],
    [id(0x10), { listing: listing(2), files: 0, symlinks: 0, logicalBytes: 0, subtrees: [] }],
    [id(0x20), { listing: listing(3), files: 7, symlinks: 0, logicalBytes: 4096, subtrees: [] }],
    [id(0x10), { listing: listing(4), files: 1, symlinks: 2, logicalBytes: 9, subtrees: [id(0x20)] }],
  ]
}

const GOLDEN_KEY = new Uint8Array(32).fill(0x42)
const GOLDEN_RULES = rulesDigest(GOLDEN_KEY, { paths: ['/home/a'], excludes: ['*.tmp'], includes: [], skipPaths: [] })

function encodeGolden(): Buffer {
  const w = new DirCacheWriter()
  for (const [treeId, record] of goldenRecords()) w.add(treeId, record)
  return w.encode(GOLDEN_KEY, GOLDEN_RULES)
}

function plain(r: DirRecord | undefined): unknown {
  return r === undefined ? undefined : { ...r, listing: Buffer.from(r.listing).toString('hex'), subtrees: r.subtrees.map((s) => Buffer.from(s).toString('hex')) }
}

t.test('format: records round-trip and are found by tree id and listing', async (t) => {
  const file = encodeGolden()
  const cache = DirCache.decode(GOLDEN_KEY, file)
  t.equal(cache.size, 4)
  t.same(Buffer.from(cache.rulesDigest), Buffer.from(GOLDEN_RULES), 'the rules digest is kept')
  for (const [treeId, record] of goldenRecords()) t.same(plain(cache.lookup(treeId, record.listing)), plain(record), `tree ${treeId[0].toString(16)}, listing ${record.listing[0]}`)
  t.equal(cache.lookup(id(0x10), listing(9)), undefined, 'a known tree with another listing is not found')
  t.equal(cache.lookup(id(0x11), listing(2)), undefined, 'an unknown tree is not found')
  t.ok(cache.has(id(0x20)) && cache.has(id(0x30)), 'has: known trees')
  t.notOk(cache.has(id(0x00)) || cache.has(id(0x15)) || cache.has(id(0xff)), 'has: unknown trees below, between and above')
  t.equal(DirCache.decode(GOLDEN_KEY, new DirCacheWriter().encode(GOLDEN_KEY, GOLDEN_RULES)).size, 0, 'an empty cache')
})

t.test('format: the golden vector decodes, and encoding gives it byte for byte', async (t) => {
  const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as { keyHex: string; rulesHex: string; fileHex: string }
  t.equal(golden.keyHex, Buffer.from(GOLDEN_KEY).toString('hex'))
  t.equal(golden.rulesHex, Buffer.from(GOLDEN_RULES).toString('hex'), 'the rules digest is as documented')
  const cache = DirCache.decode(GOLDEN_KEY, Buffer.from(golden.fileHex, 'hex'))
  for (const [treeId, record] of goldenRecords()) t.same(plain(cache.lookup(treeId, record.listing)), plain(record))
  t.equal(encodeGolden().toString('hex'), golden.fileHex, 'a format change fails here until the version, DESIGN.md and this vector change')
})

t.test('format: every damaged byte, a truncation, another key and another version are refused', async (t) => {
  const file = encodeGolden()
  let refused = 0
  for (let i = 0; i < file.length; i++) {
    const bad = Buffer.from(file)
    bad[i] ^= 0x01
    const code = errorCode(() => DirCache.decode(GOLDEN_KEY, bad))
    if (code === (i === 8 ? 'UNSUPPORTED_VERSION' : 'BAD_MESSAGE')) refused++
    else t.fail(`byte ${i} flipped: ${code}`)
  }
  t.equal(refused, file.length, `all ${file.length} single-bit changes refused`)
  t.equal(errorCode(() => DirCache.decode(GOLDEN_KEY, file.subarray(0, file.length - 1))), 'BAD_MESSAGE', 'truncated')
  t.equal(errorCode(() => DirCache.decode(GOLDEN_KEY, file.subarray(0, 20))), 'BAD_MESSAGE', 'shorter than a header')
  t.equal(errorCode(() => DirCache.decode(new Uint8Array(32), file)), 'BAD_MESSAGE', 'another key')
})

t.test('listing digest: path, names and every lstat field count; nothing else', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'd'))
  writeFileSync(join(dir, 'd', 'f'), 'x')
  const key = dirCacheKey({ treeIdKey: new Uint8Array(32).fill(7) })
  const digest = (path = join(dir, 'd')): string => Buffer.from(listingDigest(key, path, scanDir(join(dir, 'd')))).toString('hex')
  const first = digest()
  t.equal(digest(), first, 'stable while nothing changes')
  readFileSync(join(dir, 'd', 'f'))
  t.equal(digest(), first, 'reading a file changes nothing')
  t.not(digest('/elsewhere'), first, 'another path')
  const other = dirCacheKey({ treeIdKey: new Uint8Array(32).fill(8) })
  t.not(Buffer.from(listingDigest(other, join(dir, 'd'), scanDir(join(dir, 'd')))).toString('hex'), first, 'another vault')
  chmodSync(join(dir, 'd', 'f'), 0o600)
  const afterChmod = digest()
  t.not(afterChmod, first, 'a mode change (ctime moves)')
  writeFileSync(join(dir, 'd', 'f'), 'y')
  utimesSync(join(dir, 'd', 'f'), statSync(join(dir, 'd', 'f')).atime, statSync(join(dir, 'd', 'f')).mtime)
  t.not(digest(), afterChmod, 'a rewrite of the same size')
})

interface Vault {
  /** The vault opened again (so no tree is held from an earlier backup), with its pool. */
  open(): Promise<{ repo: Repository; pool: SealPool }>
  /** Store reads so far. */
  gets: { count: number }
}

/** A vault in `dir`; `gets` counts the store reads. */
async function makeVault(t: Test, dir: string): Promise<Vault> {
  const store = await LocalStore.open(join(dir, 'vault'), { create: true })
  t.teardown(() => store.close())
  const first = await Repository.init(store, PASSPHRASE, { clock: systemClock, kdf: TEST_KDF })
  const pool = new SealPool(first.keys, { threads: 1 })
  t.teardown(() => pool.close())
  const gets = { count: 0 }
  const get = store.get.bind(store)
  store.get = (objectId: Uint8Array) => {
    gets.count++
    return get(objectId)
  }
  return { open: async () => ({ repo: await Repository.open(store, { passphrase: PASSPHRASE }), pool }), gets }
}

/** The tree id of the directory `path` in a snapshot (so that changes of its ancestors in /tmp do not count). */
async function treeOf(vault: Vault, result: BackupResult, path: string): Promise<string> {
  const { repo } = await vault.open()
  let id = result.snapshot.header.rootTree
  for (const name of path.split('/').filter((p) => p !== '')) {
    const node = (await repo.loadTree(id)).find((n) => n.name === name)
    if (node?.subtree === undefined) throw new Error(`No directory "${name}" on the way to ${path}`)
    id = node.subtree
  }
  return Buffer.from(id).toString('hex')
}

const COUNTED = ['filesNew', 'filesChanged', 'filesUnchanged', 'filesDeleted', 'filesSkipped', 'dirs', 'symlinks', 'logicalBytes', 'bytesRead'] as const

function counts(r: BackupResult): Record<string, number> {
  return Object.fromEntries(COUNTED.map((k) => [k, r.stats[k]]))
}

t.test('a backup with the cache gives what one without gives, through changes of every kind', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  mkdirSync(data)
  const manifest = await makeAwkwardTree(data, { seed: 11, largeFileBytes: 1024 * 1024 })
  const deep = join(data, 'deep', 'er', 'est')
  mkdirSync(deep, { recursive: true })
  writeFileSync(join(deep, 'leaf.txt'), 'leaf v1\n')
  symlinkSync('leaf.txt', join(deep, 'link'))
  const vault = await makeVault(t, dir)
  const { gets } = vault
  const cacheDir = join(tempDir(t, 'arca-cache-'), 'cache')
  const logs: string[] = []
  const run = async (plan: string, withCache: boolean, extra: Partial<BackupOptions> = {}): Promise<BackupResult> => {
    const { repo, pool } = await vault.open()
    return backup(repo, { plan, paths: [data], mode: 'incremental', clock: systemClock, pool, ...(withCache ? { cacheDir, log: (m) => logs.push(m) } : {}), ...extra })
  }
  const same = async (step: string, extra: Partial<BackupOptions> = {}): Promise<{ cached: BackupResult; plain: BackupResult; cachedGets: number; plainGets: number }> => {
    let before = gets.count
    const cached = await run('cached', true, extra)
    const cachedGets = gets.count - before
    before = gets.count
    const plain = await run('plain', false, extra)
    const plainGets = gets.count - before
    t.equal(await treeOf(vault, cached, data), await treeOf(vault, plain, data), `${step}: the same tree`)
    t.same(counts(cached), counts(plain), `${step}: the same counts`)
    return { cached, plain, cachedGets, plainGets }
  }

  const day1 = await same('day 1')
  t.equal(day1.cached.mode, 'full')
  const cacheFile = join(cacheDir, readdirOne(cacheDir))
  t.equal(statSync(cacheFile).mode & 0o777, 0o600, 'the cache file is readable by its owner only')
  const cacheBytes = readFileSync(cacheFile)
  for (const name of ['leaf.txt', 'deep', 'data', ...manifest.textFiles.map((f) => f.split('/').pop()!)]) {
    t.equal(cacheBytes.indexOf(Buffer.from(name)), -1, `the cache holds no name ("${name}")`)
  }

  const noChange = await same('no change')
  // trees loaded: those of "/" down to the parent of the data directory (selected path components, compared), and
  // of the directories holding a hard link (never cached); none below
  const components = data.split('/').filter((p) => p !== '').length
  const hardLinkDirs = new Set(manifest.hardLinkGroups.flat().map((p) => p.split('/').slice(0, -1).join('/'))).size
  t.equal(noChange.cachedGets, components + hardLinkDirs, `with the cache, ${components} + ${hardLinkDirs} trees loaded`)
  t.ok(noChange.plainGets > noChange.cachedGets + 5, `without it, every tree (${noChange.plainGets})`)

  await mutateTree(data, manifest, 5)
  writeFileSync(join(deep, 'leaf.txt'), 'leaf v2\n')
  const changed = await same('day-2 changes')
  t.equal(changed.cached.stats.filesChanged, changed.plain.stats.filesChanged)
  t.ok(changed.cached.stats.filesChanged >= 2, 'changed files were read again')

  chmodSync(join(data, 'deep', 'er'), 0o700)
  await same('a directory chmod-ed')
  unlinkSync(join(deep, 'link'))
  symlinkSync('elsewhere', join(deep, 'link'))
  await same('a symlink replaced')
  setXattr(join(deep, 'leaf.txt'), 'user.arca-test', Buffer.from('v'))
  const xattr = await same('an attribute set')
  t.equal(xattr.cached.stats.filesUnchanged, xattr.plain.stats.filesUnchanged)
  rmSync(join(data, 'deep', 'er', 'est'), { recursive: true })
  await same('a subtree removed')
  // differential runs compare against the last full snapshot, whose trees the cache (written by the last run)
  // may or may not know
  const diff1 = await same('differential', { mode: 'differential' })
  t.equal(diff1.cached.mode, 'differential')
  writeFileSync(join(data, 'deep', 'late.txt'), 'late\n')
  await same('differential after a change', { mode: 'differential' })
  await same('full', { mode: 'full' })
  await same('incremental after a full')
  await same('excluded files', { excludes: ['*.txt'] })
  t.same(logs, [], 'nothing logged: other rules just leave the cache aside')

  const target = join(dir, 'restored')
  const last = await run('cached', true)
  const { repo, pool } = await vault.open()
  await restore(repo, last.snapshot, { target, pool })
  t.same(await compareTrees(data, join(target, ...data.split('/').filter((p) => p !== ''))), [], 'the last cached snapshot restores identical')
})

t.test('a damaged or unreadable cache is ignored with a note, and rewritten', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  mkdirSync(join(data, 'a', 'b'), { recursive: true })
  writeFileSync(join(data, 'a', 'b', 'f.txt'), 'content\n')
  const vault = await makeVault(t, dir)
  const { gets } = vault
  const cacheDir = join(tempDir(t, 'arca-cache-'), 'cache')
  const logs: string[] = []
  const run = async (): Promise<BackupResult> => {
    const { repo, pool } = await vault.open()
    return backup(repo, { plan: 'p', paths: [data], mode: 'incremental', clock: systemClock, pool, cacheDir, log: (m) => logs.push(m) })
  }
  const first = await run()
  const file = join(cacheDir, readdirOne(cacheDir))
  const bytes = readFileSync(file)
  bytes[60] ^= 0x80
  writeFileSync(file, bytes)
  const before = gets.count
  const second = await run()
  t.match(logs, [/^Directory cache ".*" ignored, every directory is compared: .*MAC mismatch/], 'the damage is told')
  t.equal(gets.count - before, data.split('/').filter((p) => p !== '').length + 3, 'every tree was loaded')
  t.equal(await treeOf(vault, second, data), await treeOf(vault, first, data), 'the same tree')
  const { repo } = await vault.open()
  t.doesNotThrow(() => DirCache.decode(dirCacheKey(repo.keys), readFileSync(file)), 'the cache was written again')
  const before3 = gets.count
  const third = await run()
  t.equal(logs.length, 1, 'the rewritten cache is used without a note')
  t.equal(gets.count - before3, data.split('/').filter((p) => p !== '').length, 'only the trees above the data directory were loaded')
  t.equal(await treeOf(vault, third, data), await treeOf(vault, first, data))
})

t.test('skipped paths count only inside the backed-up paths', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  mkdirSync(join(data, 'a', 'b'), { recursive: true })
  mkdirSync(join(data, 'inner'))
  writeFileSync(join(data, 'a', 'b', 'f.txt'), 'content\n')
  const vault = await makeVault(t, dir)
  const cacheDir = join(tempDir(t, 'arca-cache-'), 'cache')
  const components = data.split('/').filter((p) => p !== '').length
  const run = async (skipPaths: string[]): Promise<{ gets: number; result: BackupResult }> => {
    const { repo, pool } = await vault.open()
    const before = vault.gets.count
    const result = await backup(repo, { plan: 'p', paths: [data], mode: 'incremental', clock: systemClock, pool, cacheDir, skipPaths })
    return { gets: vault.gets.count - before, result }
  }
  await run([join(dir, 'store-1')])
  t.equal((await run([join(dir, 'store-2')])).gets, components, 'a store elsewhere moved: the cache is used')
  const inner = await run([join(data, 'inner')])
  t.ok(inner.gets >= components + 3, `a skipped directory inside the data: the trees are compared (${inner.gets} loaded)`)
  const again = await run([join(data, 'inner')])
  t.equal(again.gets, components, 'then the cache of that selection is used')
  t.equal(again.result.stats.dirs, components + 2, 'the skipped directory stays out (ancestors, a and b)')
  t.equal(inner.result.stats.dirs, components + 2)
})

t.test('a directory with its own warnings is never taken from the cache: the warning comes every run', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  mkdirSync(join(data, 'quiet'), { recursive: true })
  mkdirSync(join(data, 'noisy'))
  writeFileSync(join(data, 'quiet', 'f.txt'), 'a\n')
  writeFileSync(join(data, 'noisy', 'g.txt'), 'b\n')
  execFileSync('mkfifo', [join(data, 'noisy', 'pipe')])
  const vault = await makeVault(t, dir)
  const cacheDir = join(tempDir(t, 'arca-cache-'), 'cache')
  const runs: { warnings: string[]; gets: number }[] = []
  for (let i = 0; i < 3; i++) {
    const { repo, pool } = await vault.open()
    const before = vault.gets.count
    const warnings: string[] = []
    await backup(repo, { plan: 'p', paths: [data], mode: 'incremental', clock: systemClock, pool, cacheDir, onWarning: (w) => warnings.push(w.path) })
    runs.push({ warnings, gets: vault.gets.count - before })
  }
  for (const r of runs) t.same(r.warnings, [join(data, 'noisy', 'pipe')], 'the FIFO is reported')
  const components = data.split('/').filter((p) => p !== '').length
  t.equal(runs[2].gets, components + 1, 'only the noisy directory is compared again (data and quiet come from the cache)')
})

t.test('CLI: the cache goes to ARCA_CACHE_DIR; --no-cache writes none', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  mkdirSync(data)
  writeFileSync(join(data, 'f'), 'x')
  const repo = join(dir, 'repo')
  const cacheDir = join(dir, 'cache')
  t.equal((await runCli(['init', '--repo', repo])).code, 0)
  t.equal((await runCli(['backup', '--repo', repo, '--plan', 'p', '--no-cache', data], { env: { ARCA_CACHE_DIR: cacheDir } })).code, 0)
  t.throws(() => statSync(cacheDir), 'no cache directory with --no-cache')
  t.equal((await runCli(['backup', '--repo', repo, '--plan', 'p', data], { env: { ARCA_CACHE_DIR: cacheDir } })).code, 0)
  t.match(readdirOne(cacheDir), /^dirs-[0-9a-f]{32}\.cache$/, 'one file per plan, named by its keyed plan id')
})

function readdirOne(dir: string): string {
  const names = readdirSync(dir)
  if (names.length !== 1) throw new Error(`Expected one file in ${dir}, found ${names.join(', ')}`)
  return names[0]
}
