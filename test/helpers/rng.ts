import { createCipheriv } from 'node:crypto'

/** Seeded PRNG for tests (mulberry32): the same seed gives the same sequence of 32-bit integers. */
export function rng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return (x ^ (x >>> 14)) >>> 0
  }
}

/** Deterministic incompressible bytes: the AES-256-CTR keystream under a key made from the seed. */
export function pseudoRandom(seed: number, size: number): Buffer {
  return createCipheriv('aes-256-ctr', Buffer.alloc(32, seed & 0xff), Buffer.alloc(16)).update(Buffer.alloc(size))
}
