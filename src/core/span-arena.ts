/**
 * Spans of one large buffer (the seal pool's batch inputs and outputs, the remote store's kept puts): given out
 * first fit from the lowest address, given back in any order, with free gaps merged. The buffer is allocated on the
 * first `take` and its pages are touched only as far as spans have reached, so the resident memory is the
 * high-water mark of the bytes in use at once (plus gaps), not the capacity. When no gap holds a span, `take` answers undefined and the caller
 * allocates on its own (left to the collector): a span never given back costs memory, never correctness.
 */

const ALIGN = 64

interface Gap {
  start: number
  end: number
}

export class SpanArena {
  private memory: Uint8Array | undefined
  /** Free ranges, sorted by start, never adjacent (merged on give). */
  private readonly gaps: Gap[]
  /** Spans given out and not yet back: start -> reserved length. */
  private readonly inUse = new Map<number, number>()
  private highWater = 0

  constructor(readonly capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0 || capacityBytes % ALIGN !== 0) {
      throw new RangeError(`SpanArena capacity must be a positive multiple of ${ALIGN} bytes, received ${capacityBytes}`)
    }
    this.gaps = [{ start: 0, end: capacityBytes }]
  }

  /** Bytes reserved by spans given out and not yet back. */
  get usedBytes(): number {
    let n = 0
    for (const length of this.inUse.values()) n += length
    return n
  }

  /** The end of the highest span ever given out: how far the buffer's pages may have been touched. */
  get highWaterBytes(): number {
    return this.highWater
  }

  /** A span of `length` bytes at the lowest address that holds it, or undefined when none does. */
  take(length: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Span length must be a whole number of bytes, received ${length}`)
    const reserved = Math.max(ALIGN, Math.ceil(length / ALIGN) * ALIGN)
    const i = this.gaps.findIndex((g) => g.end - g.start >= reserved)
    if (i < 0) return undefined
    const gap = this.gaps[i]
    const start = gap.start
    gap.start += reserved
    if (gap.start === gap.end) this.gaps.splice(i, 1)
    this.inUse.set(start, reserved)
    this.highWater = Math.max(this.highWater, start + reserved)
    this.memory ??= new Uint8Array(Buffer.allocUnsafeSlow(this.capacityBytes).buffer, 0, this.capacityBytes)
    return this.memory.subarray(start, start + length)
  }

  /** Whether `span` is one of this arena's (rather than a buffer its caller allocated when `take` had none). */
  owns(span: Uint8Array): boolean {
    return this.memory !== undefined && span.buffer === this.memory.buffer && this.inUse.has(span.byteOffset)
  }

  /**
   * Keeps the first `length` bytes of a span still in use and gives the rest back: the span, shortened. A span
   * this arena did not give is returned as it is.
   */
  shrink(span: Uint8Array, length: number): Uint8Array {
    if (length > span.length) throw new RangeError(`Cannot shrink a span of ${span.length} bytes to ${length}`)
    if (!this.owns(span)) return span.subarray(0, length)
    const start = span.byteOffset
    const reserved = this.inUse.get(start)!
    const kept = Math.max(ALIGN, Math.ceil(length / ALIGN) * ALIGN)
    if (kept < reserved) {
      this.inUse.set(start, kept)
      this.release(start + kept, start + reserved)
    }
    return span.subarray(0, length)
  }

  /** Takes a span back; its bytes may be given out again at once. A buffer this arena did not give is ignored. */
  give(span: Uint8Array): void {
    if (!this.owns(span)) return
    const start = span.byteOffset
    const reserved = this.inUse.get(start)!
    this.inUse.delete(start)
    this.release(start, start + reserved)
  }

  private release(start: number, end: number): void {
    // the first gap after the range; merge with it and with the one before when they touch
    let i = 0
    while (i < this.gaps.length && this.gaps[i].start < start) i++
    const before = i > 0 ? this.gaps[i - 1] : undefined
    const after = i < this.gaps.length ? this.gaps[i] : undefined
    if (before !== undefined && before.end === start) {
      before.end = end
      if (after !== undefined && after.start === end) {
        before.end = after.end
        this.gaps.splice(i, 1)
      }
    } else if (after !== undefined && after.start === end) after.start = start
    else this.gaps.splice(i, 0, { start, end })
  }
}
