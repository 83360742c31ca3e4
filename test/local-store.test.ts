/**
 * LocalStore beyond the conformance suite: recovery on open (unfinished pack tails truncated, unindexed packs
 * removed), unflushed puts absent from a copy taken mid-write, `repairStore` rebuilding the whole index from the
 * packs and cutting a damaged entry, the single-writer lock, the ARCA marker, and pack rotation.
 *
 * Crashes are simulated without killing a process: by damaging pack files of a closed store, and by copying the
 * directory of a store that is still open (what a crash would leave on disk).
 */
import { execFile } from 'node:child_process'
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { isArcaError, type ErrorCode } from '../src/core/errors.js'
import { toHex } from '../src/core/hex.js'
import { LocalStore, type LocalStoreOptions } from '../src/node/local-store.js'
import { ENTRY_HEADER_BYTES, ENTRY_TRAILER_BYTES, EntryType, entryHeader, entryTrailer, packHeader, scanPack } from '../src/node/pack-format.js'
import { repairStore } from '../src/node/repair.js'
import { packPath, STORE_MARKER } from '../src/node/store-layout.js'
import { ObjectKind } from '../src/protocol/object-envelope.js'
import type { Store, StoredRecord } from '../src/protocol/store.js'
import { bytes, chunk, id, snapshotRecord, tree } from './helpers/store-conformance.js'

const execFileAsync = promisify(execFile)

// ---- helpers ----

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arca-local-store-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

interface Opened {
  store: LocalStore
  log: string[]
  close(): Promise<void>
}

/** Stores not closed yet; teardown closes them (teardowns run last-in first-out, so before their dir is removed). */
const openStores = new Set<LocalStore>()

async function openStore(t: Test, dir: string, options: LocalStoreOptions = {}): Promise<Opened> {
  const log: string[] = []
  const store = await LocalStore.open(dir, { ...options, log: (m) => log.push(m) })
  openStores.add(store)
  t.teardown(async () => {
    if (openStores.delete(store)) await store.close()
  })
  return {
    store,
    log,
    async close() {
      if (openStores.delete(store)) await store.close()
    },
  }
}

async function rejectsWithCode(t: Test, promise: Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  try {
    const value = await promise
    if (value instanceof LocalStore) {
      openStores.add(value)
      t.teardown(async () => {
        if (openStores.delete(value)) await value.close()
      })
    }
    t.fail(`${what}: expected ArcaError ${code}, but it succeeded`)
  } catch (err) {
    t.ok(isArcaError(err, code), `${what}: ArcaError ${code}`, { found: err })
  }
}

function sameBytes(t: Test, actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  const a = actual === undefined ? undefined : Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  t.ok(a !== undefined && a.equals(Buffer.from(expected)), what, { found: a?.length, wanted: expected.length })
}

function sameRecords(t: Test, actual: StoredRecord[], expected: StoredRecord[], what: string): void {
  const show = (list: StoredRecord[]) => list.map((r) => `${toHex(r.id)}=${toHex(r.record)}`).sort()
  t.same(show(actual), show(expected), what)
}

/** Pack files on disk, by number. */
function packFiles(dir: string): { packNumber: number; path: string; sizeBytes: number }[] {
  const out: { packNumber: number; path: string; sizeBytes: number }[] = []
  const packsDir = join(dir, 'packs')
  if (!existsSync(packsDir)) return out
  for (const group of readdirSync(packsDir)) {
    for (const name of readdirSync(join(packsDir, group))) {
      const path = join(packsDir, group, name)
      const m = /^([0-9a-f]{8})\.pack$/.exec(name)
      if (m !== null) out.push({ packNumber: parseInt(m[1], 16), path, sizeBytes: statSync(path).size })
    }
  }
  return out.sort((a, b) => a.packNumber - b.packNumber)
}

interface Content {
  config: Buffer
  slots: StoredRecord[]
  snapshots: StoredRecord[]
  objects: { id: Buffer; envelope: Buffer }[]
}

/**
 * Writes a vault's worth of records and flushes. With `hasRemovals` (default) a key slot and a snapshot are also
 * removed, which repair must replay; those are the pack entries with an empty body.
 */
async function writeContent(store: Store, seed: number, objectCount: number, options: { hasRemovals?: boolean } = {}): Promise<Content> {
  const hasRemovals = options.hasRemovals ?? true
  const config = bytes(seed, 180)
  await store.writeConfig(config)
  const slots = [1, 2, 3].map((n) => ({ id: id(`slot ${seed} ${n}`), record: bytes(seed + n, 160) }))
  for (const s of slots) await store.putKeySlot(s.id, s.record)
  if (hasRemovals) await store.removeKeySlot(slots[1].id)
  const objects = Array.from({ length: objectCount }, (_, i) => ({ id: id(`object ${seed} ${i}`), envelope: chunk(seed * 1000 + i, 1000 + ((i * 7919) % 9000)) }))
  for (const o of objects) await store.put(o.id, o.envelope)
  const root = { id: id(`root ${seed}`), envelope: tree(objects.map((o) => o.id), seed) }
  await store.put(root.id, root.envelope)
  objects.push(root)
  const snapshots = [1, 2, 3].map((n) => ({ id: id(`snapshot ${seed} ${n}`), record: snapshotRecord(root.id, seed + n) }))
  for (const s of snapshots) await store.commitSnapshot(s.id, s.record)
  if (hasRemovals) await store.removeSnapshot(snapshots[0].id)
  await store.flush()
  return {
    config,
    slots: hasRemovals ? [slots[0], slots[2]] : slots,
    snapshots: hasRemovals ? snapshots.slice(1) : snapshots,
    objects,
  }
}

async function checkContent(t: Test, store: Store, content: Content, what: string): Promise<void> {
  sameBytes(t, await store.readConfig(), content.config, `${what}: config`)
  sameRecords(t, await store.listKeySlots(), content.slots, `${what}: key slots`)
  sameRecords(t, await store.listSnapshots(), content.snapshots, `${what}: snapshots`)
  const absent = await store.missing(content.objects.map((o) => o.id))
  t.equal(absent.filter(Boolean).length, 0, `${what}: no object missing`)
  const differing: string[] = []
  for (const o of content.objects) {
    const got = await store.get(o.id).catch((err: Error) => err)
    if (got instanceof Error) differing.push(`${toHex(o.id)}: ${got.message}`)
    else if (!Buffer.from(got).equals(o.envelope)) differing.push(`${toHex(o.id)}: different bytes`)
  }
  t.same(differing, [], `${what}: all ${content.objects.length} objects read back identical`)
}

// ---- tests ----

t.test('open truncates an unfinished pack tail and removes a pack with no index record', async (t) => {
  const dir = await tempDir(t)
  const first = await openStore(t, dir, { create: true })
  const content = await writeContent(first.store, 1, 40)
  await first.close()

  const packs = packFiles(dir)
  const last = packs[packs.length - 1]
  const half = chunk(77, 4000)
  appendFileSync(last.path, Buffer.concat([entryHeader(EntryType.OBJECT, id('unfinished'), half.length), half.subarray(0, 1500)]))
  t.equal(statSync(last.path).size, last.sizeBytes + ENTRY_HEADER_BYTES + 1500, 'the tail is on disk')
  const orphanNumber = last.packNumber + 1
  const orphan = packPath(dir, orphanNumber)
  mkdirSync(dirname(orphan), { recursive: true })
  const orphanBody = chunk(78, 500)
  const orphanHeader = entryHeader(EntryType.OBJECT, id('orphan'), orphanBody.length)
  writeFileSync(orphan, Buffer.concat([packHeader(orphanNumber), orphanHeader, orphanBody, entryTrailer(orphanHeader, orphanBody)]))

  const second = await openStore(t, dir)
  t.equal(statSync(last.path).size, last.sizeBytes, 'the last pack is cut back to its committed length')
  t.notOk(existsSync(orphan), 'the unindexed pack is removed')
  t.match(second.log.join('\n'), /Truncated pack .*\nRemoved pack|Removed pack .*\nTruncated pack/, 'both recoveries are logged')
  await checkContent(t, second.store, content, 'after recovery')
  t.same(await second.store.missing([id('unfinished'), id('orphan')]), [true, true], 'uncommitted objects are absent')

  const late = { id: id('after recovery'), envelope: chunk(79, 2500) }
  await second.store.put(late.id, late.envelope)
  await second.close()
  const third = await openStore(t, dir)
  t.same(third.log, [], 'a clean close leaves nothing to recover')
  sameBytes(t, await third.store.get(late.id), late.envelope, 'a new pack written after recovery is readable')
  await checkContent(t, third.store, content, 'after a second reopen')
})

t.test('an object put but never flushed is absent from a copy of the open store', async (t) => {
  const dir = await tempDir(t)
  const copyDir = join(await tempDir(t), 'copy')
  const live = await openStore(t, dir, { create: true })
  const content = await writeContent(live.store, 2, 10)
  const unflushed = { id: id('unflushed'), envelope: chunk(80, 30_000) }
  await live.store.put(unflushed.id, unflushed.envelope)
  sameBytes(t, await live.store.get(unflushed.id), unflushed.envelope, 'visible to its own handle (and now written to the pack)')
  const packBytes = packFiles(dir).reduce((sum, p) => sum + p.sizeBytes, 0)

  await execFileAsync('cp', ['-a', dir, copyDir])
  t.equal(packFiles(copyDir).reduce((sum, p) => sum + p.sizeBytes, 0), packBytes, 'the copy holds the unflushed bytes')
  const copy = await openStore(t, copyDir)
  t.match(copy.log.join('\n'), /Truncated pack|Removed pack/, 'the copy recovers from the unindexed bytes')
  t.same(await copy.store.missing([unflushed.id]), [true], 'the unflushed object is missing from the copy')
  await rejectsWithCode(t, copy.store.get(unflushed.id), 'CHUNK_NOT_FOUND', 'get of the unflushed object')
  await checkContent(t, copy.store, content, 'copy')
  await live.close()
})

t.test('repairStore rebuilds a deleted index with identical bytes', async (t) => {
  const dir = await tempDir(t)
  const first = await openStore(t, dir, { create: true, packTargetBytes: 48 * 1024 })
  const content = await writeContent(first.store, 3, 60)
  const stats = await first.store.stats()
  t.ok(stats.packCount > 2, `several packs to replay (${stats.packCount})`)
  await rejectsWithCode(t, repairStore(dir), 'REPO_LOCKED', 'repair while the store is open')
  await first.close()

  rmSync(join(dir, 'index'), { recursive: true })
  await rejectsWithCode(t, LocalStore.open(dir), 'INTEGRITY_ERROR', 'open without its index refuses (and deletes nothing)')
  t.equal(packFiles(dir).length, stats.packCount, 'every pack still there after the refused open')
  rmSync(join(dir, 'index'), { recursive: true, force: true })
  const logged: string[] = []
  const report = await repairStore(dir, { log: (m) => logged.push(m) })
  t.same(report, { packs: stats.packCount, objects: content.objects.length, snapshots: 2, keySlots: 2, truncatedBytes: 0 }, 'repair report')
  t.same(logged, [], 'nothing to cut')
  const second = await openStore(t, dir)
  t.same(second.log, [], 'the rebuilt index matches the packs')
  await checkContent(t, second.store, content, 'after repair')
  t.same(await second.store.stats(), stats, 'same stats as before')
  await rejectsWithCode(t, second.store.removeKeySlot(content.slots[0].id).then(() => second.store.removeKeySlot(content.slots[1].id)), 'INVALID_ARGUMENT', 'the rebuilt key slots still refuse removing the last')
  await second.close()
  await rejectsWithCode(t, repairStore(join(dir, 'packs')), 'REPO_NOT_FOUND', 'repair of a directory without the marker')
})

t.test('repairStore cuts a pack from a damaged entry on', async (t) => {
  const dir = await tempDir(t)
  const first = await openStore(t, dir, { create: true })
  const content = await writeContent(first.store, 4, 20, { hasRemovals: false })
  const kept = { id: id('kept'), envelope: chunk(81, 5000) }
  const damaged = { id: id('damaged'), envelope: chunk(82, 5000) }
  await first.store.put(kept.id, kept.envelope)
  await first.store.put(damaged.id, damaged.envelope)
  await first.close()

  const packs = packFiles(dir)
  const last = packs[packs.length - 1]
  const scan = scanPack(last.path)
  const entry = scan.entries[scan.entries.length - 1]
  t.equal(toHex(entry.id), toHex(damaged.id), 'the damaged object is the last entry')
  const at = entry.offset + ENTRY_HEADER_BYTES + Math.floor(entry.bodyLength / 2)
  flipByte(last.path, at)

  const report = await repairStore(dir)
  t.equal(report.truncatedBytes, last.sizeBytes - entry.offset, 'cut exactly from the damaged entry to the end')
  t.ok(report.truncatedBytes > 0, 'truncatedBytes > 0')
  t.equal(statSync(last.path).size, entry.offset, 'the pack ends where the damaged entry began')
  const second = await openStore(t, dir)
  await rejectsWithCode(t, second.store.get(damaged.id), 'CHUNK_NOT_FOUND', 'the damaged object')
  sameBytes(t, await second.store.get(kept.id), kept.envelope, 'the entry before it survives')
  await checkContent(t, second.store, content, 'after cutting')
})

t.test('a second open of the same store fails with REPO_LOCKED', async (t) => {
  const dir = await tempDir(t)
  const first = await openStore(t, dir, { create: true })
  await rejectsWithCode(t, LocalStore.open(dir), 'REPO_LOCKED', 'second open')
  await rejectsWithCode(t, LocalStore.open(dir, { create: true }), 'REPO_LOCKED', 'second open with create')
  await first.close()
  const again = await openStore(t, dir)
  t.same(await again.store.listSnapshots(), [], 'opens once the first is closed')
})

t.test('the ARCA marker: required to open, and create refuses a non-empty directory', async (t) => {
  const dir = await tempDir(t)
  await rejectsWithCode(t, LocalStore.open(dir), 'REPO_NOT_FOUND', 'open of an empty directory')
  await rejectsWithCode(t, LocalStore.open(join(dir, 'absent')), 'REPO_NOT_FOUND', 'open of an absent directory')
  t.same(readdirSync(dir), [], 'a failed open creates nothing')
  writeFileSync(join(dir, 'notes.txt'), 'not a store')
  await rejectsWithCode(t, LocalStore.open(dir), 'REPO_NOT_FOUND', 'open of a directory with other files')
  await rejectsWithCode(t, LocalStore.open(dir, { create: true }), 'REPO_EXISTS', 'create in a non-empty directory')
  t.same(readdirSync(dir), ['notes.txt'], 'the refused create touched nothing')
  t.notOk(existsSync(join(dir, STORE_MARKER)))
})

t.test('a small packTargetBytes rotates packs and every object stays readable', async (t) => {
  const dir = await tempDir(t)
  const packTargetBytes = 64 * 1024
  const first = await openStore(t, dir, { create: true, packTargetBytes })
  const content = await writeContent(first.store, 5, 150)
  const stats = await first.store.stats()
  const files = packFiles(dir)
  t.ok(files.length >= 10, `many packs (${files.length})`)
  t.equal(stats.packCount, files.length, 'stats.packCount is the number of pack files')
  t.equal(stats.storedBytes, files.reduce((sum, p) => sum + p.sizeBytes, 0), 'stats.storedBytes is their total size')
  const largestEntry = Math.max(...content.objects.map((o) => o.envelope.length)) + ENTRY_HEADER_BYTES + ENTRY_TRAILER_BYTES
  const oversized = files.filter((p) => p.sizeBytes >= packTargetBytes + largestEntry)
  t.same(oversized.map((p) => p.packNumber), [], 'no pack grows past the target by more than one entry')
  await first.close()
  const second = await openStore(t, dir, { packTargetBytes })
  t.same(second.log, [], 'nothing to recover')
  await checkContent(t, second.store, content, 'after reopen')
  t.same(await second.store.stats(), stats, 'same stats after reopen')
})

function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+')
  try {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, offset)
    b[0] ^= 0xff
    writeSync(fd, b, 0, 1, offset)
  } finally {
    closeSync(fd)
  }
}

t.test('chunks go to data packs; trees, snapshots, key slots and the config to metadata packs', async (t) => {
  const dir = await tempDir(t)
  const first = await openStore(t, dir, { create: true, packTargetBytes: 64 * 1024 })
  const content = await writeContent(first.store, 11, 60)
  // more trees and snapshots after the chunks, flushed again: the metadata pack carries on across flushes
  const more = Array.from({ length: 5 }, (_, i) => ({ id: id(`tree 11 ${i}`), envelope: tree([content.objects[i].id], 50 + i) }))
  for (const o of more) await first.store.put(o.id, o.envelope)
  await first.store.commitSnapshot(id('late snapshot'), snapshotRecord(more[0].id, 99))
  await first.store.flush()
  await first.close()
  let dataPacks = 0
  let metaPacks = 0
  for (const { packNumber, path } of packFiles(dir)) {
    const entries = scanPack(path).entries
    const isChunk = entries.map((e) => e.type === EntryType.OBJECT && e.body[1] === ObjectKind.CHUNK)
    if (isChunk.every((c) => c)) dataPacks++
    else if (isChunk.every((c) => !c)) metaPacks++
    else t.fail(`pack ${packNumber} mixes chunks with other entries`)
  }
  t.ok(dataPacks >= 5, `chunks rotate through data packs (${dataPacks})`)
  t.equal(metaPacks, 1, 'everything else lies in one metadata pack')
  const second = await openStore(t, dir)
  await checkContent(t, second.store, { ...content, objects: [...content.objects, ...more], snapshots: [...content.snapshots, { id: id('late snapshot'), record: snapshotRecord(more[0].id, 99) }] }, 'reopened')
  await second.close()
  await repairStore(dir)
  const third = await openStore(t, dir)
  await checkContent(t, third.store, { ...content, objects: [...content.objects, ...more], snapshots: [...content.snapshots, { id: id('late snapshot'), record: snapshotRecord(more[0].id, 99) }] }, 'after repair')
  await third.close()
})

t.test('the object count is kept in the index; a store without it is counted once at open', async (t) => {
  const dir = await tempDir(t)
  const first = await openStore(t, dir, { create: true })
  await writeContent(first.store, 2, 25)
  const stats = await first.store.stats()
  t.ok(stats.objectCount > 25, `objects counted (${stats.objectCount})`)
  await first.close()

  // remove the counter, as in a store written before it existed
  const { Level } = await import('level')
  const db = new Level<Buffer, Buffer>(join(dir, 'index'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.del(Buffer.from('M'))
  let keys = 0
  for await (const _ of db.keys({ gte: Buffer.from('O'), lt: Buffer.from('P') })) keys++
  await db.close()
  t.equal(keys, stats.objectCount, 'the counter equals the number of object keys')

  const second = await openStore(t, dir)
  t.equal((await second.store.stats()).objectCount, stats.objectCount, 'counted again at open')
  await second.store.put(id('one more'), chunk(5, 1000))
  await second.store.flush()
  t.equal((await second.store.stats()).objectCount, stats.objectCount + 1, 'and kept from then on')
  await second.close()
})

t.test('getMany: envelopes in the order asked across packs, absent and pending ids, the byte budget, a short pack', async (t) => {
  const dir = await tempDir(t)
  const { store } = await openStore(t, dir, { create: true, packTargetBytes: 256 * 1024 })
  const objects = Array.from({ length: 40 }, (_, i) => ({ id: id(`many ${i}`), envelope: chunk(i, 1000 + i * 997) }))
  await putDurableThenPending(store, objects, 30)
  t.ok(packFiles(dir).length >= 2, 'the objects span several packs')

  // shuffled order, an absent id, a duplicate and pending objects
  const order = [17, 3, 35, 29, 0, 3, 38, 12]
  const asked = [...order.map((i) => objects[i].id), id('never put')]
  const items = await store.getMany(asked, 64 * 1024 * 1024)
  t.equal(items.length, asked.length, 'one answer per id')
  order.forEach((i, k) => {
    const item = items[k]
    if ('envelope' in item) sameBytes(t, item.envelope, objects[i].envelope, `id ${k}: object ${i}${i >= 30 ? ' (pending)' : ''}`)
    else t.fail(`id ${k}: object ${i} expected`, { found: item })
  })
  t.same(items[asked.length - 1], { absent: true }, 'an absent id is ABSENT')

  // budget: objects are taken in request order until the budget is spent, the first one always
  const budget = objects[5].envelope.length + objects[6].envelope.length
  const capped = await store.getMany([5, 6, 7, 8].map((i) => objects[i].id), budget)
  t.same(capped.map((x) => Object.keys(x)[0]), ['envelope', 'envelope', 'notSent', 'notSent'], 'two fit the budget, the rest are NOT_SENT')
  const tiny = await store.getMany([objects[9].id, objects[10].id], 1)
  t.same(tiny.map((x) => Object.keys(x)[0]), ['envelope', 'notSent'], 'the first object is sent even over the budget')
  t.same((await store.getMany([], 1000)), [], 'no ids, no answers')

  // a pack cut short: objects past the cut fail with INTEGRITY_ERROR, the others are still served
  await store.flush()
  const lastPack = packFiles(dir).sort((a, b) => a.packNumber - b.packNumber).at(-1)!
  const inLast = objects.map((o, i) => ({ o, i, place: store.locate(o.id)! })).filter((x) => x.place.path === lastPack.path)
  t.ok(inLast.length >= 2, `the last pack holds ${inLast.length} objects`)
  const cutAt = inLast[inLast.length - 1].place.offset + 10
  truncateSync(lastPack.path, cutAt)
  const afterCut = await store.getMany([objects[0].id, ...inLast.map((x) => x.o.id)], 64 * 1024 * 1024)
  t.ok('envelope' in afterCut[0], 'an object of another pack is served')
  for (let k = 0; k < inLast.length - 1; k++) {
    const item = afterCut[k + 1]
    t.ok('envelope' in item && Buffer.compare(item.envelope, inLast[k].o.envelope) === 0, `object ${inLast[k].i} before the cut is served`)
  }
  const cut = afterCut[afterCut.length - 1]
  t.ok('error' in cut && cut.error.code === 'INTEGRITY_ERROR' && /is shorter than its index says/.test(cut.error.message), 'the object past the cut is an INTEGRITY_ERROR', { found: cut })
})

t.test('putMany: one lookup per object, admit sees the new bytes and may refuse everything, trees checked in order', async (t) => {
  const dir = await tempDir(t)
  const { store } = await openStore(t, dir, { create: true })
  const a = { id: id('pm a'), envelope: chunk(1, 700) }
  const b = { id: id('pm b'), envelope: chunk(2, 900) }
  await store.put(a.id, a.envelope)
  const entry = (o: { envelope: Buffer }): number => ENTRY_HEADER_BYTES + o.envelope.length + ENTRY_TRAILER_BYTES

  const refused = await store.putMany([a, b, b], () => {
    throw new Error('over quota')
  }).then(() => 'stored', (e: Error) => e.message)
  t.equal(refused, 'over quota', 'an admit that throws fails the put')
  t.same(await store.missing([a.id, b.id]), [false, true], 'and nothing new was written')

  let admitted = -1
  await store.putMany([a, b, b], (n) => (admitted = n))
  t.equal(admitted, entry(b), 'admit receives the pack bytes of the one new object (a is stored, b listed twice)')
  t.same(await store.missing([b.id]), [false], 'b is stored')

  const c = { id: id('pm c'), envelope: chunk(3, 500) }
  const goodTree = { id: id('pm tree'), envelope: tree([a.id, c.id], 1) }
  const badTree = { id: id('pm bad tree'), envelope: tree([id('absent')], 2) }
  const d = { id: id('pm d'), envelope: chunk(4, 400) }
  const err = await store.putMany([c, goodTree, badTree, d]).then(() => undefined, (e: unknown) => e)
  t.ok(isArcaError(err, 'BAD_MESSAGE') && /references object .* which is not stored/.test((err as Error).message), 'a tree with an absent reference is refused', { found: err })
  t.same(await store.missing([c.id, goodTree.id, badTree.id, d.id]), [false, false, true, true], 'objects before it stay (a tree may refer to an earlier one), it and later ones are not written')
  await store.flush()
  for (const o of [a, b, c, goodTree]) sameBytes(t, await store.get(o.id), o.envelope, `${toHex(o.id).slice(0, 8)} reads back`)
})

t.test('locateMany: the places locate gives, across packs; undefined for absent and pending ids', async (t) => {
  const dir = await tempDir(t)
  const { store } = await openStore(t, dir, { create: true, packTargetBytes: 64 * 1024 })
  const objects = Array.from({ length: 30 }, (_, i) => ({ id: id(`placed ${i}`), envelope: chunk(i, 5000 + i * 101) }))
  await putDurableThenPending(store, objects, 25)
  const asked = [...objects.map((o) => o.id).reverse(), id('never put')]
  const places = await store.locateMany(asked)
  t.equal(places.length, asked.length, 'one answer per id')
  t.same(places, asked.map((i) => store.locate(i)), 'the same answers as locate')
  t.ok(new Set(places.filter((p) => p !== undefined).map((p) => p!.path)).size >= 2, 'places in several packs')
  t.equal(places.filter((p) => p === undefined).length, 6, 'undefined for the 5 pending objects and the absent one')
  for (const [k, place] of places.entries()) {
    if (place === undefined) continue
    const o = objects[objects.length - 1 - k]
    const fd = openSync(place.path, 'r')
    const body = Buffer.alloc(place.length)
    readSync(fd, body, 0, place.length, place.offset)
    closeSync(fd)
    sameBytes(t, body, o.envelope, `the place of object ${objects.length - 1 - k} holds its envelope`)
  }
  t.same(await store.locateMany([]), [], 'no ids, no answers')
})

/** Puts the first `durable` objects and flushes them, then puts the rest: pending (appended, not indexed). */
async function putDurableThenPending(store: LocalStore, objects: { id: Uint8Array; envelope: Uint8Array }[], durable: number): Promise<void> {
  for (const o of objects.slice(0, durable)) await store.put(o.id, o.envelope)
  await store.flush()
  for (const o of objects.slice(durable)) await store.put(o.id, o.envelope)
}

t.test('put copies and releases: an envelope overwritten once put resolves is stored as it was, across stages and packs', async (t) => {
  const dir = await tempDir(t)
  const { store } = await openStore(t, dir, { create: true, packTargetBytes: 6 * 1024 * 1024 })
  // one reused buffer for every put, as the seal pool reuses its output memory; sizes cross the 1 MiB stages
  const shared = Buffer.alloc(3 * 1024 * 1024)
  const sizes = [100, 3 * 1024 * 1024, 70_000, 2 * 1024 * 1024 + 5, 1, 3 * 1024 * 1024 - 7, 500_000]
  const originals = sizes.map((n, i) => chunk(1000 + i, Math.min(n + 6, shared.length)))
  for (let i = 0; i < originals.length; i++) {
    const view = shared.subarray(0, originals[i].length)
    originals[i].copy(view)
    let released = 0
    await store.put(id(`copied ${i}`), view, () => released++)
    t.equal(released, 1, `object ${i} released by the time put resolves`)
    shared.fill(0xee)
  }
  await store.flush()
  for (let i = 0; i < originals.length; i++) t.equal(Buffer.compare(Buffer.from(await store.get(id(`copied ${i}`))), originals[i]), 0, `object ${i} as put`)
  t.ok(packFiles(dir).length >= 2, 'the objects span packs')
})
