/**
 * The vault config record: public parameters of a vault, authenticated with a key derived from the master key
 * (so the storage side cannot alter them, and an unwrapped master key is proven to belong to this vault).
 *
 * record = version u8 (1) | vaultId (16) | createdAt u64 LE (ms)
 *          | fileChunker min, avg, max u32 LE | smallChunker min, avg, max u32 LE | zstdLevel u8 | mac (32)
 * mac    = keyed BLAKE3(configMacKey, record without mac)
 */
import { timingSafeEqual } from 'node:crypto'
import { ArcaError } from '../core/errors.js'
import { keyedBlake3 } from '../dedup/blake3.js'
import type { ChunkerParams } from '../dedup/chunker.js'

export const VAULT_CONFIG_VERSION = 1
const BODY_BYTES = 1 + 16 + 8 + 24 + 1
const MAC_BYTES = 32

export interface VaultConfig {
  vaultId: Uint8Array
  createdAt: number
  fileChunker: ChunkerParams
  smallChunker: ChunkerParams
  zstdLevel: number
}

export function encodeVaultConfig(config: VaultConfig, configMacKey: Uint8Array): Buffer {
  const body = Buffer.alloc(BODY_BYTES)
  body[0] = VAULT_CONFIG_VERSION
  body.set(config.vaultId, 1)
  body.writeBigUInt64LE(BigInt(config.createdAt), 17)
  let at = 25
  for (const p of [config.fileChunker, config.smallChunker]) {
    at = body.writeUInt32LE(p.minBytes, at)
    at = body.writeUInt32LE(p.avgBytes, at)
    at = body.writeUInt32LE(p.maxBytes, at)
  }
  body[at] = config.zstdLevel
  return Buffer.concat([body, keyedBlake3(configMacKey, body)])
}

/** Decodes without checking the MAC (no key yet): for showing the vault id before unlocking. */
export function decodeVaultConfig(record: Uint8Array): VaultConfig {
  const buf = Buffer.from(record.buffer, record.byteOffset, record.byteLength)
  if (buf.length < 1) throw ArcaError.badMessage('vault config', 'empty record')
  if (buf[0] !== VAULT_CONFIG_VERSION) throw ArcaError.unsupportedVersion('vault config', buf[0], VAULT_CONFIG_VERSION)
  if (buf.length !== BODY_BYTES + MAC_BYTES) {
    throw ArcaError.badMessage('vault config', `${buf.length} bytes, expected ${BODY_BYTES + MAC_BYTES}`)
  }
  const params = (at: number): ChunkerParams => ({
    minBytes: buf.readUInt32LE(at),
    avgBytes: buf.readUInt32LE(at + 4),
    maxBytes: buf.readUInt32LE(at + 8),
  })
  return {
    vaultId: buf.subarray(1, 17),
    createdAt: Number(buf.readBigUInt64LE(17)),
    fileChunker: params(25),
    smallChunker: params(37),
    zstdLevel: buf[49],
  }
}

export function verifyVaultConfig(record: Uint8Array, configMacKey: Uint8Array): boolean {
  const buf = Buffer.from(record.buffer, record.byteOffset, record.byteLength)
  if (buf.length !== BODY_BYTES + MAC_BYTES) return false
  const expected = keyedBlake3(configMacKey, buf.subarray(0, BODY_BYTES))
  return timingSafeEqual(expected, buf.subarray(BODY_BYTES))
}
