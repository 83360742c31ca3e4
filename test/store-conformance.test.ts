/**
 * Runs the store conformance suite (test/helpers/store-conformance.ts) against every Store backend: the in-memory
 * MemoryStore, the embedded LocalStore (LevelDB in a temp dir, closed and reopened for the durability checks) and
 * the RemoteStore over the protocol to a real node on 127.0.0.1.
 */
import t from 'tap'
import { LocalStore } from '../src/node/local-store.js'
import { MemoryStore } from '../src/node/memory-store.js'
import type { RemoteStore } from '../src/agent/remote-store.js'
import type { Store } from '../src/protocol/store.js'
import { storeConformance } from './helpers/store-conformance.js'
import { connectRemote, pairTestDevice, startTestNode, type TestDevice, type TestNode } from './helpers/test-node.js'

await storeConformance(t, 'MemoryStore', async () => ({ store: new MemoryStore() }))

await storeConformance(t, 'LocalStore', async (dir) => ({
  store: await LocalStore.open(dir, { create: true }),
  reopen: () => LocalStore.open(dir),
}))

await storeConformance(t, 'LocalStore with tiny packs and auto-flush', async (dir) => {
  const options = { packTargetBytes: 16 * 1024, autoFlushBytes: 8 * 1024 }
  return { store: await LocalStore.open(dir, { create: true, ...options }), reopen: () => LocalStore.open(dir, options) }
})

await storeConformance(t, 'RemoteStore over TCP + Noise to a node (reopen restarts the node)', async (dir) => {
  const start = async (): Promise<{ store: RemoteStore; node: TestNode }> => {
    const node = await startTestNode(dir)
    device ??= await pairTestDevice(node, 'conformance', 'device-1')
    const store = await connectRemote(device, { address: node.address })
    return { store, node }
  }
  let device: TestDevice | undefined
  const closing = (opened: { store: RemoteStore; node: TestNode }): Store => {
    const store = opened.store
    const close = store.close.bind(store)
    store.close = async () => {
      try {
        await close()
      } finally {
        await opened.node.close()
      }
    }
    return store
  }
  return { store: closing(await start()), reopen: async () => closing(await start()) }
})
