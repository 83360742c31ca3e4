/**
 * SubtreePrefetch: the subtrees of a directory are loaded a bounded window ahead of the visit, in order; a visit
 * gets exactly its own subtree; entries without a subtree and skipped entries are handled; a failed load surfaces
 * only where it is visited; TreeReadAhead starts the subtrees of every tree that arrives, within its bound. Runs over
 * a real embedded vault holding a real backup.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { systemClock } from '../src/core/clock.js'
import { toHex } from '../src/core/hex.js'
import { LocalStore } from '../src/node/local-store.js'
import { backup } from '../src/repo/archiver.js'
import { Repository } from '../src/repo/repository.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { SubtreePrefetch, TreeReadAhead } from '../src/repo/subtree-prefetch.js'
import type { TreeNode } from '../src/repo/tree.js'
import { PASSPHRASE, tempDir, TEST_KDF } from './helpers/env.js'

/** A real vault in `dir` holding one full backup of `source`, and the entries of `source` in it. */
async function backedUp(t: Test, dir: string, source: string): Promise<{ repo: Repository; nodes: TreeNode[] }> {
  const store = await LocalStore.open(join(dir, 'vault'), { create: true })
  t.teardown(() => store.close())
  const repo = await Repository.init(store, PASSPHRASE, { clock: systemClock, kdf: TEST_KDF })
  const { snapshot } = await backup(repo, { plan: 'p', paths: [source], mode: 'full', clock: systemClock, pool: new SealPool(repo.keys, { threads: 0 }) })
  // walk down to the backed-up directory's entries
  let nodes = await repo.loadTree(snapshot.header.rootTree)
  for (const part of source.split('/').filter((x) => x !== '')) nodes = await repo.loadTree(nodes.find((n) => n.name === part)!.subtree!)
  return { repo, nodes }
}

t.test('subtrees load a window of 64 ahead, in order, each visit gets its own tree', async (t) => {
  const dir = tempDir(t)
  const source = join(dir, 'src')
  const names = Array.from({ length: 150 }, (_, i) => `d${String(i).padStart(3, '0')}`)
  for (const n of names) {
    mkdirSync(join(source, n), { recursive: true })
    writeFileSync(join(source, n, `${n}.txt`), `file of ${n}`)
  }
  writeFileSync(join(source, 'plain.txt'), 'not a directory')
  const { repo, nodes } = await backedUp(t, dir, source)
  t.equal(nodes.length, 151, 'the directory holds 150 subdirectories and a file')

  // count the loads the prefetcher starts, through the real repository
  const asked: string[] = []
  const original = repo.loadTree.bind(repo)
  repo.loadTree = (id: Uint8Array): Promise<TreeNode[]> => {
    asked.push(toHex(id))
    return original(id)
  }
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const prefetch = new SubtreePrefetch(repo, nodes)
  t.equal(prefetch.load('plain.txt'), undefined, 'a file has no subtree to load')
  t.equal(asked.length, 0, 'and asking for it starts nothing')
  const first = await prefetch.load('d000')
  t.same(first?.map((n) => n.name), ['d000.txt'], 'the first visit gets its own tree')
  t.equal(asked.length, 64, 'and starts the loads of the first 64 subdirectories')
  t.same(asked, names.slice(0, 64).map((n) => toHex(byName.get(n)!.subtree!)), 'in order')
  const tenth = await prefetch.load('d010')
  t.same(tenth?.map((n) => n.name), ['d010.txt'], 'a later visit (some skipped) gets its own tree')
  t.equal(asked.length, 74, 'the window moves: the visited one and the 63 after it are started')
  for (const n of names.slice(11)) {
    const tree = await prefetch.load(n)
    if (tree?.[0]?.name !== `${n}.txt`) t.fail(`visit ${n} got ${tree?.map((x) => x.name).join(',')}`)
  }
  t.equal(asked.length, 150, 'every subtree is loaded exactly once')
  t.same((await prefetch.load('d005'))?.map((n) => n.name), ['d005.txt'], 'a subtree passed over is loaded again when asked')
  t.equal(asked.length, 151, 'by one more load')
})

t.test('a subtree that fails to load fails only its own visit', async (t) => {
  const dir = tempDir(t)
  const source = join(dir, 'src')
  for (const n of ['a', 'b', 'c']) {
    mkdirSync(join(source, n), { recursive: true })
    writeFileSync(join(source, n, 'f'), n)
  }
  const { repo, nodes } = await backedUp(t, dir, source)
  const broken = toHex(nodes.find((n) => n.name === 'b')!.subtree!)
  const original = repo.loadTree.bind(repo)
  repo.loadTree = (id: Uint8Array): Promise<TreeNode[]> => (toHex(id) === broken ? Promise.reject(new Error('tree b is damaged')) : original(id))
  const prefetch = new SubtreePrefetch(repo, nodes)
  t.same((await prefetch.load('a'))?.map((n) => n.name), ['f'], 'a loads')
  await t.rejects(prefetch.load('b')!, /tree b is damaged/, "b's visit gets b's error")
  t.same((await prefetch.load('c'))?.map((n) => n.name), ['f'], 'c still loads')
})

t.test('TreeReadAhead: the subtrees of every tree that arrives start loading, each taken once, at most 256 held', async (t) => {
  const dir = tempDir(t)
  const source = join(dir, 'src')
  // a chain a/b/c/d/e and 300 siblings under wide/, each with a file (so their trees differ)
  mkdirSync(join(source, 'a/b/c/d/e'), { recursive: true })
  writeFileSync(join(source, 'a/b/c/d/e/leaf'), 'leaf')
  for (let i = 0; i < 300; i++) {
    mkdirSync(join(source, 'wide', `w${i}`), { recursive: true })
    writeFileSync(join(source, 'wide', `w${i}`, 'f'), `file ${i}`)
  }
  const { repo, nodes } = await backedUp(t, dir, source)
  const asked: string[] = []
  const original = repo.loadTree.bind(repo)
  repo.loadTree = (id: Uint8Array): Promise<TreeNode[]> => {
    asked.push(toHex(id))
    return original(id)
  }
  const ahead = new TreeReadAhead(repo)
  const a = nodes.find((n) => n.name === 'a')!
  // a tree's subtrees are started when it arrives, before the caller's await returns
  let walked = await ahead.loadTree(a.subtree!)
  for (let depth = 0; depth < 4; depth++) {
    const next = walked.find((n) => n.type === 'dir')!
    t.ok(asked.includes(toHex(next.subtree!)), `${next.name} was started before the walk asked for it`)
    walked = await ahead.loadTree(next.subtree!)
  }
  t.same(walked.map((n) => n.name), ['leaf'], 'the walk gets the right trees')
  t.equal(asked.length, 5, 'a, b, c, d and e, each loaded once')
  const before = asked.length

  const wide = nodes.find((n) => n.name === 'wide')!
  const wideTree = await ahead.loadTree(wide.subtree!)
  t.equal(asked.length - before - 1, 256, 'of 300 subtrees, 256 are loaded ahead')
  for (const n of wideTree) {
    const tree = await ahead.loadTree(n.subtree!)
    if (tree[0]?.name !== 'f') t.fail(`${n.name} got ${tree.map((x) => x.name).join(',')}`)
  }
  t.equal(asked.length - before - 1, 300, 'and the other 44 when asked: every tree loaded once')
})
