/**
 * Self-test of the end-to-end test helpers: the awkward tree is what it claims to be, compareTrees finds a `cp -a`
 * copy identical, and it reports each kind of difference introduced into such a copy.
 */
import { execFile } from 'node:child_process'
import { appendFile, chmod, chown, cp, link, lstat, lutimes, mkdir, mkdtemp, open, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { listXattrs, setXattr } from '../src/core/native-addon.js'
import { allocatedBytes, compareTrees } from './helpers/compare-trees.js'
import { makeAwkwardTree, mutateTree } from './helpers/fixture-tree.js'

const execFileAsync = promisify(execFile)

const work = await mkdtemp(path.join(os.tmpdir(), 'arca-helpers-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const original = path.join(work, 'original')
await mkdir(original)
const manifest = await makeAwkwardTree(original, { seed: 42 })

let copies = 0
/** A fresh `cp -a` copy of the original tree. */
async function copyOfOriginal(): Promise<string> {
  const dest = path.join(work, `copy-${++copies}`)
  await execFileAsync('cp', ['-a', original, dest])
  return dest
}

/** Runs `change` on `file` inside a copy, then puts back the mtimes of the file and of its directory. */
async function keepingMtimes(file: string, change: () => Promise<void>): Promise<void> {
  const dir = path.dirname(file)
  const [fileStat, dirStat] = await Promise.all([lstat(file, { bigint: true }), lstat(dir, { bigint: true })])
  await change()
  await utimes(dir, msDate(dirStat.mtimeNs), msDate(dirStat.mtimeNs))
  const setTimes = fileStat.isSymbolicLink() ? lutimes : utimes
  await setTimes(file, msDate(fileStat.mtimeNs), msDate(fileStat.mtimeNs))
}

function msDate(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000n))
}

t.test('the awkward tree has what the manifest says', async (t) => {
  for (const rel of manifest.all) {
    const stat = await lstat(path.join(original, rel))
    const kind = stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'dir' : 'file'
    t.equal(kind, manifest.kinds[rel], `kind of ${JSON.stringify(rel)}`)
  }
  t.same(manifest.refused, [], 'ext4 accepts every awkward name and a pre-1970 mtime')
  t.ok(manifest.all.includes('names/caf\u00e9.txt') && manifest.all.includes('names/cafe\u0301.txt'), 'NFC and NFD names')
  t.ok(manifest.awkwardNames.some((rel) => Buffer.byteLength(path.posix.basename(rel)) === 255), 'a 255-byte name')
  t.equal((await lstat(path.join(original, manifest.largeFile))).size, 3 * 1024 * 1024)
  const sparse = await lstat(path.join(original, manifest.sparseFile))
  t.equal(sparse.size, 20 * 1024 * 1024)
  t.ok((await allocatedBytes(path.join(original, manifest.sparseFile))) < sparse.size / 20, 'sparse file has holes')
  t.ok((await allocatedBytes(path.join(original, manifest.zeroFile))) >= 1024 * 1024, 'zero file is allocated')
  t.equal((await lstat(path.join(original, manifest.hardLinkGroups[1]![0]!))).nlink, 3)
  t.ok((await lstat(path.join(original, manifest.preEpochFile!))).mtimeMs < 0, 'mtime before 1970')
  t.equal((await lstat(path.join(original, manifest.subSecondFile))).mtimeMs % 1000 > 0, true, 'sub-second mtime')
  t.equal((await lstat(path.join(original, 'modes/secret-0700'))).mode & 0o7777, 0o700)
  t.strictSame(manifest.xattrs, {
    'docs/readme.txt': ['user.comment', 'user.empty', 'user.binary'],
    docs: ['user.dir-note'],
    'hard/pair-1': ['user.linked'],
    'docs/notes-1.txt': ['system.posix_acl_access'],
    'a/b/c/d': ['system.posix_acl_default'],
  })
  const names = (rel: string): string[] => listXattrs(path.join(original, rel)).map(([name]) => name.toString()).sort()
  t.strictSame(names('docs/readme.txt'), ['user.binary', 'user.comment', 'user.empty'])
  t.strictSame(names('a/b/pair-2'), ['user.linked'], 'a hard link shares the attributes of its inode')
  t.equal((await lstat(path.join(original, 'docs/notes-1.txt'))).mode & 0o7777, 0o644, 'the ACL mask (r) is the group bits')
})

t.test('same seed, same tree; another seed, another tree', async (t) => {
  const again = path.join(work, 'again')
  const other = path.join(work, 'other')
  await Promise.all([mkdir(again), mkdir(other)])
  await makeAwkwardTree(again, { seed: 42 })
  await makeAwkwardTree(other, { seed: 7 })
  t.same(await compareTrees(original, again), [])
  t.not((await compareTrees(original, other)).length, 0)
})

t.test('a cp -a copy is identical', async (t) => {
  t.same(await compareTrees(original, await copyOfOriginal()), [])
})

t.test('overlapping roots are refused', async (t) => {
  await t.rejects(compareTrees(original, path.join(original, 'a')), /trees must not overlap/)
})

/** Each change, a line the report must include, and how many lines it has (side effects such as a directory mtime). */
const cases: { name: string; count: number; change: (copy: string) => Promise<void>; expect: string }[] = [
  {
    name: 'one byte changed',
    count: 1,
    expect: `Content differs at "${manifest.largeFile}": first difference at byte 1234567`,
    change: async (copy) => {
      const file = path.join(copy, manifest.largeFile)
      await keepingMtimes(file, async () => {
        const handle = await open(file, 'r+')
        const byte = Buffer.alloc(1)
        await handle.read(byte, 0, 1, 1234567)
        byte[0] = byte[0]! ^ 0x01
        await handle.write(byte, 0, 1, 1234567)
        await handle.close()
      })
    },
  },
  {
    name: 'mode changed',
    count: 1,
    expect: 'Mode differs at "modes/script-0755": expected 0755, received 0754',
    change: (copy) => chmod(path.join(copy, 'modes/script-0755'), 0o754),
  },
  {
    name: 'file mtime changed by one millisecond',
    count: 1,
    expect: `Mtime differs at "${manifest.subSecondFile}": expected 2023-11-14T22:13:20.123Z, received 2023-11-14T22:13:20.124Z`,
    change: (copy) => utimes(path.join(copy, manifest.subSecondFile), 1_700_000_000.124456, 1_700_000_000.124456),
  },
  {
    name: 'directory mtime changed',
    count: 1,
    expect: 'Mtime differs at "a/b/c/d/empty"',
    change: (copy) => utimes(path.join(copy, 'a/b/c/d/empty'), 1_000_000_000, 1_000_000_000),
  },
  {
    name: 'symlink retargeted',
    count: 1,
    expect: 'Symlink target differs at "links/relative": expected "../docs/readme.txt", received "../docs/notes-1.txt"',
    change: async (copy) => {
      const link = path.join(copy, manifest.symlinkByRole.relative)
      await keepingMtimes(link, async () => {
        await unlink(link)
        await symlink('../docs/notes-1.txt', link)
      })
    },
  },
  {
    name: 'hard link broken into a copy (which loses the inode\'s extended attribute too)',
    count: 3,
    expect: 'Hard link grouping differs at "a/b/pair-2": expected linked with ["hard/pair-1"], received linked with []',
    change: async (copy) => {
      const file = path.join(copy, 'a/b/pair-2')
      await keepingMtimes(file, async () => {
        await cp(file, `${file}.tmp`, { preserveTimestamps: true })
        await chmod(`${file}.tmp`, 0o644)
        await rename(`${file}.tmp`, file)
      })
    },
  },
  {
    name: 'two files turned into hard links of one inode',
    count: 3,
    expect: 'Hard link grouping differs at "empty.txt": expected linked with [], received linked with ["a/b/c/empty-deep"]',
    change: async (copy) => {
      const file = path.join(copy, 'a/b/c/empty-deep')
      await keepingMtimes(file, async () => {
        await unlink(file)
        await link(path.join(copy, 'empty.txt'), file)
      })
    },
  },
  {
    name: 'extra file',
    count: 2,
    expect: 'Extra entry in actual: "a/b/c/d/empty/new.txt"',
    change: (copy) => writeFile(path.join(copy, 'a/b/c/d/empty/new.txt'), 'new\n'),
  },
  {
    name: 'missing file with an awkward name',
    count: 2,
    expect: 'Missing entry in actual: "names/line\\nbreak.txt"',
    change: (copy) => unlink(path.join(copy, 'names/line\nbreak.txt')),
  },
  {
    name: 'file replaced by a directory',
    count: 1,
    expect: 'Kind differs at "empty.txt": expected file, received dir',
    change: async (copy) => {
      await keepingMtimes(path.join(copy, 'empty.txt'), async () => {
        await unlink(path.join(copy, 'empty.txt'))
        await mkdir(path.join(copy, 'empty.txt'))
      })
    },
  },
  {
    name: 'extended attribute changed (ctime only)',
    count: 1,
    expect: 'Extended attributes differ at "docs/readme.txt": expected user.binary=',
    change: async (copy) => setXattr(path.join(copy, 'docs/readme.txt'), 'user.comment', Buffer.from('changed')),
  },
  {
    name: 'POSIX ACL changed (named user 1234 may now write too)',
    count: 1,
    expect: 'Extended attributes differ at "docs/notes-1.txt": expected system.posix_acl_access=0200000001000600ffffffff02000400d2040000',
    change: async (copy) => {
      const acl = Buffer.from('0200000001000600ffffffff02000600d204000004000400ffffffff10000400ffffffff20000400ffffffff', 'hex')
      setXattr(path.join(copy, 'docs/notes-1.txt'), 'system.posix_acl_access', acl)
    },
  },
  {
    name: 'file grown',
    count: 2,
    expect: 'Size differs at "docs/readme.txt"',
    change: (copy) => appendFile(path.join(copy, 'docs/readme.txt'), 'more'),
  },
]

for (const { name, count, change, expect } of cases) {
  t.test(`reports: ${name}`, async (t) => {
    const copy = await copyOfOriginal()
    await change(copy)
    const diffs = await compareTrees(original, copy)
    t.ok(
      diffs.some((line) => line.includes(expect)),
      `a difference includes ${JSON.stringify(expect)}`,
      { diffs },
    )
    t.equal(diffs.length, count, 'no other difference', { diffs })
  })
}

t.test('checkMtime and checkOwner can be turned off', async (t) => {
  const copy = await copyOfOriginal()
  await utimes(path.join(copy, 'docs/readme.txt'), 1_000_000_000, 1_000_000_000)
  t.match(await compareTrees(original, copy), [/^Mtime differs at "docs\/readme.txt"/])
  t.same(await compareTrees(original, copy, { checkMtime: false }), [])
  if (process.getuid?.() !== 0) return
  await chown(path.join(copy, 'docs/notes-1.txt'), 4321, 4321)
  t.match(await compareTrees(original, copy, { checkMtime: false }), [/^Owner differs at "docs\/notes-1.txt": expected 0:0, received 4321:4321$/])
  t.same(await compareTrees(original, copy, { checkMtime: false, checkOwner: false }), [])
})

t.test('mutateTree makes day-2 changes', async (t) => {
  const copy = await copyOfOriginal()
  await mutateTree(copy, manifest, 3)
  const diffs = await compareTrees(original, copy)
  t.ok(diffs.some((line) => line.startsWith(`Content differs at "${manifest.largeFile}"`)), 'large file patched', { diffs })
  t.equal((await lstat(path.join(copy, manifest.largeFile))).size, manifest.largeFileBytes, 'large file keeps its size')
  t.ok(diffs.some((line) => line.startsWith('Size differs at "docs/')), 'a text file grew', { diffs })
  t.equal(diffs.filter((line) => line.startsWith('Missing entry in actual: "docs/')).length, 2, 'one deleted, one moved')
  t.equal(diffs.filter((line) => line.startsWith('Extra entry in actual: "a/b/')).length, 2, 'one moved, one added')
})
