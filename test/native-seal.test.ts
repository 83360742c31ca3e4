/**
 * Sealing in the native addon (sealBatch, native/arca_native.c) against the JavaScript seal (src/dedup/seal.ts):
 * byte-identical envelopes for the same salt across sizes, contents, headers and zstd levels, on the calling
 * thread and on the seal threads; the results open; bad arguments are clear errors; and the SealPool seals through
 * it with the same results as the inline pool, reusing its output memory only once released. Opening in the addon
 * (openBatch): chunks read from a file or the input are written where asked or dropped, zeros left as holes, and
 * every kind of damage fails the chunk without writing it, which the pool turns into the inline pool's error.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { openBatch, sealBatch, sealBatchSync, type SealBatchArgs } from '../src/core/native-addon.js'
import { padmeLength } from '../src/dedup/padme.js'
import { deriveVaultKeys } from '../src/dedup/vault-keys.js'
import { envelopeHeader, ObjectKind } from '../src/protocol/object-envelope.js'
import { CHUNK_HEADER, chunkId, openObject, sealObject, treeId } from '../src/repo/objects.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { rng } from './helpers/rng.js'

const MiB = 1024 * 1024
const keys = deriveVaultKeys(Uint8Array.from({ length: 32 }, (_, i) => 3 * i + 1))

function pseudoRandom(seed: number, length: number): Buffer {
  const next = rng(seed)
  const words = new Uint32Array(Math.ceil(length / 4))
  for (let i = 0; i < words.length; i++) words[i] = next()
  return Buffer.from(words.buffer, 0, length)
}

function text(length: number): Buffer {
  const out = Buffer.alloc(length)
  for (let i = 0, line = 0; i < length; line++) i += out.write(`row ${line}; name ${line % 97}; total ${(line * 31) % 1000}\n`, i)
  return out
}

/** Random except for a compressible first half: the 32 KiB sample in the middle decides on no compression. */
function halfText(length: number): Buffer {
  const out = pseudoRandom(length, length)
  text(length >> 1).copy(out)
  return out
}

interface Obj {
  id: Uint8Array
  header: Uint8Array
  plain: Uint8Array
}

function chunk(plain: Uint8Array): Obj {
  return { id: chunkId(keys, plain), header: CHUNK_HEADER, plain }
}

function tree(plain: Uint8Array, refs: Uint8Array[]): Obj {
  const header = envelopeHeader(ObjectKind.TREE, refs)
  return { id: treeId(keys, header, plain), header, plain }
}

const SIZES = [0, 1, 127, 128, 129, 4096, 128 * 1024, 128 * 1024 + 1, 300_000, MiB]
const objects: Obj[] = []
for (const size of SIZES) objects.push(chunk(pseudoRandom(size + 1, size)), chunk(text(size)), chunk(Buffer.alloc(size)), chunk(halfText(size)))
objects.push(chunk(text(3 * MiB + 17)), tree(text(5000), [chunkId(keys, Buffer.from('a')), chunkId(keys, Buffer.from('b'))]), tree(Buffer.alloc(0), []))

/** The batch arguments for `objs`, laid out after a few bytes of other data, with fresh salts. */
function batchOf(objs: Obj[], level: number): SealBatchArgs {
  const jobs = new Int32Array(objs.length * 4)
  const parts: Uint8Array[] = [Buffer.from('lead')]
  let at = 4
  let capacity = 0
  objs.forEach((o, i) => {
    jobs.set([at, o.id.length, o.header.length, o.plain.length], i * 4)
    parts.push(o.id, o.header, o.plain)
    at += o.id.length + o.header.length + o.plain.length
    capacity += o.header.length + 32 + padmeLength(9 + o.plain.length)
  })
  return { dataKey: keys.dataKey, level, input: Buffer.concat(parts), jobs, salts: cryptoRandomBytes(objs.length * 16), out: Buffer.alloc(capacity), results: new Int32Array(objs.length * 3) }
}

function checkAgainstJs(t: Test, objs: Obj[], a: SealBatchArgs, label: string): void {
  let expectedAt = 0
  let mismatches = 0
  objs.forEach((o, i) => {
    const [at, length, compressedBytes] = a.results.subarray(i * 3, i * 3 + 3)
    const reference = sealObject(keys, o.id, o.header, o.plain, { salt: a.salts.subarray(i * 16, i * 16 + 16), level: a.level })
    const got = a.out.subarray(at, at + length)
    if (at !== expectedAt || Buffer.compare(got, reference.envelope) !== 0 || compressedBytes !== reference.compressedBytes) {
      mismatches++
      t.fail(`${label}: object ${i} (${o.plain.length} bytes) differs from sealObject`)
    }
    expectedAt = at + length
    const opened = openObject(keys, o.id, got)
    t.equal(Buffer.compare(opened.plain, o.plain), 0, `${label}: object ${i} opens to its plaintext`)
  })
  t.equal(mismatches, 0, `${label}: all ${objs.length} envelopes equal sealObject's for the same salt`)
}

t.test('sealBatchSync equals sealObject byte for byte at zstd levels 1, 3 and 9', async (t) => {
  for (const level of [1, 3, 9]) {
    const a = batchOf(objects, level)
    sealBatchSync(a)
    checkAgainstJs(t, objects, a, `level ${level}`)
  }
})

t.test('sealBatch on the seal threads equals sealObject, many batches at once', async (t) => {
  const batches = [0, 1, 2, 3, 4, 5].map((k) => batchOf(objects.filter((_, i) => i % 6 === k), 3))
  await Promise.all(batches.map((a) => sealBatch(a, 2)))
  batches.forEach((a, k) => checkAgainstJs(t, objects.filter((_, i) => i % 6 === k), a, `batch ${k}`))
})

t.test('salts decide the ciphertext: another salt, another envelope', async (t) => {
  const o = [chunk(text(10_000))]
  const a = batchOf(o, 3)
  const b = { ...batchOf(o, 3), input: a.input, jobs: a.jobs }
  sealBatchSync(a)
  sealBatchSync(b)
  t.not(Buffer.compare(a.out.subarray(0, a.results[1]), b.out.subarray(0, b.results[1])), 0)
})

t.test('bad arguments are clear errors; a too small output is refused, not overrun', async (t) => {
  const o = [chunk(text(10_000)), chunk(pseudoRandom(9, 5000))]
  const good = batchOf(o, 3)
  t.throws(() => sealBatchSync({ ...good, dataKey: new Uint8Array(31) }), { name: 'TypeError', message: /"dataKey" argument must be 32 bytes/ })
  t.throws(() => sealBatchSync({ ...good, jobs: new Int32Array([0, 32, 1]) }), { name: 'TypeError', message: /4 numbers per job/ })
  t.throws(() => sealBatchSync({ ...good, jobs: Int32Array.from([4, 32, 1, good.input.length]) , salts: good.salts.subarray(0, 16), results: new Int32Array(3) }), {
    name: 'RangeError',
    message: /a job lies outside the input/,
  })
  t.throws(() => sealBatchSync({ ...good, jobs: Int32Array.from([4, 32, 1, -1]), salts: good.salts.subarray(0, 16), results: new Int32Array(3) }), { name: 'RangeError' })
  t.throws(() => sealBatchSync({ ...good, salts: good.salts.subarray(0, 16) }), { name: 'TypeError', message: /salts must hold 16 bytes/ })
  t.throws(() => sealBatchSync({ ...good, results: new Int32Array(5) }), { name: 'TypeError', message: /results 3 numbers per job/ })
  t.throws(() => sealBatchSync({ ...good, input: 'text' as unknown as Uint8Array }), { name: 'TypeError', message: /"input" argument/ })
  t.throws(() => sealBatch(good, 0), { name: 'TypeError', message: /"threads" argument/ })

  // exactly what the batch takes, less one byte: the last object does not fit
  sealBatchSync(good)
  const needed = good.results[3] + good.results[4]
  const guard = Buffer.alloc(64, 0xa5)
  const out = Buffer.concat([Buffer.alloc(needed - 1), guard])
  t.throws(() => sealBatchSync({ ...good, out: out.subarray(0, needed - 1) }), { message: /output buffer too small/ })
  t.equal(Buffer.compare(out.subarray(needed - 1), guard), 0, 'nothing written past the output')
  await t.rejects(sealBatch({ ...good, out: Buffer.alloc(needed - 1) }, 2), { message: /output buffer too small/ })
})

t.test('the SealPool seals natively: results open and match the inline pool', async (t) => {
  const inline = new SealPool(keys, { threads: 0 })
  const native = new SealPool(keys, { threads: 2 })
  t.teardown(() => Promise.all([native.close(), inline.close()]))
  const many = Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? chunk(text(1000 + 37 * i)) : i % 3 === 1 ? chunk(pseudoRandom(i, 500 + 11 * i)) : objects[i % objects.length]))
  const submit = (pool: SealPool) => Promise.all(many.map((o) => pool.submit({ op: 'seal', id: o.id, header: o.header, data: o.plain })))
  const [fromNative, fromInline] = await Promise.all([submit(native), submit(inline)])
  let bad = 0
  many.forEach((o, i) => {
    const n = fromNative[i]
    const opened = openObject(keys, o.id, n.data)
    if (Buffer.compare(opened.plain, o.plain) !== 0) bad++
    if (n.compressedBytes !== fromInline[i].compressedBytes) bad++
    if (n.data.length !== fromInline[i].data.length || n.plainBytes !== o.plain.length) bad++
  })
  t.equal(bad, 0, `all ${many.length} natively sealed objects open and agree in sizes with the inline pool`)

  // an open job whose plaintext comes back is not for the seal threads: it runs on the calling thread
  const sealed = fromNative[1].data
  const [opened, sealedAlongside] = await Promise.all([
    native.submit({ op: 'open', id: many[1].id, data: sealed }),
    native.submit({ op: 'seal', id: many[2].id, header: many[2].header, data: many[2].plain }),
  ])
  t.equal(Buffer.compare(opened.data, many[1].plain), 0, 'an open job through the native pool is answered')
  t.equal(Buffer.compare(openObject(keys, many[2].id, sealedAlongside.data).plain, many[2].plain), 0, 'a seal in the same batch too')
})

/** Sealed chunks in a pack-like file (between filler bytes) and in an input buffer, for openBatch. */
function openFixture(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'arca-native-open-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const plains = [text(200_000), pseudoRandom(5, 70_000), Buffer.alloc(300_000), text(10), Buffer.alloc(0), text(2 * MiB + 3)]
  const chunks = plains.map((p) => chunk(p))
  const envelopes = chunks.map((c) => sealObject(keys, c.id, c.header, c.plain).envelope)
  const offsets: number[] = []
  const parts: Buffer[] = []
  let at = 0
  envelopes.forEach((e) => {
    parts.push(Buffer.from('filler'))
    at += 6
    offsets.push(at)
    parts.push(e)
    at += e.length
  })
  const pack = join(dir, 'pack')
  writeFileSync(pack, Buffer.concat(parts))
  const target = join(dir, 'target')
  const positions: number[] = []
  let end = 0
  for (const p of plains) {
    positions.push(end)
    end += p.length
  }
  return { dir, plains, chunks, envelopes, offsets, pack, target, positions, size: end }
}

/** openBatch arguments: chunk i from the pack file when `fromFile(i)`, else from the input; written to fd or dropped. */
function openArgs(f: ReturnType<typeof openFixture>, fd: number, fromFile: (i: number) => boolean, envelopes = f.envelopes, paths = [f.pack]) {
  const parts: Uint8Array[] = []
  let at = 0
  const jobs = new Int32Array(f.chunks.length * 6)
  const places = new Float64Array(f.chunks.length * 2)
  f.chunks.forEach((c, i) => {
    const inFile = fromFile(i)
    parts.push(c.id)
    if (!inFile) parts.push(envelopes[i])
    jobs.set([at, at + 32, envelopes[i].length, inFile ? 0 : -1, fd, 0], i * 6)
    places[i * 2] = f.offsets[i]
    places[i * 2 + 1] = f.positions[i]
    at += 32 + (inFile ? 0 : envelopes[i].length)
  })
  return { dataKey: keys.dataKey, chunkIdKey: keys.chunkIdKey, input: Buffer.concat(parts), jobs, places, paths, results: new Int32Array(f.chunks.length * 3) }
}

t.test('openBatch writes chunks from a pack file and from the input where asked, leaves zeros as holes, or drops them', async (t) => {
  const f = openFixture(t)
  const fd = openSync(f.target, 'w+')
  const written = openArgs(f, fd, (i) => i % 2 === 0)
  await openBatch(written, 2)
  closeSync(fd)
  const expected = Buffer.concat(f.plains)
  const got = readFileSync(f.target)
  t.equal(got.length, expected.length, 'the file ends with the last chunk')
  t.equal(Buffer.compare(got, expected), 0, 'every chunk is in its place')
  f.plains.forEach((p, i) => {
    t.same([...written.results.subarray(i * 3, i * 3 + 3)], [0, p.length, p.length > 0 && p.some((b) => b !== 0) ? 1 : 0], `chunk ${i}: done, its length, written unless all zeros`)
  })
  t.ok(statSync(f.target).blocks * 512 < expected.length - 200_000, 'the all-zero chunk is a hole')

  const dropped = openArgs(f, -2, (i) => i % 2 === 1)
  await openBatch(dropped, 1)
  f.plains.forEach((p, i) => t.same([...dropped.results.subarray(i * 3, i * 3 + 3)], [0, p.length, 0], `chunk ${i} verified and dropped`))
})

t.test('openBatch fails a damaged chunk, writes nothing of it and goes on with the others', async (t) => {
  const f = openFixture(t)
  const damaged = f.envelopes.map((e) => Buffer.from(e))
  damaged[0][damaged[0].length - 3] ^= 1 // the tag
  damaged[1][40] ^= 0x80 // the ciphertext
  const tree = sealObject(keys, f.chunks[5].id, envelopeHeader(ObjectKind.TREE, []), f.plains[5]).envelope
  damaged[5] = tree // a tree's envelope where a chunk is expected (its id is the chunk's: the AEAD binds it)
  const fd = openSync(f.target, 'w+')
  const a = openArgs(f, fd, () => false, damaged)
  await openBatch(a, 2)
  closeSync(fd)
  const status = f.chunks.map((_, i) => a.results[i * 3])
  t.same(status, [1, 1, 0, 0, 0, 1], 'only the intact chunks are done')
  const got = readFileSync(f.target)
  t.equal(got.length, f.positions[3] + f.plains[3].length, 'the file ends with the last intact chunk that is not zeros')
  t.equal(got.subarray(0, f.positions[3]).every((b) => b === 0), true, 'the failed chunks left nothing')
  t.equal(Buffer.compare(got.subarray(f.positions[3]), f.plains[3]), 0, 'the intact chunk is in its place')

  // a wrong id (the hash check), a missing file, a short read
  const g = openFixture(t)
  const wrongId = openArgs(g, -2, () => true)
  wrongId.input[0] ^= 1
  const missing = openArgs(g, -2, () => true, g.envelopes, [join(g.dir, 'absent')])
  const short = openArgs(g, -2, () => true)
  short.places[10] = statSync(g.pack).size - 10
  const otherKind = g.envelopes.map((e) => Buffer.from(e))
  otherKind[3][1] = ObjectKind.TREE // the kind in the cleartext header
  const kindChanged = openArgs(g, -2, () => false, otherKind)
  await Promise.all([openBatch(wrongId, 2), openBatch(missing, 2), openBatch(short, 2), openBatch(kindChanged, 2)])
  t.same([...kindChanged.results.filter((_, i) => i % 3 === 0)], [0, 0, 0, 1, 0, 0], 'a chunk whose cleartext kind was changed fails')
  t.equal(wrongId.results[0], 1, 'a chunk that does not hash to its id fails')
  t.same([...wrongId.results.filter((_, i) => i % 3 === 0)].slice(1), [0, 0, 0, 0, 0], 'the others do not')
  t.same([...missing.results.filter((_, i) => i % 3 === 0)], [1, 1, 1, 1, 1, 1], 'a missing pack file fails every chunk in it')
  t.equal(short.results[15], 1, 'an envelope past the end of its file fails')

  t.throws(() => openBatch({ ...openArgs(g, -1, () => true) }, 2), { name: 'RangeError', message: /names no path or target/ })
  t.throws(() => openBatch({ ...openArgs(g, -2, () => true), paths: [] }, 2), { name: 'RangeError' })
  t.throws(() => openBatch({ ...openArgs(g, -2, () => true), places: new Float64Array(3) }, 2), { name: 'TypeError', message: /places 2/ })
})

t.test('the SealPool opens natively and reports a damaged chunk exactly as the inline pool does', async (t) => {
  const native = new SealPool(keys, { threads: 2 })
  const inline = new SealPool(keys, { threads: 0 })
  t.teardown(() => Promise.all([native.close(), inline.close()]))
  const f = openFixture(t)
  const damaged = f.envelopes.map((e) => Buffer.from(e))
  damaged[1][50] ^= 4
  const fd = openSync(f.target, 'w+')
  t.teardown(() => closeSync(fd))
  const outcome = (pool: SealPool, i: number, writeTo: boolean) =>
    pool
      .submit({ op: 'open', id: f.chunks[i].id, data: damaged[i], kind: ObjectKind.CHUNK, ...(writeTo ? { writeTo: { fd, position: f.positions[i] } } : { isDiscarded: true }) })
      .then((r) => `ok ${r.plainBytes} ${r.isWritten}`, (e: { code?: string; message: string }) => `${e.code}: ${e.message}`)
  const fromNative = await Promise.all(f.chunks.map((_, i) => outcome(native, i, true)))
  const fromInline = await Promise.all(f.chunks.map((_, i) => outcome(inline, i, false)))
  t.match(fromNative[1], /^INTEGRITY_ERROR: .*authentication tag does not match/)
  t.same(fromNative.map((o) => o.replace(/ (true|false)$/, '')), fromInline.map((o) => o.replace(/ (true|false)$/, '')), 'same results and errors as the inline pool')
  const got = readFileSync(f.target)
  f.plains.forEach((p, i) => {
    if (i !== 1) t.equal(Buffer.compare(got.subarray(f.positions[i], f.positions[i] + p.length), p.length === 0 ? Buffer.alloc(0) : p.every((b) => b === 0) ? Buffer.alloc(p.length) : p), 0, `chunk ${i} written in place`)
  })
})

t.test('the SealPool reuses output memory only once every object of a batch is released, and only once', async (t) => {
  const pool = new SealPool(keys, { threads: 1 })
  t.teardown(() => pool.close())
  // incompressible, so that a batch keeps all the room it took and a later object of that size fits where it was
  const o = [chunk(cryptoRandomBytes(5000)), chunk(cryptoRandomBytes(6000)), chunk(cryptoRandomBytes(7000)), chunk(cryptoRandomBytes(8000))]
  const sealOne = (x: Obj) => pool.submit({ op: 'seal', id: x.id, header: x.header, data: x.plain })
  const overlaps = (x: Uint8Array, y: Uint8Array) =>
    x.buffer === y.buffer && x.byteOffset < y.byteOffset + y.length && y.byteOffset < x.byteOffset + x.length
  const [a1, a2] = await Promise.all([sealOne(o[0]), sealOne(o[1])])
  t.ok(a1.data.buffer === a2.data.buffer && a2.data.byteOffset === a1.data.byteOffset + a1.data.length, 'two objects of one batch lie side by side in one output')
  const batchA = new Uint8Array(a1.data.buffer, a1.data.byteOffset, a1.data.length + a2.data.length)
  const kept = Buffer.from(batchA)
  a1.release?.()
  a1.release?.() // a second release of the same object counts nothing
  const b = await sealOne(o[2])
  t.notOk(overlaps(b.data, batchA), 'not reused while an object of the batch is unreleased')
  t.equal(Buffer.compare(batchA, kept), 0, 'the released object is left as it was')
  a2.release?.()
  const c = await sealOne(o[3])
  t.ok(c.data.buffer === a1.data.buffer && c.data.byteOffset === a1.data.byteOffset, 'reused once all its objects are released')
  t.equal(Buffer.compare(openObject(keys, o[3].id, c.data).plain, o[3].plain), 0, 'and what is sealed into it opens')
  const d = await sealOne(o[0])
  t.notOk(overlaps(d.data, c.data) || overlaps(d.data, b.data), 'memory in use is not handed out again')
  t.equal(Buffer.compare(openObject(keys, o[2].id, b.data).plain, o[2].plain), 0, 'what is in use stays intact')
})

t.test('the SealPool keeps only the sealed bytes of an output, not the room taken for the largest', async (t) => {
  const pool = new SealPool(keys, { threads: 1 })
  t.teardown(() => pool.close())
  const small = chunk(text(200_000))
  const x = await pool.submit({ op: 'seal', id: small.id, header: small.header, data: small.plain })
  t.ok(x.data.length < 100_000, `compressible: ${x.data.length} bytes sealed`)
  const y = await pool.submit({ op: 'seal', id: small.id, header: small.header, data: small.plain })
  t.equal(y.data.buffer, x.data.buffer, 'both in the arena')
  t.equal(y.data.byteOffset, x.data.byteOffset + Math.ceil(x.data.length / 64) * 64, 'the next output starts right after what was sealed')
  t.equal(Buffer.compare(openObject(keys, small.id, x.data).plain, small.plain), 0)
})
