/**
 * Extended attributes and POSIX ACLs: recorded at backup, restored with the file, a change of attributes alone
 * seen by an incremental run (it moves ctime), older snapshots keep the old values, and a target file system
 * without extended attributes gets one clear error while the data is still restored.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { listXattrs, setXattr } from '../src/core/native-addon.js'
import { compareTrees } from './helpers/compare-trees.js'
import { runCli, tempDir } from './helpers/env.js'

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args)
  if (r.code !== 0) throw new Error(`arca ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

const xattrsOf = (path: string): Record<string, string> =>
  Object.fromEntries(listXattrs(path).map(([name, value]) => [name.toString('utf8'), value.toString('utf8')]))

t.test('attributes are backed up, restored, and a change of attributes alone makes a new version', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(join(data, 'sub'), { recursive: true })
  writeFileSync(join(data, 'a.txt'), 'content of a\n')
  writeFileSync(join(data, 'sub', 'b.txt'), 'content of b\n')
  setXattr(join(data, 'a.txt'), 'user.color', Buffer.from('blue'))
  setXattr(join(data, 'a.txt'), 'user.Z-last', Buffer.from('sorted by bytes: Z before c'))
  setXattr(join(data, 'sub'), 'user.dir', Buffer.from('on a directory'))

  await ok(['init', '--repo', repo])
  await ok(['backup', '--repo', repo, '--plan', 'p', data])
  const listing = (await ok(['ls', '--repo', repo, 'latest', data, '--json'])).trim().split('\n').map((l) => JSON.parse(l))
  const byPath = Object.fromEntries(listing.map((e: { path: string }) => [e.path.slice(data.length), e]))
  t.strictSame(byPath['/a.txt'].xattrs, ['user.Z-last', 'user.color'], 'ls --json lists attribute names in byte order')
  t.strictSame(byPath['/sub'].xattrs, ['user.dir'])
  t.equal(byPath['/sub/b.txt'].xattrs, undefined, 'no attributes, no field')

  const ctimeBefore = statSync(join(data, 'a.txt')).ctimeMs
  setXattr(join(data, 'a.txt'), 'user.color', Buffer.from('red'))
  setXattr(join(data, 'sub'), 'user.dir', Buffer.from('changed on the directory only'))
  t.ok(statSync(join(data, 'a.txt')).ctimeMs >= ctimeBefore, 'setting an attribute moves ctime only')
  const second = JSON.parse(await ok(['backup', '--repo', repo, '--plan', 'p', '--json', data]))
  t.equal(second.mode, 'incremental')
  t.equal(second.stats.filesChanged, 1, 'the file whose attribute changed is read again')
  t.equal(second.stats.filesUnchanged, 1)

  const latest = join(dir, 'latest')
  await ok(['restore', '--repo', repo, 'latest', '--target', latest])
  t.strictSame(await compareTrees(data, join(latest, data)), [], 'restored tree equals the original, attributes included')
  t.strictSame(xattrsOf(join(latest, data, 'a.txt')), { 'user.Z-last': 'sorted by bytes: Z before c', 'user.color': 'red' })
  t.strictSame(xattrsOf(join(latest, data, 'sub')), { 'user.dir': 'changed on the directory only' }, 'a directory whose attribute alone changed')

  const list = JSON.parse(await ok(['snapshots', '--repo', repo, '--json']))
  const first = join(dir, 'first')
  await ok(['restore', '--repo', repo, list[list.length - 1].id, '--target', first])
  t.equal(xattrsOf(join(first, data, 'a.txt'))['user.color'], 'blue', 'the first snapshot keeps the old value')
  t.equal(xattrsOf(join(first, data, 'sub'))['user.dir'], 'on a directory')
})

t.test('a target file system without extended attributes: one error, data restored', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a ramfs needs root')
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(data)
  for (const name of ['one', 'two', 'three']) {
    writeFileSync(join(data, name), `file ${name}\n`)
    setXattr(join(data, name), 'user.name', Buffer.from(name))
  }
  await ok(['init', '--repo', repo])
  await ok(['backup', '--repo', repo, '--plan', 'p', data])
  const mnt = join(dir, 'ramfs')
  mkdirSync(mnt)
  try {
    execFileSync('mount', ['-t', 'ramfs', 'ramfs', mnt])
  } catch (err) {
    return t.skip(`cannot mount a ramfs here: ${(err as Error).message}`)
  }
  t.teardown(() => execFileSync('umount', [mnt]))
  const r = await runCli(['restore', '--repo', repo, 'latest', '--target', mnt])
  t.equal(r.code, 4, 'the restore reports failure')
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'))
  t.equal(errors.length, 1, 'reported once, not per file')
  t.match(errors[0], /extended attributes not restored here nor anywhere after: the target file system does not support them/)
  for (const name of ['one', 'two', 'three']) t.equal(readFileSync(join(mnt, data, name), 'utf8'), `file ${name}\n`, `${name} restored`)
})
