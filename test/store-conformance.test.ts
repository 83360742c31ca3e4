/**
 * Runs the store conformance suite (test/helpers/store-conformance.ts) against every Store backend: the in-memory
 * MemoryStore and the embedded LocalStore (LevelDB in a temp dir, closed and reopened for the durability checks).
 */
import t from 'tap'
import { LocalStore } from '../src/node/local-store.js'
import { MemoryStore } from '../src/node/memory-store.js'
import { storeConformance } from './helpers/store-conformance.js'

await storeConformance(t, 'MemoryStore', async () => ({ store: new MemoryStore() }))

await storeConformance(t, 'LocalStore', async (dir) => ({
  store: await LocalStore.open(dir, { create: true }),
  reopen: () => LocalStore.open(dir),
}))

await storeConformance(t, 'LocalStore with tiny packs and auto-flush', async (dir) => {
  const options = { packTargetBytes: 16 * 1024, autoFlushBytes: 8 * 1024 }
  return { store: await LocalStore.open(dir, { create: true, ...options }), reopen: () => LocalStore.open(dir, options) }
})
