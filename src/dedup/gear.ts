/**
 * The gear table of the content-defined chunker: 256 pseudo-random 32-bit words derived from a vault's secret
 * chunker seed, so that chunk boundaries (and with them chunk sizes) reveal nothing to someone without the seed.
 */
import { hash } from 'blake3'

/** Length in bytes of a chunker seed. */
export const GEAR_SEED_BYTES = 32

/**
 * Derives the gear table from a 32-byte secret seed: the first 1024 bytes of the BLAKE3 extendable output of the
 * seed, read as 256 little-endian uint32. Throws a plain `Error` (a programmer error) if the seed is not 32 bytes.
 */
export function gearTable(seed: Uint8Array): Uint32Array {
  if (!(seed instanceof Uint8Array) || seed.length !== GEAR_SEED_BYTES) {
    const received = seed instanceof Uint8Array ? `${seed.length} bytes` : typeof seed
    throw new Error(`Invalid chunker seed: expected ${GEAR_SEED_BYTES} bytes, received ${received}`)
  }
  const stream = hash(seed, { length: 1024 })
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength)
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) table[i] = view.getUint32(i * 4, true)
  return table
}
