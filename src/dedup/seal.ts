/**
 * Sealing: compress, pad and encrypt one object (chunk or tree) so that only holders of the vault's data key can
 * read it, and any change to the ciphertext, the id or the associated header is detected.
 *
 * sealed    = salt (16) | ciphertext | tag (16)
 * plaintext = compression (u8) | rawLength (u32 LE) | bodyLength (u32 LE) | body | zero padding,
 *             padded to padmeLength(9 + bodyLength)
 * key       = keyed BLAKE3(dataKey, salt)      one fresh AES-256-GCM key per object: nonce reuse is impossible
 * nonce     = 12 zero bytes                    by construction, as each key encrypts exactly one message
 * aad       = supplied by the caller; it binds the object id and the cleartext envelope header
 */
import { createCipheriv, createDecipheriv, randomBytes, type Decipher } from 'node:crypto'
import { ArcaError } from '../core/errors.js'
import { keyedBlake3 } from './blake3.js'
import { compressChunk, decompressChunk } from './compression.js'
import { padmeLength } from './padme.js'

export const SALT_BYTES = 16
export const TAG_BYTES = 16
const HEADER_BYTES = 9
const ZERO_NONCE = Buffer.alloc(12)
export const MAX_RAW_BYTES = 0xffffffff
/** Bytes per node:crypto `update` call when decrypting into the scratch buffer (see `decryptIntoScratch`). */
const SLICE_BYTES = 64 * 1024

export interface SealOptions {
  /** Compress before encrypting (default true). */
  compress?: boolean
  /** zstd level (default 3). */
  level?: number
  /** For golden vectors only: a fixed salt. Never pass this in production code. */
  salt?: Uint8Array
  /** Bytes placed before the sealed payload in the returned buffer (an envelope header), saving a copy. */
  prefix?: Uint8Array
}

/** The most bytes `seal` gives for `plainLength` bytes (no prefix): a body is only stored compressed when shorter. */
export function maxSealedLength(plainLength: number): number {
  return SALT_BYTES + padmeLength(HEADER_BYTES + plainLength) + TAG_BYTES
}

/**
 * Room for sealing `plainLength` bytes in place (the native addon compresses straight into its output): the sealed
 * length at most, and room for zstd's worst case (`ZSTD_COMPRESSBOUND`), so that zstd never runs short of room and
 * makes the same body as `seal`.
 */
export function sealingRoom(plainLength: number): number {
  const zstdBound = plainLength + Math.floor(plainLength / 256) + (plainLength < 128 * 1024 ? Math.floor((128 * 1024 - plainLength) / 2048) : 0)
  return Math.max(maxSealedLength(plainLength), SALT_BYTES + HEADER_BYTES + zstdBound + TAG_BYTES)
}

export interface SealResult {
  /** prefix | sealed payload */
  sealed: Buffer
  /** Bytes of the compressed body before padding, for statistics. */
  compressedBytes: number
}

export function seal(dataKey: Uint8Array, plain: Uint8Array, aad: Uint8Array, options: SealOptions = {}): SealResult {
  const { parts, length, compressedBytes } = sealParts(dataKey, plain, aad, options)
  return { sealed: Buffer.concat(parts, length), compressedBytes }
}

export interface SealParts {
  /** prefix | salt | ciphertext pieces | tag, in order; their concatenation is `seal`'s output. */
  parts: Uint8Array[]
  length: number
  compressedBytes: number
}

/**
 * `seal` without the final concatenation: the pieces, in order. Besides fresh ciphertext, they are the caller's
 * `prefix` and a view of this thread's salt block, which is replaced, never overwritten: they stay valid across
 * later seals.
 */
export function sealParts(dataKey: Uint8Array, plain: Uint8Array, aad: Uint8Array, options: SealOptions = {}): SealParts {
  if (plain.length > MAX_RAW_BYTES) throw ArcaError.invalidArgument(`Object too large to seal: ${plain.length} bytes`)
  // a compressed body lives in the thread's scratch buffer: it is encrypted (copied out) before anything else compresses
  const { alg, body } = options.compress === false ? { alg: 0, body: plain } : compressChunk(plain, options.level ?? 3)
  const paddedLength = padmeLength(HEADER_BYTES + body.length)
  const salt = options.salt ?? nextSalt()
  const key = keyedBlake3(dataKey, salt)
  const cipher = createCipheriv('aes-256-gcm', key, ZERO_NONCE)
  cipher.setAAD(aad)
  const header = Buffer.alloc(HEADER_BYTES)
  header[0] = alg
  header.writeUInt32LE(plain.length, 1)
  header.writeUInt32LE(body.length, 5)
  const parts: Uint8Array[] = []
  if (options.prefix !== undefined) parts.push(options.prefix)
  parts.push(salt, cipher.update(header), cipher.update(body))
  const padding = paddedLength - HEADER_BYTES - body.length
  if (padding > 0) {
    if (zeros.length < padding) zeros = Buffer.alloc(Math.max(padding, 64 * 1024))
    parts.push(cipher.update(zeros.subarray(0, padding)))
  }
  const tail = cipher.final() // GCM is a stream mode: nothing is held back
  if (tail.length > 0) parts.push(tail)
  parts.push(cipher.getAuthTag())
  const length = (options.prefix?.length ?? 0) + SALT_BYTES + paddedLength + TAG_BYTES
  return { parts, length, compressedBytes: body.length }
}

/** Zero bytes for padding, shared by every seal of this thread (never written to). */
let zeros = Buffer.alloc(0)

/** Salts come from the CSPRNG in blocks: one call per 4096 seals instead of one per seal. */
let saltBlock = Buffer.alloc(0)
let saltAt = 0

function nextSalt(): Uint8Array {
  if (saltAt + SALT_BYTES > saltBlock.length) {
    saltBlock = randomBytes(SALT_BYTES * 4096)
    saltAt = 0
  }
  const salt = saltBlock.subarray(saltAt, saltAt + SALT_BYTES)
  saltAt += SALT_BYTES
  return salt
}

/** The plaintext of `sealed`; with `scratch`, see `decompressChunk` (valid until this thread's next scratch open). */
export function open(dataKey: Uint8Array, sealed: Uint8Array, aad: Uint8Array, scratch = false): Uint8Array {
  if (sealed.length < SALT_BYTES + HEADER_BYTES + TAG_BYTES) {
    throw ArcaError.integrity(`sealed object of ${sealed.length} bytes is shorter than the minimum`)
  }
  const salt = sealed.subarray(0, SALT_BYTES)
  const key = keyedBlake3(dataKey, salt)
  const decipher = createDecipheriv('aes-256-gcm', key, ZERO_NONCE)
  decipher.setAAD(aad)
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
  const cipherText = sealed.subarray(SALT_BYTES, sealed.length - TAG_BYTES)
  let plain: Buffer
  try {
    if (scratch) plain = decryptIntoScratch(decipher, cipherText)
    else {
      const head = decipher.update(cipherText)
      const tail = decipher.final() // GCM is a stream mode: nothing is held back, so no concatenation (copy) is needed
      plain = tail.length === 0 ? head : Buffer.concat([head, tail])
    }
  } catch (err) {
    throw ArcaError.integrity('authentication tag does not match (corrupted or tampered object)', err)
  }
  const alg = plain[0]
  const rawLength = plain.readUInt32LE(1)
  const bodyLength = plain.readUInt32LE(5)
  if (HEADER_BYTES + bodyLength > plain.length) throw ArcaError.integrity('recorded body length exceeds sealed payload')
  return decompressChunk(alg, plain.subarray(HEADER_BYTES, HEADER_BYTES + bodyLength), rawLength, scratch)
}

/** Decrypted payloads of scratch opens, per thread (see `open`). */
let openScratch = Buffer.alloc(0)

/**
 * Decrypts in slices into this thread's scratch buffer: node:crypto allocates a fresh output per `update`, and one
 * chunk-sized allocation per object kept glibc's arenas large (measured with the worker threads that opened
 * chunks before the native seal threads did). The plaintext is
 * only used once `final` has verified the tag.
 */
function decryptIntoScratch(decipher: Decipher, cipherText: Uint8Array): Buffer {
  if (openScratch.length < cipherText.length) openScratch = Buffer.allocUnsafeSlow(Math.max(cipherText.length, 1024 * 1024))
  let at = 0
  for (let from = 0; from < cipherText.length; from += SLICE_BYTES) {
    const out = decipher.update(cipherText.subarray(from, from + SLICE_BYTES))
    openScratch.set(out, at)
    at += out.length
  }
  const tail = decipher.final()
  openScratch.set(tail, at)
  return openScratch.subarray(0, at + tail.length)
}
