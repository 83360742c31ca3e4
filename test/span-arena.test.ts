import t from 'tap'
import { SpanArena } from '../src/core/span-arena.js'

const overlaps = (x: Uint8Array, y: Uint8Array) => x.byteOffset < y.byteOffset + y.length && y.byteOffset < x.byteOffset + x.length

t.test('spans are given first fit from the lowest address and merged when given back', async (t) => {
  const arena = new SpanArena(1024)
  const a = arena.take(100)!
  const b = arena.take(64)!
  const c = arena.take(200)!
  t.same([a.byteOffset, b.byteOffset, c.byteOffset], [0, 128, 192], 'side by side, each rounded up to 64 bytes')
  t.same([a.length, b.length, c.length], [100, 64, 200], 'each as long as asked')
  t.ok(a.buffer === b.buffer && b.buffer === c.buffer, 'all in one buffer')
  t.equal(arena.usedBytes, 128 + 64 + 256)
  arena.give(b)
  t.equal(arena.take(64)!.byteOffset, 128, 'a freed gap is used again first')
  arena.give(a)
  t.equal(arena.take(200)!.byteOffset, 448, 'a gap too small is passed over')
  t.equal(arena.take(128)!.byteOffset, 0, 'and taken by a span it holds')
  t.equal(arena.highWaterBytes, 448 + 256)
  t.equal(arena.take(512), undefined, 'no gap holds it: undefined, for the caller to allocate')
})

t.test('gaps merge on both sides, so the whole arena is one span again once everything is back', async (t) => {
  const arena = new SpanArena(64 * 8)
  const spans = Array.from({ length: 8 }, () => arena.take(64)!)
  t.equal(arena.take(1), undefined, 'full')
  for (const i of [1, 3, 2, 0, 7, 5, 6, 4]) arena.give(spans[i])
  t.equal(arena.usedBytes, 0)
  t.equal(arena.take(64 * 8)?.byteOffset, 0, 'one gap of the whole capacity')
})

t.test('shrink gives back the tail of a span and keeps its bytes', async (t) => {
  const arena = new SpanArena(4096)
  const a = arena.take(1000)!
  a.fill(7)
  const kept = arena.shrink(a, 100)
  t.equal(kept.byteOffset, a.byteOffset)
  t.equal(kept.length, 100)
  t.ok(kept.every((x) => x === 7), 'the kept bytes are unchanged')
  t.equal(arena.take(500)!.byteOffset, 128, 'the tail is free at once')
  t.throws(() => arena.shrink(kept, 200), /Cannot shrink a span of 100 bytes to 200/)
})

t.test('buffers the arena did not give are left alone', async (t) => {
  const arena = new SpanArena(1024)
  const own = arena.take(64)!
  const other = new Uint8Array(64)
  t.notOk(arena.owns(other))
  arena.give(other)
  t.equal(arena.shrink(other, 10).length, 10, 'shrink of a foreign buffer is a plain subarray')
  t.equal(arena.usedBytes, 64, 'nothing of the arena changed')
  arena.give(own)
  arena.give(own)
  t.equal(arena.usedBytes, 0, 'a span given twice counts once')
  t.equal(arena.take(1024)?.byteOffset, 0)
})

t.test('bad sizes are clear errors', async (t) => {
  t.throws(() => new SpanArena(100), /SpanArena capacity must be a positive multiple of 64 bytes, received 100/)
  t.throws(() => new SpanArena(0), /received 0/)
  t.throws(() => new SpanArena(1024).take(-1), /Span length must be a whole number of bytes, received -1/)
  t.throws(() => new SpanArena(1024).take(1.5), /received 1.5/)
})

t.test('random takes and gives never hand out bytes in use', async (t) => {
  let seed = 12345
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const arena = new SpanArena(64 * 1024)
  const live: { span: Uint8Array; mark: number }[] = []
  let overlapsSeen = 0
  let damaged = 0
  let refused = 0
  for (let step = 0; step < 5000; step++) {
    if (live.length > 0 && random(3) === 0) {
      const [{ span, mark }] = live.splice(random(live.length), 1)
      if (!span.every((x) => x === mark)) damaged++
      arena.give(span)
      continue
    }
    const span = arena.take(1 + random(4000))
    if (span === undefined) {
      refused++
      continue
    }
    for (const l of live) if (overlaps(l.span, span)) overlapsSeen++
    const mark = step % 251
    span.fill(mark)
    live.push({ span, mark })
  }
  t.equal(overlapsSeen, 0, 'no span overlaps one in use')
  t.equal(damaged, 0, 'no span in use was written by another')
  t.ok(refused > 0, `the arena filled up at times (${refused} refusals), so reuse was exercised`)
  for (const { span } of live) arena.give(span)
  t.equal(arena.usedBytes, 0)
  t.equal(arena.take(64 * 1024)?.byteOffset, 0, 'everything came back as one gap')
})
