/**
 * End to end through the real CLI: an awkward tree is backed up, changed, backed up again in each mode, and
 * restored byte for byte with its metadata; the store never holds a name or plaintext of the data.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { allocatedBytes, compareTrees } from './helpers/compare-trees.js'
import { runCli, tempDir } from './helpers/env.js'
import { makeAwkwardTree, mutateTree } from './helpers/fixture-tree.js'

const MARKER_TEXT = 'ZQX-unique-plaintext-marker-7731 '

function listFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...listFiles(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

async function ok(args: string[], env?: Record<string, string>): Promise<string> {
  const r = await runCli(args, { env })
  if (r.code !== 0) throw new Error(`arca ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

t.test('backup and restore an awkward tree, then changes in every mode', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(data)
  const manifest = await makeAwkwardTree(data, { seed: 7 })
  writeFileSync(join(data, 'docs', 'marker.txt'), MARKER_TEXT.repeat(2000))
  const day1Copy = join(dir, 'day1')
  execFileSync('cp', ['-a', data, day1Copy])

  await ok(['init', '--repo', repo])
  const first = JSON.parse(await ok(['backup', '--repo', repo, '--plan', 'home', '--json', data]))
  t.equal(first.mode, 'full', 'first incremental without a base runs as full')
  t.ok(first.stats.filesNew > 20, `files were read (${first.stats.filesNew})`)
  t.equal(first.stats.filesUnchanged, 1 + 2, 'only extra hard-link names count as unchanged on day 1')

  const restored1 = join(dir, 'r1')
  await ok(['restore', '--repo', repo, 'latest', '--target', restored1])
  t.same(await compareTrees(data, join(restored1, data)), [], 'restored tree equals the original')
  const sparse = join(restored1, data, manifest.sparseFile)
  t.ok((await allocatedBytes(sparse)) < statSync(sparse).size / 4, 'sparse file restored sparse')

  const noChange = JSON.parse(await ok(['backup', '--repo', repo, '--plan', 'home', '--json', data]))
  t.equal(noChange.stats.bytesRead, 0, 'no-change incremental reads nothing')
  t.equal(noChange.stats.chunksNew, 0, 'no-change incremental stores no chunk')
  t.ok(noChange.stats.bytesStored < 4096, `only the trees of changed ancestors (the temp dir) are stored (${noChange.stats.bytesStored} bytes)`)

  await mutateTree(data, manifest, 3)
  const incr = JSON.parse(await ok(['backup', '--repo', repo, '--plan', 'home', '--json', data]))
  t.equal(incr.mode, 'incremental')
  t.ok(incr.stats.filesChanged >= 2, `changed files re-read (${incr.stats.filesChanged})`)
  t.ok(incr.stats.filesNew >= 1, 'new file seen')
  t.ok(incr.stats.filesDeleted >= 1, 'deleted file counted')
  t.ok(incr.stats.bytesRead < 4 * 1024 * 1024, `incremental read only changed files (${incr.stats.bytesRead} bytes)`)

  const diff = JSON.parse(await ok(['backup', '--repo', repo, '--plan', 'home', '--mode', 'differential', '--json', data]))
  t.equal(diff.mode, 'differential')
  t.equal(diff.stats.filesChanged, incr.stats.filesChanged, 'differential compares against the last full, like the first incremental')
  const full = JSON.parse(await ok(['backup', '--repo', repo, '--plan', 'home', '--mode', 'full', '--json', data]))
  t.equal(full.mode, 'full')
  t.equal(full.stats.filesUnchanged, 1 + 2, 'full re-reads every file')
  t.equal(full.stats.chunksNew, 0, 'full finds every chunk already stored')

  const list = JSON.parse(await ok(['snapshots', '--repo', repo, '--json']))
  t.equal(list.length, 5)
  const restoredLatest = join(dir, 'r2')
  await ok(['restore', '--repo', repo, list[0].id.slice(0, 8), '--target', restoredLatest])
  t.same(await compareTrees(data, join(restoredLatest, data)), [], 'latest snapshot equals the changed tree')
  const restoredFirst = join(dir, 'r3')
  await ok(['restore', '--repo', repo, list[list.length - 1].id, '--target', restoredFirst])
  t.same(await compareTrees(day1Copy, join(restoredFirst, data)), [], 'first snapshot still equals day 1')

  const check = await runCli(['check', '--repo', repo, '--read-data'])
  t.equal(check.code, 0, check.stderr)
  t.match(check.stdout, /no errors found/)
  const subset = JSON.parse(await ok(['check', '--repo', repo, '--read-data-subset', '1/3', '--json']))
  t.ok(subset.chunksRead > 0 && subset.chunksRead < subset.chunks, `a third of the chunks read (${subset.chunksRead} of ${subset.chunks})`)
  const badSubset = await runCli(['check', '--repo', repo, '--read-data-subset', '4/3'])
  t.equal(badSubset.code, 2)
  t.match(badSubset.stderr, /Invalid subset "4\/3": expected n\/m with 1 <= n <= m <= 65536/)

  // the store holds no name and no plaintext of the data
  const needles = [MARKER_TEXT, 'marker.txt', ...manifest.awkwardNames.map((p) => p.split('/').pop()!).filter((n) => Buffer.byteLength(n) >= 6)]
  t.ok(needles.length >= 4, 'enough needles to search for')
  for (const file of listFiles(repo)) {
    const bytes = readFileSync(file)
    for (const needle of needles) {
      t.equal(bytes.indexOf(Buffer.from(needle, 'utf8')), -1, `${JSON.stringify(needle)} not in ${file}`)
    }
  }
})

t.test('restore of one file and one directory, overwrite rules', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(join(data, 'sub'), { recursive: true })
  writeFileSync(join(data, 'sub', 'a.txt'), 'alpha')
  writeFileSync(join(data, 'b.txt'), 'beta')
  await ok(['init', '--repo', repo])
  await ok(['backup', '--repo', repo, '--plan', 'p', data])

  const target = join(dir, 'out')
  await ok(['restore', '--repo', repo, `latest:${data}/sub/a.txt`, '--target', target])
  t.same(readdirSync(target), ['a.txt'])
  t.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'alpha')

  writeFileSync(join(target, 'a.txt'), 'local edit')
  const kept = await runCli(['restore', '--repo', repo, `latest:${data}/sub/a.txt`, '--target', target])
  t.equal(kept.code, 0)
  t.match(kept.stderr, /exists \(use --overwrite/)
  t.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'local edit', 'existing file left alone')
  await ok(['restore', '--repo', repo, `latest:${data}/sub/a.txt`, '--target', target, '--overwrite'])
  t.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'alpha', 'replaced with --overwrite')

  const dirTarget = join(dir, 'out-dir')
  await ok(['restore', '--repo', repo, `latest:${data}/sub`, '--target', dirTarget])
  t.same(readdirSync(join(dirTarget, 'sub')), ['a.txt'])

  const ls = (await ok(['ls', '--repo', repo, 'latest', data, '--json'])).trim().split('\n').map((l) => JSON.parse(l))
  t.same(ls.map((e) => e.path), [data, `${data}/b.txt`, `${data}/sub`, `${data}/sub/a.txt`])
  t.equal(ls[1].size, 4)

  const missing = await runCli(['restore', '--repo', repo, `latest:${data}/nope`, '--target', dirTarget])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /^arca: Path ".*\/nope" is not in snapshot [0-9a-f]{8}\n$/)
})

t.test('exclude and include globs', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(join(data, 'cache'), { recursive: true })
  mkdirSync(join(data, 'work'), { recursive: true })
  for (const f of ['work/a.docx', 'work/b.xlsx', 'work/c.tmp', 'cache/d.docx', 'e.docx']) writeFileSync(join(data, f), f)
  await ok(['init', '--repo', repo])
  await ok(['backup', '--repo', repo, '--plan', 'p', '--exclude', 'cache', '--exclude', '*.tmp', data])
  const paths1 = (await ok(['ls', '--repo', repo, 'latest', data, '--json'])).trim().split('\n').map((l) => JSON.parse(l).path.slice(data.length))
  t.same(paths1, ['', '/e.docx', '/work', '/work/a.docx', '/work/b.xlsx'])
  const inside = join(data, 'work', 'repo-inside')
  await ok(['init', '--repo', inside])
  await ok(['backup', '--repo', inside, '--plan', 'self', data])
  const selfPaths = (await ok(['ls', '--repo', inside, 'latest', data, '--json'])).trim().split('\n').map((l) => JSON.parse(l).path.slice(data.length))
  t.notOk(selfPaths.some((p: string) => p.startsWith('/work/repo-inside')), 'a store inside the backed-up tree is never backed up into itself')
  t.ok(selfPaths.includes('/work/a.docx'), 'the rest is there')
  await ok(['backup', '--repo', repo, '--plan', 'q', '--include', '*.docx', '--exclude', 'repo-inside', data])
  const paths2 = (await ok(['ls', '--repo', repo, 'latest', data, '--json'])).trim().split('\n').map((l) => JSON.parse(l).path.slice(data.length))
  t.same(paths2, ['', '/cache', '/cache/d.docx', '/e.docx', '/work', '/work/a.docx'])
})

t.test('special files are reported, not fatal', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(data)
  writeFileSync(join(data, 'kept.txt'), 'kept')
  execFileSync('mkfifo', [join(data, 'pipe')])
  await ok(['init', '--repo', repo])
  const r = await runCli(['backup', '--repo', repo, '--plan', 'p', '--json', data])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /warning: ".*\/pipe": special file \(device, socket or FIFO\) not backed up/)
  const out = JSON.parse(r.stdout)
  t.equal(out.warningCount, 1)
  t.equal(out.stats.filesSkipped, 1)
  t.same(out.warnings.map((w: { path: string }) => w.path), [join(data, 'pipe')])
  const ls = (await ok(['ls', '--repo', repo, 'latest', data, '--json'])).trim().split('\n').map((l) => JSON.parse(l).path)
  t.same(ls, [data, join(data, 'kept.txt')])
})

t.test('clear errors and exit codes', async (t) => {
  const dir = tempDir(t)
  const repo = join(dir, 'repo')
  const noRepo = await runCli(['snapshots', '--repo', repo])
  t.equal(noRepo.code, 9)
  t.match(noRepo.stderr, /^arca: No Arca store at ".*repo": the ARCA marker file is missing \(run arca init\)\n$/)

  const weak = await runCli(['init', '--repo', repo], { env: { ARCA_PASSPHRASE: 'short' } })
  t.equal(weak.code, 2)
  t.match(weak.stderr, /Passphrase too short: at least 20 characters are required, received 5/)

  await ok(['init', '--repo', repo])
  const again = await runCli(['init', '--repo', repo])
  t.equal(again.code, 10)

  const wrong = await runCli(['snapshots', '--repo', repo], { env: { ARCA_PASSPHRASE: 'a wrong passphrase that is long' } })
  t.equal(wrong.code, 8)
  t.equal(wrong.stderr, 'arca: Wrong passphrase: no key slot of this vault opens with it\n')

  const badMode = await runCli(['backup', '--repo', repo, '--plan', 'p', '--mode', 'weekly', dir])
  t.equal(badMode.code, 2)
  t.match(badMode.stderr, /Invalid --mode "weekly": expected full, incremental or differential/)

  const unknown = await runCli(['backup', '--repo', repo, '--plan', 'p', '--exclud', 'x', dir])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /Unknown option "--exclud" for arca backup/)

  const absent = await runCli(['backup', '--repo', repo, '--plan', 'p', join(dir, 'nothing-here')])
  t.equal(absent.code, 2)
  t.match(absent.stderr, /Cannot back up ".*nothing-here": ENOENT/)

  const noSnap = await runCli(['restore', '--repo', repo, 'abcd', '--target', join(dir, 'x')])
  t.equal(noSnap.code, 5)
  t.match(noSnap.stderr, /Snapshot not found: "abcd"/)
})

t.test('key slots: add, list, passwd, remove, recovery key', async (t) => {
  const dir = tempDir(t)
  const repo = join(dir, 'repo')
  const second = 'the second passphrase for this vault'
  const third = 'a third passphrase replacing the second'
  await ok(['init', '--repo', repo])
  await ok(['key', 'add', '--repo', repo, '--label', 'laptop'], { ARCA_NEW_PASSPHRASE: second })
  const slots = JSON.parse(await ok(['key', 'list', '--repo', repo, '--json'], { ARCA_PASSPHRASE: second }))
  t.same(slots.map((s: { label: string }) => s.label), ['initial', 'laptop'])
  await ok(['key', 'passwd', '--repo', repo], { ARCA_PASSPHRASE: second, ARCA_NEW_PASSPHRASE: third })
  t.equal((await runCli(['snapshots', '--repo', repo], { env: { ARCA_PASSPHRASE: second } })).code, 8, 'old passphrase no longer opens')
  t.equal((await runCli(['snapshots', '--repo', repo], { env: { ARCA_PASSPHRASE: third } })).code, 0, 'new passphrase opens')
  const recovery = (await ok(['key', 'recovery', '--repo', repo])).trim()
  t.match(recovery, /^arca-rk1-([0-9a-f]{8}-){8}[0-9a-f]{8}$/)
  const initialId = slots[0].id as string
  await ok(['key', 'remove', '--repo', repo, initialId.slice(0, 8)], { ARCA_PASSPHRASE: third })
  const last = await runCli(['key', 'remove', '--repo', repo, JSON.parse(await ok(['key', 'list', '--repo', repo, '--json'], { ARCA_PASSPHRASE: third }))[0].id], { env: { ARCA_PASSPHRASE: third } })
  t.equal(last.code, 2)
  t.match(last.stderr, /Refusing to remove the last key slot/)
  const viaRecovery = await runCli(['snapshots', '--repo', repo], { env: { ARCA_PASSPHRASE: '', ARCA_RECOVERY_KEY: recovery } })
  t.equal(viaRecovery.code, 0, viaRecovery.stderr)
  await ok(['key', 'add', '--repo', repo], { ARCA_PASSPHRASE: '', ARCA_RECOVERY_KEY: recovery, ARCA_NEW_PASSPHRASE: second })
  t.equal((await runCli(['snapshots', '--repo', repo], { env: { ARCA_PASSPHRASE: second } })).code, 0, 'recovery key re-adds a passphrase')
})
