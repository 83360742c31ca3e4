/**
 * The WebAssembly engine of the chunker: the hot loop of chunker-wasm.wat, fed through its linear memory.
 * The compiled module is loaded lazily (on the first wasm chunker, never at import) from the .wasm committed
 * beside the .wat: `tsc` copies only .ts into dist/, so from dist/dedup/ it is found in ../../src/dedup/.
 */
import { readFileSync } from 'node:fs'

/** Finds the first cut of a chunk; implemented by the JS engine (chunker.ts) and the wasm engine (this file). */
export interface CutFinder {
  /**
   * Tests each byte of data[from, to), after hashing the 31 bytes before `from` to warm up, against `maskS` for
   * bytes before `normal` and `maskL` from there on. Returns the index just past the first byte whose gear hash
   * has all masked bits zero, or -1. Requires 31 <= from <= normal <= to <= data.length.
   */
  findCut(data: Uint8Array, from: number, normal: number, to: number): number
}

/** Bytes hashed before the first tested byte: the window of a 32-bit gear hash is 32 bytes. */
const WARM_UP_BYTES = 31
/** Where the bytes to scan start in linear memory; the gear table sits below. */
const DATA_OFFSET = 1024
const PAGE_BYTES = 65536
const WASM_LOCATIONS = ['./chunker-wasm.wasm', '../../src/dedup/chunker-wasm.wasm']

type ScanFn = (from: number, to: number, mask: number) => number

let compiled: WebAssembly.Module | undefined

/** Compiles chunker-wasm.wasm once, from beside this file or from the source tree when running from dist/. */
function loadModule(): WebAssembly.Module {
  if (compiled !== undefined) return compiled
  const tried: string[] = []
  for (const location of WASM_LOCATIONS) {
    const url = new URL(location, import.meta.url)
    let bytes: Uint8Array<ArrayBuffer>
    try {
      bytes = new Uint8Array(readFileSync(url))
    } catch {
      tried.push(url.pathname)
      continue
    }
    compiled = new WebAssembly.Module(bytes)
    return compiled
  }
  throw new Error(`Chunker WebAssembly module not found: tried "${tried.join('", "')}"`)
}

/**
 * Instantiates the wasm engine with its own memory, holding `gear` and room for a scan window of up to
 * `maxWindowBytes` bytes (31 warm-up bytes plus the tested ones). Throws if the module cannot be loaded.
 */
export function createWasmCutFinder(
  gear: Uint32Array,
  maskS: number,
  maskL: number,
  maxWindowBytes: number,
): CutFinder {
  const instance = new WebAssembly.Instance(loadModule(), {})
  const memory = instance.exports.memory as WebAssembly.Memory
  const scan = instance.exports.scan as ScanFn
  const neededPages = Math.ceil((DATA_OFFSET + maxWindowBytes) / PAGE_BYTES)
  const currentPages = memory.buffer.byteLength / PAGE_BYTES
  if (neededPages > currentPages) memory.grow(neededPages - currentPages)
  const bytes = new Uint8Array(memory.buffer)
  const gearView = new DataView(memory.buffer, 0, DATA_OFFSET)
  for (let i = 0; i < 256; i++) gearView.setUint32(i * 4, gear[i], true)
  const capacity = bytes.length - DATA_OFFSET

  return {
    findCut(data, from, normal, to) {
      const begin = from - WARM_UP_BYTES
      if (to - begin > capacity) {
        throw new RangeError(`Chunker scan window too large: at most ${capacity} bytes, received ${to - begin}`)
      }
      // Data index i lives at address i + shift. Bytes past `normal` are copied only if the first pass fails.
      const shift = DATA_OFFSET - begin
      bytes.set(data.subarray(begin, normal), DATA_OFFSET)
      let end = scan(from + shift, normal + shift, maskS)
      if (end === 0 && normal < to) {
        bytes.set(data.subarray(normal, to), normal + shift)
        end = scan(normal + shift, to + shift, maskL)
      }
      return end === 0 ? -1 : end - shift
    },
  }
}
