/**
 * BLAKE3: keyed hashes (ids, per-object keys, MACs) through Arca's native addon, which compiles the official C
 * implementation shipped in the `blake3` package's native binding (@c4312/blake3-native) without that binding's
 * per-hash object (0.4 us instead of about 7 us per small hash); plain hashing and key derivation through the
 * `blake3` package. A start-up self-test checks both against the official test vectors (a mis-built binding must
 * never silently produce wrong ids).
 */
import { deriveKey as nativeDeriveKey, hash as nativeHash } from 'blake3'
import { blake3KeyedInto } from '../core/native-addon.js'

const VECTOR_KEY = Buffer.from('whats the Elvish word for friend')
const EMPTY_HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'
const EMPTY_KEYED = '92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26'
const EMPTY_DERIVED = '2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d'
const VECTOR_CONTEXT = 'BLAKE3 2019-12-27 16:29:52 test vectors context'

let isSelfTested = false

/** Throws if the BLAKE3 binding does not reproduce the official vectors. Cached after the first success. */
export function blake3SelfTest(): void {
  if (isSelfTested) return
  const empty = Buffer.alloc(0)
  const got = [
    nativeHash(empty).toString('hex'),
    Buffer.from(keyedBlake3(VECTOR_KEY, empty)).toString('hex'),
    nativeDeriveKey(VECTOR_CONTEXT, empty).toString('hex'),
  ]
  const want = [EMPTY_HASH, EMPTY_KEYED, EMPTY_DERIVED]
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`BLAKE3 self-test failed: vector ${i} expected ${want[i]}, received ${got[i]}`)
    }
  }
  isSelfTested = true
}

/** 32-byte keyed BLAKE3 of `data`, in a Buffer of its own (never a slice of a shared pool). */
export function keyedBlake3(key: Uint8Array, data: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafeSlow(32)
  blake3KeyedInto(key, data, out)
  return out
}

/** BLAKE3 key derivation (`derive_key` mode) of `length` bytes. */
export function deriveBlake3(context: string, material: Uint8Array, length = 32): Uint8Array {
  return nativeDeriveKey(context, material, { length })
}
