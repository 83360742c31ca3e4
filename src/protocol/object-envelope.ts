/**
 * The envelope of a stored object: the cleartext header the storage side reads (kind and the ids the object
 * references) in front of the sealed payload it cannot read. Reachability, reference counts and space reclamation
 * work from these headers alone, without any key.
 *
 * envelope = version u8 (1) | kind u8 | refCount u32 LE | refs (refCount x 32 bytes) | sealed payload
 */
import { ArcaError } from '../core/errors.js'

export const ENVELOPE_VERSION = 1
export const ID_BYTES = 32
export const MAX_REFS = 1 << 20
/** Largest envelope accepted anywhere: an 8 MiB chunk with Padmé overhead, or a tree of up to a million refs. */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024

export const ObjectKind = { CHUNK: 1, TREE: 2 } as const
export type ObjectKind = (typeof ObjectKind)[keyof typeof ObjectKind]

export interface Envelope {
  kind: ObjectKind
  refs: Uint8Array[]
  /** Header bytes (version through refs): bound into the AEAD as associated data. */
  header: Uint8Array
  sealed: Uint8Array
}

export function envelopeHeader(kind: ObjectKind, refs: readonly Uint8Array[]): Buffer {
  if (refs.length > MAX_REFS) throw ArcaError.invalidArgument(`Too many references: ${refs.length} > ${MAX_REFS}`)
  const out = Buffer.allocUnsafe(6 + refs.length * ID_BYTES)
  out[0] = ENVELOPE_VERSION
  out[1] = kind
  out.writeUInt32LE(refs.length, 2)
  for (let i = 0; i < refs.length; i++) {
    if (refs[i].length !== ID_BYTES) throw new Error(`Reference ${i} is ${refs[i].length} bytes, expected ${ID_BYTES}`)
    out.set(refs[i], 6 + i * ID_BYTES)
  }
  return out
}

/** Decodes the cleartext part; checks every bound. The sealed part is returned as is. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length > MAX_OBJECT_BYTES) throw ArcaError.badMessage('object envelope', `${bytes.length} bytes exceeds ${MAX_OBJECT_BYTES}`)
  if (bytes.length < 6) throw ArcaError.badMessage('object envelope', `${bytes.length} bytes is shorter than its header`)
  if (bytes[0] !== ENVELOPE_VERSION) throw ArcaError.unsupportedVersion('object envelope', bytes[0], ENVELOPE_VERSION)
  const kind = bytes[1]
  if (kind !== ObjectKind.CHUNK && kind !== ObjectKind.TREE) throw ArcaError.badMessage('object envelope', `unknown kind ${kind}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const refCount = view.getUint32(2, true)
  if (refCount > MAX_REFS) throw ArcaError.badMessage('object envelope', `${refCount} references exceeds ${MAX_REFS}`)
  if (kind === ObjectKind.CHUNK && refCount !== 0) throw ArcaError.badMessage('object envelope', 'a chunk cannot reference other objects')
  const headerEnd = 6 + refCount * ID_BYTES
  if (bytes.length < headerEnd) throw ArcaError.badMessage('object envelope', `truncated: ${refCount} references announced`)
  // plain Uint8Array views: Buffer#subarray goes through a slow species constructor (4 us per ref measured)
  const refs: Uint8Array[] = new Array(refCount)
  for (let i = 0; i < refCount; i++) refs[i] = new Uint8Array(bytes.buffer, bytes.byteOffset + 6 + i * ID_BYTES, ID_BYTES)
  return { kind, refs, header: bytes.subarray(0, headerEnd), sealed: bytes.subarray(headerEnd) }
}
