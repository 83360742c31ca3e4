/**
 * UploadQueue bounds: however small the chunks, at most MAX_UNSTORED_CHUNKS are between submit and stored (each
 * holds a promise chain and a put on the main thread). Runs a real backup of many small files into a real
 * embedded vault whose puts are held back, and counts the puts waiting at once.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { systemClock } from '../src/core/clock.js'
import { LocalStore } from '../src/node/local-store.js'
import { backup } from '../src/repo/archiver.js'
import { restore } from '../src/repo/restorer.js'
import { Repository } from '../src/repo/repository.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { MAX_UNSTORED_CHUNKS } from '../src/repo/upload-queue.js'
import { compareTrees } from './helpers/compare-trees.js'
import { PASSPHRASE, tempDir, TEST_KDF } from './helpers/env.js'

t.test('many small files: at most MAX_UNSTORED_CHUNKS chunks wait for their put at once', async (t) => {
  const dir = tempDir(t)
  const source = join(dir, 'src')
  const fileCount = 3 * MAX_UNSTORED_CHUNKS
  for (let d = 0; d < 6; d++) {
    mkdirSync(join(source, `d${d}`), { recursive: true })
    for (let i = 0; i < fileCount / 6; i++) writeFileSync(join(source, `d${d}`, `f${i}.txt`), `small file ${d}/${i}\n`.repeat(1 + (i % 7)))
  }
  const store = await LocalStore.open(join(dir, 'vault'), { create: true })
  t.teardown(() => store.close())
  const repo = await Repository.init(store, PASSPHRASE, { clock: systemClock, kdf: TEST_KDF })

  // every put waits 20 ms before reaching the real store, so chunks pile up unless the queue stops them
  let waiting = 0
  let mostWaiting = 0
  const put = store.put.bind(store)
  store.put = async (id: Uint8Array, envelope: Uint8Array): Promise<void> => {
    waiting++
    mostWaiting = Math.max(mostWaiting, waiting)
    try {
      await new Promise((resolve) => setTimeout(resolve, 20))
      await put(id, envelope)
    } finally {
      waiting--
    }
  }
  const pool = new SealPool(repo.keys, { threads: 0 })
  const { snapshot, stats } = await backup(repo, { plan: 'p', paths: [source], mode: 'full', clock: systemClock, pool })
  t.equal(stats.filesNew, fileCount, 'every file was read')
  t.ok(mostWaiting <= MAX_UNSTORED_CHUNKS + 8, `at most ${MAX_UNSTORED_CHUNKS} chunks (plus trees) waited at once; saw ${mostWaiting}`)
  t.ok(mostWaiting >= MAX_UNSTORED_CHUNKS / 2, `the puts did overlap (${mostWaiting} at once), so the bound was exercised`)

  const target = join(dir, 'restored')
  await restore(repo, snapshot, { target, pool })
  const diffs = await compareTrees(source, join(target, ...source.split('/').filter((p) => p !== '')))
  t.same(diffs, [], 'the snapshot restores identical')
})
