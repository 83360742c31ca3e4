/**
 * The key hierarchy of a vault. One random 32-byte master key; every working key is derived from it with BLAKE3
 * in derive_key mode under a distinct context string, so keys for different purposes are independent.
 */
import { randomBytes } from 'node:crypto'
import { deriveBlake3 } from './blake3.js'

export const MASTER_KEY_BYTES = 32

export interface VaultKeys {
  /** Keys the chunk id of file data: chunkId = keyed BLAKE3(chunkIdKey, plaintext). */
  readonly chunkIdKey: Uint8Array
  /** Keys the id of tree records (separate domain from file data). */
  readonly treeIdKey: Uint8Array
  /** Per-object AEAD keys are derived from this and a random salt (see seal.ts). */
  readonly dataKey: Uint8Array
  /** Seed of the chunker's gear table: boundaries reveal nothing without it. */
  readonly gearSeed: Uint8Array
  /** Keys plan ids: the store groups snapshots by plan without learning plan names. */
  readonly planIdKey: Uint8Array
  /** Authenticates the vault config record, and proves an unwrapped master key belongs to this vault. */
  readonly configMacKey: Uint8Array
}

export const KEY_CONTEXTS = {
  chunkIdKey: 'arca 2026-11-23 chunk id v1',
  treeIdKey: 'arca 2026-11-23 tree id v1',
  dataKey: 'arca 2026-11-23 data key v1',
  gearSeed: 'arca 2026-11-23 gear seed v1',
  planIdKey: 'arca 2026-11-23 plan id v1',
  configMacKey: 'arca 2026-11-23 config mac v1',
} as const satisfies Record<keyof VaultKeys, string>

export function newMasterKey(): Uint8Array {
  return randomBytes(MASTER_KEY_BYTES)
}

export function deriveVaultKeys(masterKey: Uint8Array): VaultKeys {
  if (masterKey.length !== MASTER_KEY_BYTES) {
    throw new Error(`Master key must be ${MASTER_KEY_BYTES} bytes, received ${masterKey.length}`)
  }
  const out = {} as Record<keyof VaultKeys, Uint8Array>
  for (const [name, context] of Object.entries(KEY_CONTEXTS) as [keyof VaultKeys, string][]) {
    out[name] = deriveBlake3(context, masterKey)
  }
  return out
}
