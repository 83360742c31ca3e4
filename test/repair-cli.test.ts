/**
 * arca repair through the CLI: a store whose index is lost refuses to open (and deletes nothing); repair rebuilds
 * the index from the packs and every snapshot reads back.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { compareTrees } from './helpers/compare-trees.js'
import { runCli, tempDir } from './helpers/env.js'

t.test('lost index: refused, repaired, everything back', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  const repo = join(dir, 'repo')
  mkdirSync(join(data, 'sub'), { recursive: true })
  for (let i = 0; i < 20; i++) writeFileSync(join(data, 'sub', `f${i}.txt`), `file ${i} `.repeat(100 + i))
  t.equal((await runCli(['init', '--repo', repo])).code, 0)
  for (const plan of ['a', 'b']) {
    const r = await runCli(['backup', '--repo', repo, '--plan', plan, data])
    t.equal(r.code, 0, r.stderr)
  }
  const before = JSON.parse((await runCli(['snapshots', '--repo', repo, '--json'])).stdout)
  t.equal(before.length, 2)

  rmSync(join(repo, 'index'), { recursive: true })
  const refused = await runCli(['snapshots', '--repo', repo])
  t.equal(refused.code, 4)
  t.match(refused.stderr, /the index is damaged or missing; run arca repair --repo /)

  rmSync(join(repo, 'index'), { recursive: true, force: true })
  const repaired = await runCli(['repair', '--repo', repo, '--json'])
  t.equal(repaired.code, 0, repaired.stderr)
  const report = JSON.parse(repaired.stdout)
  t.equal(report.snapshots, 2)
  t.equal(report.keySlots, 1)
  t.equal(report.truncatedBytes, 0)

  const after = JSON.parse((await runCli(['snapshots', '--repo', repo, '--json'])).stdout)
  t.same(after.map((s: { id: string }) => s.id).sort(), before.map((s: { id: string }) => s.id).sort())
  const check = await runCli(['check', '--repo', repo, '--read-data'])
  t.equal(check.code, 0, check.stderr)
  const target = join(dir, 'out')
  const restored = await runCli(['restore', '--repo', repo, 'latest', '--target', target])
  t.equal(restored.code, 0, restored.stderr)
  t.same(await compareTrees(data, join(target, data)), [])
})
