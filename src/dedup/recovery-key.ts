/**
 * The recovery key: the master key itself, printed for safekeeping on paper. Format: "arca-rk1-" then 36 bytes
 * (32-byte master key and a 4-byte BLAKE3 checksum) as 72 hex digits in groups of 8 joined by "-".
 */
import { ArcaError } from '../core/errors.js'
import { deriveBlake3 } from './blake3.js'
import { MASTER_KEY_BYTES } from './vault-keys.js'

const PREFIX = 'arca-rk1-'
const CHECK_CONTEXT = 'arca 2026-11-23 recovery key checksum v1'

export function encodeRecoveryKey(masterKey: Uint8Array): string {
  const check = deriveBlake3(CHECK_CONTEXT, masterKey, 4)
  const hex = Buffer.concat([masterKey, check]).toString('hex')
  return PREFIX + (hex.match(/.{8}/g) ?? []).join('-')
}

export function decodeRecoveryKey(text: string): Uint8Array {
  const trimmed = text.trim().toLowerCase()
  if (!trimmed.startsWith(PREFIX)) {
    throw ArcaError.invalidArgument(`Invalid recovery key: expected it to start with "${PREFIX}"`)
  }
  const hex = trimmed.slice(PREFIX.length).replace(/[-\s]/g, '')
  if (!/^[0-9a-f]{72}$/.test(hex)) {
    throw ArcaError.invalidArgument(`Invalid recovery key: expected 72 hex digits after the prefix, received ${hex.length} characters`)
  }
  const bytes = Buffer.from(hex, 'hex')
  const master = bytes.subarray(0, MASTER_KEY_BYTES)
  if (!bytes.subarray(MASTER_KEY_BYTES).equals(deriveBlake3(CHECK_CONTEXT, master, 4))) {
    throw ArcaError.invalidArgument('Invalid recovery key: checksum does not match (a digit is mistyped)')
  }
  return master
}
