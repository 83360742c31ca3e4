/**
 * Crash safety through the real CLI: a backup killed with SIGKILL at seeded random moments leaves a store that
 * checks clean; the rerun sends only what had not arrived; the final snapshot restores identical.
 */
import { createCipheriv } from 'node:crypto'
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { compareTrees } from './helpers/compare-trees.js'
import { runCli, spawnCli, tempDir } from './helpers/env.js'

const MIB = 1024 * 1024

/** Deterministic incompressible bytes: AES-256-CTR keystream under a key made from the seed. */
function pseudoRandom(seed: number, size: number): Buffer {
  const key = Buffer.alloc(32, seed & 0xff)
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size))
}

function makeData(root: string): number {
  let total = 0
  for (let i = 0; i < 4; i++) {
    const bytes = pseudoRandom(i + 1, 20 * MIB + i * 4099)
    writeFileSync(join(root, `big-${i}.bin`), bytes)
    total += bytes.length
  }
  mkdirSync(join(root, 'small'))
  for (let i = 0; i < 300; i++) {
    const bytes = pseudoRandom(100 + i, 1000 + i * 37)
    writeFileSync(join(root, 'small', `f${i}.dat`), bytes)
    total += bytes.length
  }
  return total
}

function packBytes(repo: string): number {
  let total = 0
  const packs = join(repo, 'packs')
  for (const group of readdirSync(packs)) for (const f of readdirSync(join(packs, group))) total += statSync(join(packs, group, f)).size
  return total
}

/** Seeded xorshift32 for kill delays. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

function waitExit(child: ReturnType<typeof spawnCli>): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
}

t.test('backup killed with SIGKILL at random points, then rerun', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(data)
  const total = makeData(data)
  t.equal((await runCli(['init', '--repo', repo])).code, 0)

  // 1. a kill after the first automatic flush: the rerun must not send everything again
  const child = spawnCli(['backup', '--repo', repo, '--plan', 'crash', data])
  const exited = waitExit(child)
  let isDone = false
  void exited.then(() => (isDone = true))
  while (!isDone && packBytes(repo) < 60 * MIB) await new Promise((r) => setTimeout(r, 5))
  t.notOk(isDone, 'the backup was still running when killed')
  child.kill('SIGKILL')
  await exited
  const afterKill = await runCli(['check', '--repo', repo, '--read-data'])
  t.equal(afterKill.code, 0, `store consistent after the kill: ${afterKill.stderr}`)
  const resumed = await runCli(['backup', '--repo', repo, '--plan', 'crash', '--json', data])
  t.equal(resumed.code, 0, resumed.stderr)
  const stats = JSON.parse(resumed.stdout).stats
  t.ok(stats.bytesNew < total - 24 * MIB, `rerun sent ${stats.bytesNew} of ${total} bytes: what arrived before the kill was kept`)
  t.ok(stats.bytesNew > 0, 'rerun sent what was missing')

  // 2. kills at seeded random moments of full backups
  const next = rng(0xa5ca)
  for (let i = 0; i < 4; i++) {
    const delayMs = 50 + Math.floor(next() * 900)
    const c = spawnCli(['backup', '--repo', repo, '--plan', `crash-${i}`, '--mode', 'full', data])
    const ended = waitExit(c)
    await Promise.race([ended, new Promise((r) => setTimeout(r, delayMs))])
    c.kill('SIGKILL')
    await ended
    const check = await runCli(['check', '--repo', repo])
    t.equal(check.code, 0, `consistent after a kill at ${delayMs} ms: ${check.stderr}`)
  }

  const final = await runCli(['backup', '--repo', repo, '--plan', 'crash', data])
  t.equal(final.code, 0, final.stderr)
  const verify = await runCli(['check', '--repo', repo, '--read-data'])
  t.equal(verify.code, 0, verify.stderr)
  t.match(verify.stdout, /no errors found/)
  const target = join(dir, 'restored')
  const restored = await runCli(['restore', '--repo', repo, 'latest', '--target', target])
  t.equal(restored.code, 0, restored.stderr)
  t.same(await compareTrees(data, join(target, data)), [], 'restore identical to the data')
})
