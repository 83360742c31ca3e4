/**
 * Several devices back up into one vault at the same time through one node: every snapshot commits, data shared
 * between the devices is stored (and counted against the quota) once, the vault checks clean with --read-data,
 * and each device's snapshot restores identical.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { systemClock } from '../src/core/clock.js'
import { backup } from '../src/repo/archiver.js'
import { check } from '../src/repo/checker.js'
import { Repository } from '../src/repo/repository.js'
import { restore } from '../src/repo/restorer.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { compareTrees } from './helpers/compare-trees.js'
import { pseudoRandom } from './helpers/rng.js'
import { PASSPHRASE, tempDir, TEST_KDF } from './helpers/env.js'
import { connectRemote, pairTestDevice, startTestNode } from './helpers/test-node.js'

const MIB = 1024 * 1024
const DEVICES = 3


t.test('three devices back up into one vault at once', async (t) => {
  const dir = tempDir(t)
  const node = await startTestNode(join(dir, 'node'))
  t.teardown(() => node.close())
  const sources: string[] = []
  for (let d = 0; d < DEVICES; d++) {
    const src = join(dir, `src-${d}`)
    mkdirSync(join(src, 'shared'), { recursive: true })
    // the same 6 MiB on every device (a shared installer, say), and 2 MiB of its own
    for (let i = 0; i < 3; i++) writeFileSync(join(src, 'shared', `common-${i}.bin`), pseudoRandom(50 + i, 2 * MIB))
    writeFileSync(join(src, `own-${d}.bin`), pseudoRandom(d + 1, 2 * MIB))
    sources.push(src)
  }

  const repos: Repository[] = []
  const pools: SealPool[] = []
  for (let d = 0; d < DEVICES; d++) {
    const device = await pairTestDevice(node, 'team', `device-${d}`)
    const store = await connectRemote(device)
    t.teardown(() => store.close())
    const repo = d === 0 ? await Repository.init(store, PASSPHRASE, { clock: systemClock, kdf: TEST_KDF }) : await Repository.open(store, { passphrase: PASSPHRASE })
    const pool = new SealPool(repo.keys, { zstdLevel: repo.config.zstdLevel })
    t.teardown(() => pool.close())
    repos.push(repo)
    pools.push(pool)
  }

  const results = await Promise.all(repos.map((repo, d) => backup(repo, { plan: 'docs', paths: [sources[d]], mode: 'incremental', clock: systemClock, pool: pools[d], deviceName: `device-${d}` })))
  t.same(results.map((r) => r.stats.filesNew), [4, 4, 4], 'every device backed up its 4 files')
  const snapshots = await repos[0].listSnapshots()
  t.same(snapshots.map((s) => s.header.deviceName).sort(), ['device-0', 'device-1', 'device-2'], 'three snapshots committed')

  const vault = await node.service.vault('team')
  const used = vault.store.usedBytes
  t.ok(used > (6 + DEVICES * 2) * MIB, `the vault holds at least the unique data (${(used / MIB).toFixed(2)} MiB)`)
  t.ok(used < (6 + DEVICES * 2) * MIB * 1.05, 'and the shared data once, not three times')

  const report = await check(repos[1], { readData: true, pool: pools[1] })
  t.same(report.problems, [], 'check --read-data finds nothing wrong')
  for (let d = 0; d < DEVICES; d++) {
    const snap = snapshots.find((s) => s.header.deviceName === `device-${d}`)!
    const out = join(dir, `restored-${d}`)
    await restore(repos[(d + 1) % DEVICES], snap, { target: out, pool: pools[(d + 1) % DEVICES] })
    t.same(await compareTrees(sources[d], join(out, sources[d])), [], `device-${d}'s snapshot restores identical from another device`)
  }
})
