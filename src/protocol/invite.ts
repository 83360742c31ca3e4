/**
 * The invite text a node prints and a device pastes into `arca pair`:
 *
 *   "arca-invite1-" base64url( version u8 (1) | nodePublicKey (32) | secret (32) | addresses | bootstrap
 *                              | checksum (first 4 bytes of SHA-256 of everything before it) )
 *
 * addresses and bootstrap are compact-encoding arrays of "HOST:PORT" strings (at most 16 each): where the node
 * listens for TCP, and the DHT bootstrap nodes of its swarm (empty when the node has no swarm). The secret is the
 * seed of a one-time key pair: the device connects with it, and the node, which stored only its public key,
 * serves that connection for one PAIR request.
 */
import { createHash } from 'node:crypto'
import c from 'compact-encoding'
import { ArcaError } from '../core/errors.js'

export const INVITE_PREFIX = 'arca-invite1-'
const INVITE_VERSION = 1
const MAX_ADDRESSES = 16
const MAX_ADDRESS_BYTES = 300

export interface Invite {
  nodePublicKey: Uint8Array
  secret: Uint8Array
  addresses: string[]
  bootstrap: string[]
}

function checksum(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest().subarray(0, 4)
}

export function encodeInvite(invite: Invite): string {
  const state = c.state()
  c.uint8.preencode(state, INVITE_VERSION)
  c.fixed32.preencode(state, invite.nodePublicKey)
  c.fixed32.preencode(state, invite.secret)
  c.array(c.string).preencode(state, invite.addresses)
  c.array(c.string).preencode(state, invite.bootstrap)
  state.buffer = Buffer.alloc(state.end + 4)
  c.uint8.encode(state, INVITE_VERSION)
  c.fixed32.encode(state, invite.nodePublicKey)
  c.fixed32.encode(state, invite.secret)
  c.array(c.string).encode(state, invite.addresses)
  c.array(c.string).encode(state, invite.bootstrap)
  state.buffer.set(checksum(state.buffer.subarray(0, state.start)), state.start)
  return INVITE_PREFIX + Buffer.from(state.buffer).toString('base64url')
}

export function decodeInvite(text: string): Invite {
  const bad = (detail: string): never => {
    throw ArcaError.invalidArgument(`Invalid invite: ${detail} (paste the whole text printed by "arca node invite")`)
  }
  const trimmed = text.trim()
  if (!trimmed.startsWith(INVITE_PREFIX)) bad(`it must start with "${INVITE_PREFIX}"`)
  const body = trimmed.slice(INVITE_PREFIX.length)
  if (!/^[A-Za-z0-9_-]+$/.test(body)) bad('it contains characters outside base64url')
  const bytes = Buffer.from(body, 'base64url')
  if (bytes.length < 1 + 64 + 2 + 4) bad(`it is too short (${bytes.length} bytes)`)
  const content = bytes.subarray(0, bytes.length - 4)
  if (!checksum(content).equals(bytes.subarray(bytes.length - 4))) bad('the checksum does not match (a character was changed or lost)')
  if (content[0] !== INVITE_VERSION) throw ArcaError.unsupportedVersion('invite', content[0], INVITE_VERSION)
  const state = c.state(1, content.length, content)
  try {
    const nodePublicKey = Buffer.from(c.fixed32.decode(state))
    const secret = Buffer.from(c.fixed32.decode(state))
    const list = (what: string): string[] => {
      const n = c.uint.decode(state)
      if (n > MAX_ADDRESSES) bad(`${what} has ${n} entries, at most ${MAX_ADDRESSES} allowed`)
      const out: string[] = []
      for (let i = 0; i < n; i++) {
        const s = c.string.decode(state)
        if (Buffer.byteLength(s) > MAX_ADDRESS_BYTES) bad(`an entry of ${what} is too long`)
        out.push(s)
      }
      return out
    }
    const addresses = list('addresses')
    const bootstrap = list('bootstrap')
    if (state.start !== state.end) bad('unexpected bytes at its end')
    return { nodePublicKey, secret, addresses, bootstrap }
  } catch (err) {
    if (err instanceof ArcaError) throw err
    return bad(`it is truncated (${(err as Error).message})`)
  }
}
