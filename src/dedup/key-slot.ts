/**
 * Key slots: the master key wrapped under a key derived from a passphrase with scrypt (memory-hard). Adding,
 * removing or changing a passphrase rewrites one slot; data is never re-encrypted.
 *
 * record = version u8 (1) | kdf u8 (1 = scrypt) | logN u8 | r u8 | p u8 | salt (16) | createdAt u64 LE (ms)
 *          | labelLength u8 | label (UTF-8) | wrapped master key (32) | tag (16)
 * kek    = scrypt(NFC(passphrase), salt, 32, N = 2^logN, r, p)
 * wrap   = AES-256-GCM(kek, nonce = 12 zero bytes, aad = "arca/keyslot/v1" | slotId | record up to the label)
 * The kek is used once (fresh random salt per slot), so the fixed nonce is never reused under one key.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto'
import { ArcaError } from '../core/errors.js'
import { MASTER_KEY_BYTES } from './vault-keys.js'

export const MIN_PASSPHRASE_CHARS = 20
export const KEY_SLOT_VERSION = 1
const KDF_SCRYPT = 1
const SALT_BYTES = 16
const TAG_BYTES = 16
const MAX_LABEL_BYTES = 64
const AAD_PREFIX = Buffer.from('arca/keyslot/v1')
const ZERO_NONCE = Buffer.alloc(12)

export interface KdfParams {
  logN: number
  r: number
  p: number
}

/** Production parameters: 2^17 x 8 x 128 B = 128 MiB, about 0.3-0.5 s here. */
export const DEFAULT_KDF: KdfParams = { logN: 17, r: 8, p: 1 }
/** For tests only (selected by ARCA_INSECURE_TEST_KDF=1 or passed explicitly). */
export const TEST_KDF: KdfParams = { logN: 10, r: 8, p: 1 }

export interface KeySlot {
  kdf: KdfParams
  salt: Uint8Array
  createdAt: number
  label: string
  wrapped: Uint8Array
}

export function checkPassphrase(passphrase: string): void {
  const length = [...passphrase.normalize('NFC')].length
  if (length < MIN_PASSPHRASE_CHARS) throw ArcaError.weakPassphrase(length, MIN_PASSPHRASE_CHARS)
}

/** Key slots come from the (untrusted) store before anything is authenticated: cap memory and work. */
const MAX_KDF_MEMORY_BYTES = 1024 * 1024 * 1024
const MAX_KDF_WORK = 2 ** 23 // N * r * p, 8x the default

function validateKdf(kdf: KdfParams): void {
  if (!Number.isInteger(kdf.logN) || kdf.logN < 10 || kdf.logN > 20) {
    throw ArcaError.badMessage('key slot', `scrypt logN must be 10-20, received ${kdf.logN}`)
  }
  if (!Number.isInteger(kdf.r) || kdf.r < 1 || kdf.r > 32) {
    throw ArcaError.badMessage('key slot', `scrypt r must be 1-32, received ${kdf.r}`)
  }
  if (!Number.isInteger(kdf.p) || kdf.p < 1 || kdf.p > 16) {
    throw ArcaError.badMessage('key slot', `scrypt p must be 1-16, received ${kdf.p}`)
  }
  const N = 2 ** kdf.logN
  if (128 * N * kdf.r > MAX_KDF_MEMORY_BYTES || N * kdf.r * kdf.p > MAX_KDF_WORK) {
    throw ArcaError.badMessage('key slot', `scrypt parameters N=2^${kdf.logN} r=${kdf.r} p=${kdf.p} exceed the memory or work limit`)
  }
}

function deriveKek(passphrase: string, salt: Uint8Array, kdf: KdfParams): Promise<Buffer> {
  const N = 2 ** kdf.logN
  return new Promise((resolve, reject) =>
    scryptCb(passphrase.normalize('NFC'), salt, 32, { N, r: kdf.r, p: kdf.p, maxmem: 256 * N * kdf.r }, (err, key) =>
      err ? reject(ArcaError.badMessage('key slot', `scrypt failed: ${err.message}`)) : resolve(key),
    ),
  )
}

function headerBytes(slot: Omit<KeySlot, 'wrapped'>): Buffer {
  const label = Buffer.from(slot.label, 'utf8')
  if (label.length > MAX_LABEL_BYTES) {
    throw ArcaError.invalidArgument(`Key label too long: at most ${MAX_LABEL_BYTES} bytes, received ${label.length}`)
  }
  const out = Buffer.alloc(5 + SALT_BYTES + 8 + 1 + label.length)
  out[0] = KEY_SLOT_VERSION
  out[1] = KDF_SCRYPT
  out[2] = slot.kdf.logN
  out[3] = slot.kdf.r
  out[4] = slot.kdf.p
  out.set(slot.salt, 5)
  out.writeBigUInt64LE(BigInt(slot.createdAt), 5 + SALT_BYTES)
  out[5 + SALT_BYTES + 8] = label.length
  label.copy(out, 5 + SALT_BYTES + 9)
  return out
}

function aad(slotId: Uint8Array, header: Uint8Array): Buffer {
  return Buffer.concat([AAD_PREFIX, slotId, header])
}

export async function createKeySlot(
  slotId: Uint8Array,
  masterKey: Uint8Array,
  passphrase: string,
  options: { kdf?: KdfParams; createdAt: number; label?: string; salt?: Uint8Array },
): Promise<Uint8Array> {
  checkPassphrase(passphrase)
  const kdf = options.kdf ?? DEFAULT_KDF
  validateKdf(kdf)
  const salt = options.salt ?? randomBytes(SALT_BYTES)
  const header = headerBytes({ kdf, salt, createdAt: options.createdAt, label: options.label ?? '' })
  const kek = await deriveKek(passphrase, salt, kdf)
  const cipher = createCipheriv('aes-256-gcm', kek, ZERO_NONCE)
  cipher.setAAD(aad(slotId, header))
  const wrapped = Buffer.concat([cipher.update(masterKey), cipher.final(), cipher.getAuthTag()])
  return Buffer.concat([header, wrapped])
}

export function decodeKeySlot(record: Uint8Array): KeySlot & { header: Uint8Array } {
  const buf = Buffer.from(record.buffer, record.byteOffset, record.byteLength)
  if (buf.length < 1) throw ArcaError.badMessage('key slot', 'empty record')
  if (buf[0] !== KEY_SLOT_VERSION) throw ArcaError.unsupportedVersion('key slot', buf[0], KEY_SLOT_VERSION)
  const fixed = 5 + SALT_BYTES + 9
  if (buf.length < fixed) throw ArcaError.badMessage('key slot', `record of ${buf.length} bytes is too short`)
  if (buf[1] !== KDF_SCRYPT) throw ArcaError.badMessage('key slot', `unknown KDF ${buf[1]}`)
  const kdf = { logN: buf[2], r: buf[3], p: buf[4] }
  validateKdf(kdf)
  const labelLength = buf[fixed - 1]
  if (labelLength > MAX_LABEL_BYTES) throw ArcaError.badMessage('key slot', `label length ${labelLength} too long`)
  const headerEnd = fixed + labelLength
  if (buf.length !== headerEnd + MASTER_KEY_BYTES + TAG_BYTES) {
    throw ArcaError.badMessage('key slot', `record is ${buf.length} bytes, expected ${headerEnd + MASTER_KEY_BYTES + TAG_BYTES}`)
  }
  return {
    kdf,
    salt: buf.subarray(5, 5 + SALT_BYTES),
    createdAt: safeNumber(buf.readBigUInt64LE(5 + SALT_BYTES)),
    label: buf.subarray(fixed, headerEnd).toString('utf8'),
    wrapped: buf.subarray(headerEnd),
    header: buf.subarray(0, headerEnd),
  }
}

/** The master key, or undefined when the passphrase does not open this slot. */
export async function openKeySlot(slotId: Uint8Array, record: Uint8Array, passphrase: string): Promise<Uint8Array | undefined> {
  const slot = decodeKeySlot(record)
  const kek = await deriveKek(passphrase, slot.salt, slot.kdf)
  const decipher = createDecipheriv('aes-256-gcm', kek, ZERO_NONCE)
  decipher.setAAD(aad(slotId, slot.header))
  decipher.setAuthTag(slot.wrapped.subarray(MASTER_KEY_BYTES))
  try {
    return Buffer.concat([decipher.update(slot.wrapped.subarray(0, MASTER_KEY_BYTES)), decipher.final()])
  } catch {
    return undefined
  }
}

function safeNumber(n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw ArcaError.badMessage('key slot', `createdAt ${n} out of range`)
  return Number(n)
}
