/**
 * The archiver's read window follows the vault's chunker: a vault whose largest chunk is bigger than the default
 * window (a config the format allows, up to 256 MiB) still backs up and restores, with chunks of that size.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { systemClock } from '../src/core/clock.js'
import type { Store } from '../src/protocol/store.js'
import { LocalStore } from '../src/node/local-store.js'
import { backup } from '../src/repo/archiver.js'
import { Repository } from '../src/repo/repository.js'
import { restore } from '../src/repo/restorer.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { decodeVaultConfig, encodeVaultConfig } from '../src/repo/vault-config.js'
import { PASSPHRASE, tempDir, TEST_KDF } from './helpers/env.js'

const MiB = 1024 * 1024

t.test('a vault whose largest chunk exceeds the default 10 MiB window backs up and restores', async (t) => {
  const dir = tempDir(t)
  const store = await LocalStore.open(join(dir, 'vault'), { create: true })
  t.teardown(() => store.close())
  const created = await Repository.init(store, PASSPHRASE, { clock: systemClock, kdf: TEST_KDF })
  // the same vault with a chunker of up to 20 MiB (the config is authenticated, so it is re-encoded with the key)
  const config = decodeVaultConfig((await store.readConfig())!)
  const wide = encodeVaultConfig({ ...config, fileChunker: { minBytes: 1 * MiB, avgBytes: 4 * MiB, maxBytes: 20 * MiB } }, created.keys.configMacKey)
  const widened: Store = Object.create(store, { readConfig: { value: async () => wide } })
  const repo = await Repository.open(widened, { passphrase: PASSPHRASE })
  t.equal(repo.config.fileChunker.maxBytes, 20 * MiB)

  const source = join(dir, 'src')
  mkdirSync(source)
  // zeros have no content-defined cut: the chunker cuts them at its largest chunk
  const data = Buffer.alloc(45 * MiB)
  data.write('start', 0)
  data.write('middle', 22 * MiB)
  data.write('end', data.length - 3)
  writeFileSync(join(source, 'big.bin'), data)
  const pool = new SealPool(repo.keys)
  t.teardown(() => pool.close())
  const { snapshot } = await backup(repo, { plan: 'p', paths: [source], mode: 'full', clock: systemClock, pool })
  let nodes = await repo.loadTree(snapshot.header.rootTree)
  for (const part of source.split('/').filter((x) => x !== '')) nodes = await repo.loadTree(nodes.find((n) => n.name === part)!.subtree!)
  const lengths = nodes.find((n) => n.name === 'big.bin')!.content!.map((c) => c.length)
  t.same(lengths, [20 * MiB, 20 * MiB, 5 * MiB], 'cut at the vault\'s 20 MiB, not at the window')

  const target = join(dir, 'target')
  await restore(repo, snapshot, { target, pool })
  t.equal(Buffer.compare(readFileSync(join(target, source, 'big.bin')), data), 0, 'restored byte for byte')
})
