/**
 * Restore must never write outside its target, whatever the tree records or the target directory contain, and a
 * corrupted chunk fails only the file it belongs to.
 */
import { createCipheriv } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, symlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import t from 'tap'
import { FakeClock } from '../src/core/clock.js'
import { LocalStore } from '../src/node/local-store.js'
import { ENTRY_HEADER_BYTES, EntryType, scanPack } from '../src/node/pack-format.js'
import { objectKey } from '../src/node/store-layout.js'
import { envelopeHeader, ObjectKind } from '../src/protocol/object-envelope.js'
import { randomBytes } from 'node:crypto'
import { planId, encodeSnapshot, emptyStats } from '../src/repo/snapshot.js'
import { sealObject, treeId } from '../src/repo/objects.js'
import { Repository } from '../src/repo/repository.js'
import { restore } from '../src/repo/restorer.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { encodeTree, type TreeNode } from '../src/repo/tree.js'
import { PASSPHRASE, runCli, TEST_KDF, tempDir } from './helpers/env.js'

function fileNode(name: string): TreeNode {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, ctimeNs: 0n, size: 0, ino: 1n, dev: 1n, nlink: 1, content: [] }
}

/** Stores a tree whose encoded name bytes were patched after encoding (the encoder itself refuses bad names). */
async function craftedSnapshot(repo: Repository, benign: string, evil: string): Promise<Uint8Array> {
  const { refs, plain } = encodeTree([fileNode(benign)])
  const at = plain.indexOf(Buffer.from(benign))
  Buffer.from(evil).copy(plain, at)
  const header = envelopeHeader(ObjectKind.TREE, refs)
  const id = treeId(repo.keys, header, plain)
  await repo.store.put(id, sealObject(repo.keys, id, header, plain).envelope)
  await repo.store.flush()
  const snapId = randomBytes(32)
  const snapHeader = { createdAt: 1, mode: 'full' as const, rootTree: id, planId: planId(repo.keys, 'p'), fileCount: 1, logicalBytes: 0, addedBytes: 0, deviceName: 'd' }
  const body = { version: 1, plan: 'p', paths: ['/'], hostname: 'h', username: 'u', parent: null, startedAt: 0, finishedAt: 1, stats: emptyStats(), warnings: [], warningCount: 0 }
  await repo.store.commitSnapshot(snapId, encodeSnapshot(repo.keys, snapId, snapHeader, body))
  return snapId
}

t.test('a crafted tree with a traversal name is refused and nothing is written', async (t) => {
  const dir = tempDir(t)
  const store = await LocalStore.open(join(dir, 'repo'), { create: true })
  t.teardown(() => store.close())
  const repo = await Repository.init(store, PASSPHRASE, { clock: new FakeClock(0), kdf: TEST_KDF })
  const pool = new SealPool(repo.keys, { threads: 0 })
  for (const [benign, evil] of [['xx', '..'], ['abc', 'a/b'], ['x', '.'], ['ab', 'a\0']]) {
    const target = join(dir, `target-${benign}`)
    await craftedSnapshot(repo, benign, evil)
    const snapshot = (await repo.listSnapshots())[0]
    await t.rejects(restore(repo, snapshot, { target, pool }), { code: 'UNSAFE_PATH' }, `name ${JSON.stringify(evil)} refused`)
    t.same(existsSync(target) ? readdirSync(target) : [], [], 'nothing written into the target')
  }
  t.same(readdirSync(dir), ['repo'], 'nothing written beside the target: the tree is refused before the target is made')
})

t.test('a symlink planted in the target is never followed', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  const outside = join(dir, 'outside')
  mkdirSync(join(data, 'docs'), { recursive: true })
  mkdirSync(outside)
  writeFileSync(join(data, 'docs', 'a.txt'), 'content')
  t.equal((await runCli(['init', '--repo', repo])).code, 0)
  const backed = await runCli(['backup', '--repo', repo, '--plan', 'p', data])
  t.equal(backed.code, 0, backed.stderr)
  for (const overwrite of [false, true]) {
    const target = join(dir, `t-${overwrite}`)
    mkdirSync(join(target, data), { recursive: true })
    symlinkSync(outside, join(target, data, 'docs'))
    const r = await runCli(['restore', '--repo', repo, 'latest', '--target', target, ...(overwrite ? ['--overwrite'] : [])])
    t.equal(r.code, 0, r.stderr)
    t.same(readdirSync(outside), [], `nothing written through the symlink (overwrite ${overwrite})`)
    if (overwrite) t.equal(readFileSync(join(target, data, 'docs', 'a.txt'), 'utf8'), 'content', 'symlink replaced by the directory')
    else t.match(r.stderr, /docs.*exists \(use --overwrite/)
  }
})

t.test('a corrupted chunk fails its file only; check --read-data finds it', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(data)
  const big = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), Buffer.alloc(16)).update(Buffer.alloc(300_000))
  writeFileSync(join(data, 'victim.bin'), big)
  writeFileSync(join(data, 'fine-1.txt'), 'first fine file')
  writeFileSync(join(data, 'fine-2.txt'), 'second fine file')
  t.equal((await runCli(['init', '--repo', repo])).code, 0)
  t.equal((await runCli(['backup', '--repo', repo, '--plan', 'p', data])).code, 0)

  // the largest object entry is the victim's chunk: flip one byte in the middle of its body
  const packsDir = join(repo, 'packs')
  const packs = readdirSync(packsDir).flatMap((g) => readdirSync(join(packsDir, g)).map((f) => join(packsDir, g, f)))
  const entries = packs.flatMap((path) => scanPack(path).entries.filter((e) => e.type === EntryType.OBJECT).map((e) => ({ path, e })))
  const victim = entries.reduce((a, b) => (b.e.bodyLength > a.e.bodyLength ? b : a))
  t.ok(victim.e.bodyLength > 250_000, 'found the big chunk')
  const fd = openSync(victim.path, 'r+')
  const pos = victim.e.offset + ENTRY_HEADER_BYTES + Math.floor(victim.e.bodyLength / 2)
  const b = Buffer.alloc(1)
  readSync(fd, b, 0, 1, pos)
  b[0] ^= 0x40
  writeSync(fd, b, 0, 1, pos)
  closeSync(fd)

  const check = await runCli(['check', '--repo', repo, '--read-data'])
  t.equal(check.code, 4, 'check --read-data fails')
  t.match(check.stderr, /authentication tag does not match/)
  const structural = await runCli(['check', '--repo', repo])
  t.equal(structural.code, 0, 'structure alone is intact')

  const target = join(dir, 'out')
  const r = await runCli(['restore', '--repo', repo, 'latest', '--target', target])
  t.equal(r.code, 4, 'restore reports the failure')
  t.match(r.stderr, /error: ".*victim\.bin": chunk 0 /)
  t.equal(readFileSync(join(target, data, 'fine-1.txt'), 'utf8'), 'first fine file', 'other files restored')
  t.equal(readFileSync(join(target, data, 'fine-2.txt'), 'utf8'), 'second fine file', 'other files restored')
})

t.test('a chunk gone from the index: check names it, with and without --read-data', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(data)
  // several chunks in several files, so the lost one is one among many looked up together
  for (let i = 0; i < 6; i++) {
    writeFileSync(join(data, `f${i}.bin`), createCipheriv('aes-256-ctr', Buffer.alloc(32, i + 1), Buffer.alloc(16)).update(Buffer.alloc(20_000)))
  }
  t.equal((await runCli(['init', '--repo', repo])).code, 0)
  t.equal((await runCli(['backup', '--repo', repo, '--plan', 'p', data])).code, 0)
  t.equal((await runCli(['check', '--repo', repo, '--read-data'])).code, 0, 'intact before')

  const packsDir = join(repo, 'packs')
  const packs = readdirSync(packsDir).flatMap((g) => readdirSync(join(packsDir, g)).map((f) => join(packsDir, g, f)))
  const chunks = packs.flatMap((path) => scanPack(path).entries.filter((e) => e.type === EntryType.OBJECT && e.bodyLength > 19_000))
  t.equal(chunks.length, 6, 'one chunk per file')
  const lost = chunks[3].id
  const db = new Level<Buffer, Buffer>(join(repo, 'index'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.del(objectKey(lost))
  await db.close()

  for (const args of [[], ['--read-data']]) {
    const check = await runCli(['check', '--repo', repo, ...args])
    t.equal(check.code, 4, `check ${args.join(' ')} fails`)
    t.match(check.stderr, new RegExp(`${Buffer.from(lost).toString('hex')}: chunk missing from the store`), 'names the chunk')
    t.equal(check.stderr.match(/missing from the store/g)?.length, 1, 'and no other')
  }
})
