/**
 * The directory scanner: the native scan lists a directory sorted by name bytes with lstat fields; the scanner's
 * head start and prefetches hand back the same scans the walk would make, skip what the walk will not enter, and a
 * directory that cannot be read rejects only when taken.
 */
import { chmodSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { scanDir, scanDirAsync, ScanField, SCAN_FIELDS } from '../src/core/native-addon.js'
import { DirScanner } from '../src/repo/dir-scanner.js'
import { tempDir } from './helpers/env.js'

t.test('scanDir: sorted names, lstat fields, symlinks not followed, errors like node:fs', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'b.txt'), 'twelve bytes')
  writeFileSync(join(dir, 'B.txt'), '')
  writeFileSync(join(dir, 'é.txt'), '')
  mkdirSync(join(dir, 'a-dir'))
  symlinkSync('b.txt', join(dir, 'link'))
  const scan = scanDir(dir)
  t.strictSame(scan.names, ['B.txt', 'a-dir', 'b.txt', 'link', 'é.txt'], 'byte order, no . or ..')
  t.strictSame([...scan.errors], [0, 0, 0, 0, 0])
  scan.names.forEach((name, i) => {
    const st = lstatSync(join(dir, name), { bigint: true })
    const f = (field: number): bigint => scan.stats[i * SCAN_FIELDS + field]
    t.strictSame(
      [f(ScanField.MODE), f(ScanField.UID), f(ScanField.GID), f(ScanField.SIZE), f(ScanField.MTIME_NS), f(ScanField.CTIME_NS),
        BigInt.asUintN(64, f(ScanField.INO)), BigInt.asUintN(64, f(ScanField.DEV)), f(ScanField.NLINK)],
      [st.mode, st.uid, st.gid, st.size, st.mtimeNs, st.ctimeNs, st.ino, st.dev, st.nlink],
      `lstat fields of ${name}`,
    )
  })
  const async = await scanDirAsync(dir)
  t.strictSame(async.names, scan.names)
  t.ok(Buffer.from(async.stats.buffer).equals(Buffer.from(scan.stats.buffer)), 'the async scan gives the same fields')
  t.throws(() => scanDir(join(dir, 'missing')), { code: 'ENOENT', syscall: 'opendir', message: /^ENOENT: No such file or directory, opendir '.*missing'$/ })
  t.throws(() => scanDir(join(dir, 'b.txt')), { code: 'ENOTDIR' })
  await t.rejects(scanDirAsync(join(dir, 'missing')), { code: 'ENOENT' })
  t.throws(() => scanDir(7 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
})

t.test('DirScanner: the head start covers the walk, skips excluded directories, and rejections wait for take', async (t) => {
  const root = tempDir(t)
  for (const d of ['a', 'a/deep', 'b', 'skip-me', 'skip-me/inside', 'locked']) mkdirSync(join(root, d))
  writeFileSync(join(root, 'a/deep/file'), 'x')
  chmodSync(join(root, 'locked'), 0o000)
  const scanner = new DirScanner()
  const seen: string[] = []
  let reachedDeep!: () => void
  const deepOffered = new Promise<void>((resolve) => (reachedDeep = resolve))
  scanner.warm([root], (path, name) => {
    seen.push(path)
    if (path === join(root, 'a/deep')) reachedDeep()
    return name !== 'skip-me'
  })
  // the head start runs on libuv threads: the deepest directory is offered once its parent's scan is back
  await deepOffered
  t.ok(seen.includes(join(root, 'skip-me')) && !seen.includes(join(root, 'skip-me/inside')), 'an excluded directory is not entered')
  for (const d of ['', 'a', 'a/deep', 'b']) {
    const path = d === '' ? root : join(root, d)
    const taken = await scanner.take(path)
    t.strictSame(taken.names, scanDir(path).names, `scan of ${d || 'the root'}`)
  }
  scanner.stop()
  // as root, mode 000 does not stop opendir; then the locked directory simply scans empty
  if (process.getuid?.() !== 0) await t.rejects(scanner.take(join(root, 'locked')), { code: 'EACCES' }, 'the failure surfaces at take')
  t.strictSame((await scanner.take(join(root, 'a/deep'))).names, ['file'], 'a second take scans again')
  const prefetcher = new DirScanner()
  prefetcher.prefetch(root, scanDir(root), () => true)
  t.strictSame((await prefetcher.take(join(root, 'b'))).names, [], 'a prefetched subdirectory')
  await t.rejects(prefetcher.take(join(root, 'missing')), { code: 'ENOENT' }, 'take of a path never started scans it now')
})
