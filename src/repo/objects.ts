/**
 * Ids and sealing of stored objects. A chunk id is the keyed BLAKE3 of the chunk's plaintext; a tree id is the
 * keyed BLAKE3 (another key) of its envelope header and plaintext. The AEAD binds the id and the cleartext header.
 */
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { keyedBlake3 } from '../dedup/blake3.js'
import { open, seal } from '../dedup/seal.js'
import type { VaultKeys } from '../dedup/vault-keys.js'
import { decodeEnvelope, envelopeHeader, ObjectKind } from '../protocol/object-envelope.js'

const AAD_PREFIX = Buffer.from('arca/object/v1')

export type ObjectKeys = Pick<VaultKeys, 'chunkIdKey' | 'treeIdKey' | 'dataKey'>

export function objectAad(id: Uint8Array, header: Uint8Array): Buffer {
  return Buffer.concat([AAD_PREFIX, id, header])
}

export function chunkId(keys: Pick<VaultKeys, 'chunkIdKey'>, plain: Uint8Array): Uint8Array {
  return keyedBlake3(keys.chunkIdKey, plain)
}

export function treeId(keys: Pick<VaultKeys, 'treeIdKey'>, header: Uint8Array, plain: Uint8Array): Uint8Array {
  return keyedBlake3(keys.treeIdKey, Buffer.concat([header, plain]))
}

export const CHUNK_HEADER = envelopeHeader(ObjectKind.CHUNK, [])

export interface SealedObject {
  envelope: Buffer
  compressedBytes: number
}

export function sealObject(
  keys: ObjectKeys,
  id: Uint8Array,
  header: Uint8Array,
  plain: Uint8Array,
  options: { salt?: Uint8Array; level?: number } = {},
): SealedObject {
  const { sealed, compressedBytes } = seal(keys.dataKey, plain, objectAad(id, header), { ...options, prefix: header })
  return { envelope: sealed, compressedBytes }
}

/** Opens an envelope and checks that its plaintext hashes to `id`. */
export function openObject(
  keys: ObjectKeys,
  id: Uint8Array,
  envelope: Uint8Array,
  expectedKind?: ObjectKind,
  /** The plaintext may live in this thread's scratch buffer (see `open`): consume it before the next such call. */
  scratch = false,
): { kind: ObjectKind; refs: Uint8Array[]; plain: Uint8Array } {
  const env = decodeEnvelope(envelope)
  if (expectedKind !== undefined && env.kind !== expectedKind) {
    throw ArcaError.integrity(`object ${toHex(id)} is of kind ${env.kind}, expected ${expectedKind}`)
  }
  const plain = open(keys.dataKey, env.sealed, objectAad(id, env.header), scratch)
  const actual = env.kind === ObjectKind.CHUNK ? chunkId(keys, plain) : treeId(keys, env.header, plain)
  if (Buffer.compare(actual, id) !== 0) throw ArcaError.integrity(`object ${toHex(id)} hashes to ${toHex(actual)}`)
  return { kind: env.kind, refs: env.refs, plain }
}
