/**
 * The store conformance suite: what every `Store` backend must do, run against each of them (restic's one suite
 * for all backends). Every subtest gets a fresh temp directory and a fresh store from `open`; the suite closes
 * what it opens and removes the directory in teardown. Backends that can be closed and reopened (`reopen`) are
 * also checked for durability of everything flushed.
 *
 * Objects are synthetic: a valid envelope header in front of seeded pseudo-random bytes. The store never decrypts,
 * so that is all it may look at.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { isArcaError, type ErrorCode } from '../../src/core/errors.js'
import { toHex } from '../../src/core/hex.js'
import { envelopeHeader, ObjectKind } from '../../src/protocol/object-envelope.js'
import { encodeSnapshotHeader } from '../../src/protocol/snapshot-record.js'
import type { Store, StoredRecord, StoreStats } from '../../src/protocol/store.js'

export interface OpenedStore {
  store: Store
  /** Opens the same store again; called only after `store` is closed. */
  reopen?: () => Promise<Store>
}

export type OpenStore = (dir: string) => Promise<OpenedStore>

/** Registers the suite as one subtest named `name`; resolves when it has run. */
export function storeConformance(t: Test, name: string, open: OpenStore): Promise<unknown> {
  return t.test(`store conformance: ${name}`, async (t) => {
    const probe = await openFresh(t, open)
    const hasReopen = probe.reopen !== undefined
    await probe.close()

    t.test('config: absent, written once, read back identical, refused twice', async (t) => {
      const { store } = await openFresh(t, open)
      t.equal(await store.readConfig(), undefined, 'an empty store has no config')
      const config = bytes(1, 300)
      await store.writeConfig(config)
      sameBytes(t, await store.readConfig(), config, 'config read back')
      await rejectsWithCode(t, store.writeConfig(bytes(2, 300)), 'REPO_EXISTS', 'second writeConfig')
      sameBytes(t, await store.readConfig(), config, 'config unchanged by the refused write')
    })

    t.test('key slots: put, list, remove, refuse to remove the last', async (t) => {
      const { store } = await openFresh(t, open)
      t.same(await store.listKeySlots(), [], 'no key slots at first')
      const slots = [1, 2, 3].map((n) => ({ id: id(`slot ${n}`), record: bytes(10 + n, 100 + n) }))
      for (const s of slots) await store.putKeySlot(s.id, s.record)
      sameRecords(t, await store.listKeySlots(), slots, 'three slots listed')
      await rejectsWithCode(t, store.removeKeySlot(id('no such slot')), 'INVALID_ARGUMENT', 'removing an absent slot')
      await store.removeKeySlot(slots[0].id)
      sameRecords(t, await store.listKeySlots(), slots.slice(1), 'first slot removed')
      await store.removeKeySlot(slots[2].id)
      await rejectsWithCode(t, store.removeKeySlot(slots[1].id), 'INVALID_ARGUMENT', 'removing the last slot')
      sameRecords(t, await store.listKeySlots(), [slots[1]], 'the last slot is still there')
    })

    t.test('missing: a batch of 1,000 ids mixing flushed, buffered and absent objects', async (t) => {
      const { store } = await openFresh(t, open)
      t.same(await store.missing([]), [], 'an empty batch')
      const flushed = Array.from({ length: 300 }, (_, i) => id(`flushed ${i}`))
      const buffered = Array.from({ length: 200 }, (_, i) => id(`buffered ${i}`))
      await Promise.all(flushed.map((x, i) => store.put(x, chunk(i, 64))))
      await store.flush()
      await Promise.all(buffered.map((x, i) => store.put(x, chunk(1000 + i, 64))))
      const absent = Array.from({ length: 500 }, (_, i) => id(`absent ${i}`))
      const batch = shuffle([...flushed, ...buffered, ...absent], 7)
      const absentHex = new Set(absent.map(toHex))
      const expected = batch.map((x) => absentHex.has(toHex(x)))
      t.equal(batch.length, 1000)
      t.same(await store.missing(batch), expected, 'true exactly for the absent ids, in batch order')
      const repeated = [absent[0], flushed[0], absent[0], buffered[0], flushed[0]]
      t.same(await store.missing(repeated), [true, false, true, false, false], 'repeated ids in one batch')
    })

    t.test('put with release: called once, by the time the flush resolves; the buffer may then be reused', async (t) => {
      const { store } = await openFresh(t, open)
      // one buffer shared by every object, as the seal pool's output spans are
      const shared = Buffer.alloc(3 * 70_000)
      const originals = [chunk(21, 70_000), chunk(22, 100), chunk(23, 70_000)]
      const released = [0, 0, 0]
      let at = 0
      const puts = originals.map((o, i) => {
        const view = shared.subarray(at, at + o.length)
        at += o.length
        o.copy(view)
        return store.put(id(`released ${i}`), view, () => released[i]++)
      })
      // a duplicate of a stored object is released too
      const again = Buffer.from(originals[1])
      let againReleased = 0
      puts.push(store.put(id('released 1'), again, () => againReleased++))
      await Promise.all(puts)
      await store.flush()
      t.same(released, [1, 1, 1], 'each release called exactly once')
      t.equal(againReleased, 1, 'the duplicate put released as well')
      shared.fill(0xee)
      again.fill(0xee)
      for (let i = 0; i < originals.length; i++) sameBytes(t, await store.get(id(`released ${i}`)), originals[i], `object ${i} as put after the buffer was reused`)
      t.same(released, [1, 1, 1], 'and never again')
    })

    t.test('put and get: identical bytes before and after flush', async (t) => {
      const { store } = await openFresh(t, open)
      const big = chunk(3, 5 * 1024 * 1024)
      const inside = Buffer.concat([bytes(4, 1000), chunk(5, 70_000), bytes(6, 1000)])
      const objects = [
        { id: id('header only'), envelope: envelopeHeader(ObjectKind.CHUNK, []) },
        { id: id('small'), envelope: chunk(1, 100) },
        { id: id('1 MiB'), envelope: chunk(2, 1024 * 1024) },
        { id: id('5 MiB'), envelope: big },
        { id: id('a view into a larger buffer'), envelope: inside.subarray(1000, inside.length - 1000) },
      ]
      for (const o of objects) await store.put(o.id, o.envelope)
      for (const o of objects) sameBytes(t, await store.get(o.id), o.envelope, `buffered: ${o.envelope.length} bytes`)
      await store.flush()
      for (const o of objects) sameBytes(t, await store.get(o.id), o.envelope, `flushed: ${o.envelope.length} bytes`)
      const got = await store.get(objects[1].id)
      got.fill(0)
      sameBytes(t, await store.get(objects[1].id), objects[1].envelope, 'changing returned bytes does not change the store')
      await rejectsWithCode(t, store.get(id('never put')), 'CHUNK_NOT_FOUND', 'get of an absent id')
      await rejectsWithCode(t, store.put(id('bad'), Buffer.from([1, 9, 0, 0, 0, 0])), 'BAD_MESSAGE', 'an envelope of unknown kind')
      t.same(await store.missing([id('bad')]), [true], 'the refused envelope is not stored')
      await store.flush()
      await store.flush()
      sameBytes(t, await store.get(objects[3].id), big, 'flushing with nothing buffered is harmless')
    })

    t.test('a duplicate put is harmless', async (t) => {
      const { store } = await openFresh(t, open)
      const x = id('dup')
      const envelope = chunk(9, 2000)
      await store.put(x, envelope)
      await store.put(x, envelope)
      await Promise.all([store.put(x, envelope), store.put(x, envelope)])
      await store.flush()
      await store.put(x, envelope)
      await store.flush()
      sameBytes(t, await store.get(x), envelope, 'bytes unchanged')
      t.same(await store.missing([x]), [false])
      t.equal((await store.stats()).objectCount, 1, 'counted once')
    })

    t.test('a tree is refused unless every reference is present', async (t) => {
      const { store } = await openFresh(t, open)
      const flushed = id('flushed chunk')
      const buffered = id('buffered chunk')
      await store.put(flushed, chunk(1, 50))
      await store.flush()
      await store.put(buffered, chunk(2, 50))
      const absent = id('absent chunk')
      const bad = id('tree with an absent ref')
      await rejectsWithCode(t, store.put(bad, tree([flushed, absent], 3)), 'BAD_MESSAGE', 'tree referencing an absent id')
      t.same(await store.missing([bad]), [true], 'the refused tree is not stored')
      const good = id('tree with present refs')
      const goodEnvelope = tree([flushed, buffered], 4)
      await store.put(good, goodEnvelope)
      const parent = id('tree referencing a tree')
      await store.put(parent, tree([good], 5))
      const empty = id('tree without refs')
      await store.put(empty, tree([], 6))
      await store.flush()
      t.same(await store.missing([good, parent, empty]), [false, false, false], 'accepted trees are stored')
      sameBytes(t, await store.get(good), goodEnvelope, 'tree read back')
    })

    t.test('snapshots: refused without root, committed, listed, removed', async (t) => {
      const { store } = await openFresh(t, open)
      const root = id('root tree')
      const first = { id: id('snapshot 1'), record: snapshotRecord(root, 1) }
      await rejectsWithCode(t, store.commitSnapshot(first.id, first.record), 'BAD_MESSAGE', 'commit with an absent root')
      t.same(await store.listSnapshots(), [], 'nothing listed after the refusal')
      await store.put(root, tree([], 1))
      await store.commitSnapshot(first.id, first.record)
      t.equal((await store.stats()).objectCount, 1, 'commitSnapshot flushed the buffered root')
      const second = { id: id('snapshot 2'), record: snapshotRecord(root, 2) }
      await store.commitSnapshot(second.id, second.record)
      sameRecords(t, await store.listSnapshots(), [first, second], 'both snapshots listed')
      await store.removeSnapshot(first.id)
      sameRecords(t, await store.listSnapshots(), [second], 'the first one removed')
      await rejectsWithCode(t, store.removeSnapshot(first.id), 'SNAPSHOT_NOT_FOUND', 'removing it twice')
      t.same(await store.missing([root]), [false], 'removing a snapshot keeps its objects')
    })

    t.test('stats: counts of flushed objects and snapshots', async (t) => {
      const { store } = await openFresh(t, open)
      const empty = await store.stats()
      checkStatsShape(t, empty)
      t.same([empty.objectCount, empty.snapshotCount, empty.storedBytes], [0, 0, 0], 'an empty store')
      const ids = Array.from({ length: 20 }, (_, i) => id(`object ${i}`))
      const envelopes = ids.map((_, i) => chunk(i, 1000 + i))
      for (let i = 0; i < ids.length; i++) await store.put(ids[i], envelopes[i])
      await store.put(ids[0], envelopes[0])
      await store.flush()
      const afterPut = await store.stats()
      checkStatsShape(t, afterPut)
      t.equal(afterPut.objectCount, 20, 'twenty distinct objects')
      const envelopeBytes = envelopes.reduce((sum, e) => sum + e.length, 0)
      t.ok(afterPut.storedBytes >= envelopeBytes, `storedBytes ${afterPut.storedBytes} holds the ${envelopeBytes} envelope bytes`)
      const root = id('stats root')
      await store.put(root, tree(ids, 1))
      await store.commitSnapshot(id('stats snapshot 1'), snapshotRecord(root, 1))
      await store.commitSnapshot(id('stats snapshot 2'), snapshotRecord(root, 2))
      await store.removeSnapshot(id('stats snapshot 1'))
      const afterSnapshots = await store.stats()
      t.equal(afterSnapshots.objectCount, 21, 'the root tree counted')
      t.equal(afterSnapshots.snapshotCount, 1, 'one snapshot left')
      t.ok(afterSnapshots.storedBytes > afterPut.storedBytes, 'storedBytes grew')
    })

    t.test('flushed state survives close and reopen', { skip: hasReopen ? false : `${name} cannot be reopened` }, async (t) => {
      const opened = await openFresh(t, open)
      const { store, reopen } = opened
      if (reopen === undefined) throw new Error(`Conformance suite bug: ${name} lost its reopen`)
      const config = bytes(1, 200)
      await store.writeConfig(config)
      const slots = [1, 2].map((n) => ({ id: id(`slot ${n}`), record: bytes(10 + n, 150) }))
      for (const s of slots) await store.putKeySlot(s.id, s.record)
      await store.removeKeySlot(slots[0].id)
      const objects = Array.from({ length: 50 }, (_, i) => ({ id: id(`object ${i}`), envelope: chunk(i, 500 + i * 100) }))
      await Promise.all(objects.map((o) => store.put(o.id, o.envelope)))
      const root = { id: id('root'), envelope: tree(objects.map((o) => o.id), 1) }
      await store.put(root.id, root.envelope)
      const kept = { id: id('snapshot kept'), record: snapshotRecord(root.id, 1) }
      await store.commitSnapshot(id('snapshot removed'), snapshotRecord(root.id, 2))
      await store.commitSnapshot(kept.id, kept.record)
      await store.removeSnapshot(id('snapshot removed'))
      await store.flush()
      const stats = await store.stats()
      await opened.close()

      const again = await reopen()
      sameBytes(t, await again.readConfig(), config, 'config')
      sameRecords(t, await again.listKeySlots(), [slots[1]], 'key slots')
      sameRecords(t, await again.listSnapshots(), [kept], 'snapshots')
      t.same(await again.missing([...objects, root].map((o) => o.id)), new Array(51).fill(false), 'no object missing')
      for (const o of [...objects, root]) sameBytes(t, await again.get(o.id), o.envelope, `object ${toHex(o.id).slice(0, 8)}`)
      t.same(await again.stats(), stats, 'same stats')
      await rejectsWithCode(t, again.writeConfig(config), 'REPO_EXISTS', 'the config is still there to refuse a second one')

      const late = { id: id('after reopen'), envelope: chunk(99, 3000) }
      await again.put(late.id, late.envelope)
      await again.flush()
      await opened.close()
      const third = await reopen()
      sameBytes(t, await third.get(late.id), late.envelope, 'an object put after the reopen')
      sameBytes(t, await third.get(objects[0].id), objects[0].envelope, 'and the earlier ones')
    })
  })
}

// ---- opening and closing ----

interface FreshStore {
  store: Store
  reopen?: () => Promise<Store>
  close(): Promise<void>
}

/** Opens a store in a new temp dir; teardown closes whatever store is open and removes the dir. */
async function openFresh(t: Test, open: OpenStore): Promise<FreshStore> {
  const dir = await mkdtemp(join(tmpdir(), 'arca-conformance-'))
  let current: Store | undefined
  t.teardown(async () => {
    try {
      await current?.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
  const opened = await open(dir)
  current = opened.store
  const fresh: FreshStore = {
    store: opened.store,
    async close() {
      const store = current
      current = undefined
      await store?.close()
    },
  }
  const reopen = opened.reopen
  if (reopen !== undefined) {
    fresh.reopen = async () => {
      if (current !== undefined) throw new Error('Conformance suite bug: reopen while the store is still open')
      current = await reopen()
      return current
    }
  }
  return fresh
}

// ---- assertions ----

async function rejectsWithCode(t: Test, promise: Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  try {
    await promise
    t.fail(`${what}: expected ArcaError ${code}, but it succeeded`)
  } catch (err) {
    t.ok(isArcaError(err, code), `${what}: ArcaError ${code}`, { found: err })
  }
}

function sameBytes(t: Test, actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  if (actual === undefined) {
    t.fail(`${what}: expected ${expected.length} bytes, received undefined`)
    return
  }
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)
  let firstDiff = -1
  if (!a.equals(e)) {
    firstDiff = 0
    while (firstDiff < Math.min(a.length, e.length) && a[firstDiff] === e[firstDiff]) firstDiff++
  }
  t.ok(firstDiff < 0, what, { found: `${a.length} bytes`, wanted: `${e.length} bytes`, firstDifferentByte: firstDiff })
}

/** Compares id -> record lists as sets: order is not part of the contract. */
function sameRecords(t: Test, actual: StoredRecord[], expected: StoredRecord[], what: string): void {
  const show = (list: StoredRecord[]) => list.map((r) => `${toHex(r.id)}=${toHex(r.record)}`).sort()
  t.same(show(actual), show(expected), what)
}

function checkStatsShape(t: Test, stats: StoreStats): void {
  const fields = [stats.objectCount, stats.storedBytes, stats.packCount, stats.snapshotCount]
  t.ok(fields.every((n) => Number.isSafeInteger(n) && n >= 0), 'stats are non-negative integers', { found: stats })
}

// ---- synthetic data ----

/** A 32-byte id derived from a label. */
export function id(label: string): Buffer {
  return createHash('sha256').update(label).digest()
}

/** `length` seeded pseudo-random bytes (xorshift32). */
export function bytes(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  let x = (seed * 2654435761 + 1) >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** A chunk envelope of exactly `length` bytes (at least its 6-byte header). */
export function chunk(seed: number, length: number): Buffer {
  const header = envelopeHeader(ObjectKind.CHUNK, [])
  return Buffer.concat([header, bytes(seed, Math.max(0, length - header.length))])
}

export function tree(refs: readonly Uint8Array[], seed: number): Buffer {
  return Buffer.concat([envelopeHeader(ObjectKind.TREE, refs), bytes(seed, 200)])
}

/** A snapshot record: a cleartext header naming `root`, then opaque bytes standing for the sealed body. */
export function snapshotRecord(root: Uint8Array, seed: number): Buffer {
  const header = encodeSnapshotHeader({
    createdAt: 1_700_000_000_000 + seed,
    mode: 'full',
    rootTree: root,
    planId: bytes(seed, 16),
    fileCount: seed,
    logicalBytes: 1000 * seed,
    addedBytes: 10 * seed,
    deviceName: 'laptop',
  })
  return Buffer.concat([header, bytes(seed + 1000, 120)])
}

function shuffle<T>(items: T[], seed: number): T[] {
  const random = bytes(seed, items.length * 4)
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.readUInt32LE(i * 4) % (i + 1)
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}
