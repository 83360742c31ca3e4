/**
 * Content-defined chunker (src/dedup/chunker.ts, gear.ts, chunker-wasm.*): golden vectors, a plain reference
 * implementation of the cut rule, coverage and size properties, boundary stability, wasm == js, streaming input
 * and parameter validation. Inputs come from a seeded xorshift32 stream, so every run sees the same bytes.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import {
  FILE_CHUNKER,
  SMALL_CHUNKER,
  chunkBuffer,
  createChunker,
  validateChunkerParams,
  type Chunker,
  type ChunkerParams,
} from '../src/dedup/chunker.js'
import { gearTable } from '../src/dedup/gear.js'

const TEST_CHUNKER: ChunkerParams = { minBytes: 4096, avgBytes: 16384, maxBytes: 65536 }
const PARAM_SETS: Array<[string, ChunkerParams]> = [
  ['FILE_CHUNKER', FILE_CHUNKER],
  ['SMALL_CHUNKER', SMALL_CHUNKER],
  ['test', TEST_CHUNKER],
]
const MiB = 1024 * 1024
const SEED = Uint8Array.from({ length: 32 }, (_, i) => i)
const GEAR = gearTable(SEED)

/** xorshift32 (13, 17, 5) from `state`; each new state appended as 4 little-endian bytes. */
function xorshift32Bytes(state: number, lengthBytes: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(lengthBytes / 4) * 4)
  const view = new DataView(out.buffer)
  let x = state >>> 0
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    view.setUint32(i, x, true)
  }
  return out.subarray(0, lengthBytes)
}

/** The cut rule written out plainly (uint32 arithmetic, one byte at a time, hashing from minBytes - 32). */
function referenceCuts(gear: Uint32Array, p: ChunkerParams, data: Uint8Array): number[] {
  const avgBits = Math.log2(p.avgBytes)
  const maskS = 2 ** 32 - 2 ** (32 - (avgBits + 2))
  const maskL = 2 ** 32 - 2 ** (32 - (avgBits - 2))
  const lengths: number[] = []
  for (let start = 0; start < data.length; ) {
    const limit = Math.min(data.length - start, p.maxBytes)
    let length = limit
    let h = 0
    for (let j = p.minBytes - 32; j < limit; j++) {
      h = ((h << 1) + gear[data[start + j]]) >>> 0
      const mask = j < p.avgBytes ? maskS : maskL
      if (j >= p.minBytes - 1 && (h & mask) >>> 0 === 0) {
        length = j + 1
        break
      }
    }
    lengths.push(length)
    start += length
  }
  return lengths
}

function cutLengths(chunker: Chunker, data: Uint8Array): number[] {
  return [...chunkBuffer(chunker, data)].map((chunk) => chunk.length)
}

/** Absolute end offsets of the chunks. */
function cutEnds(lengths: number[]): number[] {
  let end = 0
  return lengths.map((length) => (end += length))
}

const engines = ['js', 'wasm', 'native'] as const

t.test('gear table: golden entries, determinism and seed checks', async (t) => {
  t.same([...GEAR.subarray(0, 4)], [0x57e928e5, 0xf47d0398, 0x9f3d5410, 0xec96e331])
  t.equal(GEAR.length, 256)
  t.same(gearTable(SEED), GEAR)
  const other = gearTable(Uint8Array.from({ length: 32 }, (_, i) => i + 1))
  t.not(other[0], GEAR[0])
  for (const length of [0, 31, 33]) {
    const message = `Invalid chunker seed: expected 32 bytes, received ${length} bytes`
    t.throws(() => gearTable(new Uint8Array(length)), { message })
  }
})

t.test('golden vector: exact cut lengths for a fixed seed and input', async (t) => {
  const fixture = JSON.parse(readFileSync(new URL('fixtures/chunker-golden.json', import.meta.url), 'utf8'))
  t.equal(fixture.seedHex, Buffer.from(SEED).toString('hex'))
  t.same(fixture.input.shifts, [13, 17, 5])
  const data = xorshift32Bytes(fixture.input.initialState, fixture.input.lengthBytes)
  t.equal(data.length, 4 * MiB)
  t.equal(fixture.vectors.length, 3)
  for (const vector of fixture.vectors) {
    const [, params] = PARAM_SETS.find(([name]) => name === vector.name)!
    t.same(vector.params, params, `${vector.name} params`)
    t.ok(vector.cutLengths.length >= 4, `${vector.name} has several cuts`)
    t.same(referenceCuts(GEAR, params, data), vector.cutLengths, `${vector.name} reference`)
    for (const engine of engines) {
      t.same(cutLengths(createChunker(GEAR, params, { engine }), data), vector.cutLengths, `${vector.name} ${engine}`)
    }
  }
})

t.test('parameter sets', async (t) => {
  t.same(FILE_CHUNKER, { minBytes: 512 * 1024, avgBytes: MiB, maxBytes: 8 * MiB })
  t.same(SMALL_CHUNKER, { minBytes: 16 * 1024, avgBytes: 64 * 1024, maxBytes: 512 * 1024 })
  for (const [, params] of PARAM_SETS) t.doesNotThrow(() => validateChunkerParams(params))
})

t.test('engines: native is used by default, wasm and js on request', async (t) => {
  t.equal(createChunker(GEAR, TEST_CHUNKER).engine, 'native')
  t.equal(createChunker(GEAR, TEST_CHUNKER, { engine: 'native' }).engine, 'native')
  t.equal(createChunker(GEAR, TEST_CHUNKER, { engine: 'wasm' }).engine, 'wasm')
  t.equal(createChunker(GEAR, TEST_CHUNKER, { engine: 'js' }).engine, 'js')
})

t.test('native, wasm and js cut identically on random data, zeros and the reference', async (t) => {
  const inputs: Array<[string, Uint8Array]> = [
    ['random', xorshift32Bytes(0x9e3779b9, 10 * MiB + 123)],
    ['zeros', new Uint8Array(8 * MiB + 5)],
    ['ones', new Uint8Array(8 * MiB + 1).fill(0xff)],
  ]
  for (const [paramName, params] of PARAM_SETS) {
    for (const [inputName, data] of inputs) {
      const js = cutLengths(createChunker(GEAR, params, { engine: 'js' }), data)
      const wasm = cutLengths(createChunker(GEAR, params, { engine: 'wasm' }), data)
      const native = cutLengths(createChunker(GEAR, params, { engine: 'native' }), data)
      t.ok(js.length >= 2, `${paramName} ${inputName}: ${js.length} chunks`)
      t.same(wasm, js, `${paramName} ${inputName}: wasm == js`)
      t.same(native, js, `${paramName} ${inputName}: native == js`)
      if (params !== FILE_CHUNKER) t.same(js, referenceCuts(GEAR, params, data), `${paramName} ${inputName}: reference`)
    }
  }
})

t.test('tiny params: edge cases (cut at exactly minBytes, mask switch at avgBytes) match the reference', async (t) => {
  const tiny: ChunkerParams = { minBytes: 64, avgBytes: 256, maxBytes: 1024 }
  const data = xorshift32Bytes(5, 2 * MiB)
  const expected = referenceCuts(GEAR, tiny, data)
  t.ok(expected.filter((length) => length === tiny.minBytes).length >= 2, 'some chunks are exactly minBytes')
  t.ok(expected.filter((length) => length === tiny.avgBytes + 1).length >= 2, 'some chunks end just past avgBytes')
  for (const engine of engines) t.same(cutLengths(createChunker(GEAR, tiny, { engine }), data), expected, engine)
})

t.test('chunks cover the data exactly and respect the size bounds', async (t) => {
  const random = xorshift32Bytes(7, 9 * MiB)
  for (const [paramName, p] of PARAM_SETS) {
    const { minBytes: min, avgBytes: avg, maxBytes: max } = p
    const sizes = [0, 1, min - 1, min, min + 1, avg, max, max + 1, 2 * max + 3]
    const inputs = [...sizes.map((size) => random.subarray(0, size)), random, new Uint8Array(p.maxBytes + 7)]
    for (const engine of engines) {
      const chunker = createChunker(GEAR, p, { engine })
      for (const data of inputs) {
        const chunks = [...chunkBuffer(chunker, data)]
        const label = `${paramName} ${engine} ${data.length} bytes`
        t.ok(Buffer.concat(chunks).equals(data), `${label}: concat(chunks) == data`)
        t.equal(chunks.length === 0, data.length === 0, `${label}: no chunks only for no data`)
        chunks.forEach((chunk, i) => {
          const isLast = i === chunks.length - 1
          if (chunk.length > p.maxBytes || chunk.length < (isLast ? 1 : p.minBytes)) {
            t.fail(`${label}: chunk ${i} of ${chunk.length} bytes out of bounds`)
          }
        })
      }
    }
  }
})

t.test('nextCut: exact results at the edges', async (t) => {
  const p = TEST_CHUNKER
  const zeros = new Uint8Array(3 * p.maxBytes)
  const random = xorshift32Bytes(11, 3 * p.maxBytes)
  for (const engine of engines) {
    const chunker = createChunker(GEAR, p, { engine })
    t.equal(chunker.nextCut(random, 5, 5, true), 0, 'empty range at eof')
    t.equal(chunker.nextCut(random, 5, 5, false), 0, 'empty range before eof')
    t.equal(chunker.nextCut(random, 0, p.minBytes - 1, false), 0, 'too short: needs more bytes')
    t.equal(chunker.nextCut(random, 0, p.minBytes - 1, true), p.minBytes - 1, 'short tail')
    t.equal(chunker.nextCut(zeros, 0, zeros.length, false), p.maxBytes, 'no boundary in zeros: cut at maxBytes')
    t.equal(chunker.nextCut(zeros, 100, 100 + p.maxBytes - 1, false), 0, 'no boundary yet: needs more bytes')
    t.equal(chunker.nextCut(zeros, 100, 100 + p.maxBytes - 1, true), p.maxBytes - 1, 'tail below maxBytes')
    const full = chunker.nextCut(random, 0, random.length, false)
    t.ok(full >= p.minBytes && full < p.maxBytes, `random data has a boundary (${full})`)
    t.equal(chunker.nextCut(random, 0, full, false), full, 'the boundary needs no bytes after it')
    t.equal(chunker.nextCut(random, 0, full - 1, false), 0, 'one byte short of the boundary')
    t.throws(() => chunker.nextCut(random, 10, 5, true), RangeError)
    t.throws(() => chunker.nextCut(random, 0, random.length + 1, true), RangeError)
  }
})

t.test('streaming: feeding bytes piecemeal gives the same cuts', async (t) => {
  const data = xorshift32Bytes(42, 3 * MiB)
  const chunker = createChunker(GEAR, TEST_CHUNKER)
  const expected = cutLengths(chunker, data)
  const got: number[] = []
  let start = 0
  let available = 0
  let step = 1
  while (start < data.length) {
    const isEof = available === data.length
    const length = chunker.nextCut(data, start, available, isEof)
    if (length === 0) {
      step = (step * 7 + 13) % 50_000
      available = Math.min(data.length, available + step)
      continue
    }
    got.push(length)
    start += length
  }
  t.ok(expected.length > 100)
  t.same(got, expected)
})

t.test('boundary stability: edits move only nearby boundaries', async (t) => {
  const original = xorshift32Bytes(0x1234567, 8 * MiB)
  const inserted = Buffer.concat([original.subarray(0, 1000), Buffer.from('arca!!'), original.subarray(1000)])
  const overwritten = Uint8Array.from(original)
  overwritten.fill(0x55, 4 * MiB, 4 * MiB + 100)
  for (const engine of engines) {
    const chunker = createChunker(GEAR, TEST_CHUNKER, { engine })
    const before = cutEnds(cutLengths(chunker, original))
    t.ok(before.length > 300, `${engine}: ${before.length} chunks`)
    const afterInsert = cutEnds(cutLengths(chunker, inserted))
    const kept = before.slice(2).map((end) => end + 6)
    const tail = afterInsert.slice(afterInsert.length - kept.length)
    t.same(tail, kept, `${engine}: all chunks after the first two are identical`)
    const afterOverwrite = cutEnds(cutLengths(chunker, overwritten))
    const beforeSet = new Set(before)
    const lost = before.filter((end) => !afterOverwrite.includes(end))
    const gained = afterOverwrite.filter((end) => !beforeSet.has(end))
    t.ok(lost.length + gained.length <= 4, `${engine}: overwrite changes ${lost.length} + ${gained.length} boundaries`)
    t.ok(lost.every((end) => end > 4 * MiB - TEST_CHUNKER.maxBytes && end < 4 * MiB + 2 * TEST_CHUNKER.maxBytes))
  }
})

t.test('different seeds give different boundaries', async (t) => {
  const data = xorshift32Bytes(99, 4 * MiB)
  const ends = cutEnds(cutLengths(createChunker(GEAR, TEST_CHUNKER), data))
  const otherSeed = Uint8Array.from(SEED)
  otherSeed[31] ^= 1
  const otherEnds = new Set(cutEnds(cutLengths(createChunker(gearTable(otherSeed), TEST_CHUNKER), data)))
  const shared = ends.filter((end) => otherEnds.has(end)).length
  t.ok(ends.length > 100)
  t.ok(shared <= 2, `only the end of the data is shared: ${shared} of ${ends.length}`)
})

t.test('invalid params are rejected with INVALID_ARGUMENT naming the field and value', async (t) => {
  const cases: Array<[Partial<ChunkerParams>, string]> = [
    [{ avgBytes: 20000 }, '"avgBytes" must be a power of two, received 20000'],
    [{ minBytes: 16384 }, '"minBytes" must be less than avgBytes (16384), received 16384'],
    [{ minBytes: 32 }, '"minBytes" must be at least 64, received 32'],
    [{ maxBytes: 16384 }, '"maxBytes" must be greater than avgBytes (16384), received 16384'],
    [{ maxBytes: 512 * MiB }, '"maxBytes" must be at most 268435456, received 536870912'],
    [{ avgBytes: 128, minBytes: 64 }, '"avgBytes" must be between 256 and 67108864, received 128'],
    [{ minBytes: 4096.5 }, '"minBytes" must be an integer, received 4096.5'],
    [{ maxBytes: Number.NaN }, '"maxBytes" must be an integer, received NaN'],
  ]
  for (const [patch, detail] of cases) {
    const params = { ...TEST_CHUNKER, ...patch }
    const expected = { code: 'INVALID_ARGUMENT', message: `Invalid chunker params: ${detail}` }
    t.throws(() => validateChunkerParams(params), expected, detail)
    t.throws(() => createChunker(GEAR, params), expected)
  }
  t.throws(() => createChunker(new Uint32Array(255), TEST_CHUNKER), { message: /gear table/ })
})

t.test('the committed .wasm is the assembled .wat', async (t) => {
  const script = '../scripts/build-wasm.mjs'
  const { assemble } = (await import(script)) as { assemble: (wat: string) => Promise<Uint8Array> }
  const wat = readFileSync(new URL('../src/dedup/chunker-wasm.wat', import.meta.url), 'utf8')
  const committed = readFileSync(new URL('../src/dedup/chunker-wasm.wasm', import.meta.url))
  t.same(Buffer.from(await assemble(wat)), committed)
})
