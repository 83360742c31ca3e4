/**
 * The remote store keeps a copy of every envelope until the node has made it durable (for a replay after a node
 * restart). Puts that keep coming, many in flight as a backup sends them, must not let those copies grow without
 * bound: past 48 MiB kept, a put resolves only once a FLUSH has dropped them. And the caller's buffer is released at
 * once, its bytes free for reuse.
 */
import t from 'tap'
import { MAX_RETAINED_BYTES } from '../src/agent/remote-store.js'
import { chunk, id } from './helpers/store-conformance.js'
import { tempDir } from './helpers/env.js'
import { connectRemote, pairTestDevice, startTestNode } from './helpers/test-node.js'

const MIB = 1024 * 1024

t.test('retained copies stay bounded while puts keep coming, and every object arrives intact', async (t) => {
  const node = await startTestNode(tempDir(t))
  t.teardown(() => node.close())
  const device = await pairTestDevice(node, 'retain', 'device-1')
  const store = await connectRemote(device)
  t.teardown(() => store.close())

  const count = 96
  const inFlight = 16
  const size = MIB
  // one buffer reused for every put, as the seal pool reuses its memory once released
  const shared = Buffer.alloc(inFlight * size)
  const sent: Buffer[] = []
  let maxRetained = 0
  let released = 0
  let next = 0
  const sender = async (slot: number): Promise<void> => {
    while (next < count) {
      const i = next++
      const view = shared.subarray(slot * size, (slot + 1) * size)
      const envelope = chunk(5000 + i, size)
      envelope.copy(view)
      sent[i] = envelope
      let isReleased = false
      const put = store.put(id(`retained ${i}`), view, () => {
        isReleased = true
        released++
      })
      if (!isReleased) throw new Error(`put ${i} kept the caller's buffer`)
      await put
      maxRetained = Math.max(maxRetained, store.retainedBytes)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, (_, slot) => sender(slot)))
  t.equal(released, count, 'every put released the caller\'s buffer before returning')
  t.ok(maxRetained <= MAX_RETAINED_BYTES + inFlight * (size + 64), `retained at most ${(maxRetained / MIB).toFixed(1)} MiB of the ${(count * size) / MIB} MiB put`)
  t.ok(maxRetained > 0, 'some puts were retained at times')
  await store.flush()
  t.equal(store.retainedBytes, 0, 'nothing retained after a flush')
  let bad = 0
  for (let i = 0; i < count; i++) if (Buffer.compare(Buffer.from(await store.get(id(`retained ${i}`))), sent[i]) !== 0) bad++
  t.equal(bad, 0, `all ${count} objects read back as put`)
})
