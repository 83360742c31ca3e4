/**
 * Pairing: the device connects with the one-time key pair derived from the invite's secret, sends its own new
 * public key in one PAIR request, and keeps the node's pinned key and addresses in its config.
 */
import { randomBytes } from 'node:crypto'
import { ArcaError, isArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { expectResponse } from '../protocol/client-session.js'
import { decodeInvite } from '../protocol/invite.js'
import { MessageType } from '../protocol/messages.js'
import { generateKeyPair } from '../transport/noise-tcp.js'
import type { DeviceConfig, Transport } from './device-config.js'
import { connectToNode, type ConnectOptions } from './node-connector.js'

export async function pairDevice(inviteText: string, deviceName: string, transport: Transport, options: ConnectOptions = {}): Promise<DeviceConfig> {
  const invite = decodeInvite(inviteText)
  const seed = randomBytes(32)
  const deviceKey = generateKeyPair(seed)
  const session = await connectToNode(generateKeyPair(invite.secret), { publicKey: invite.nodePublicKey, addresses: invite.addresses, bootstrap: invite.bootstrap, transport }, options).catch((err: unknown) => {
    if (isArcaError(err, 'UNAUTHORIZED_PEER')) {
      throw new ArcaError('UNAUTHORIZED_PEER', 'The node refused this invite: it was already used or has expired (ask for a new one: arca node invite)', { cause: err })
    }
    throw err
  })
  try {
    const answer = expectResponse(await session.request({ type: MessageType.PAIR, body: { device: deviceName, devicePublicKey: deviceKey.publicKey } }), MessageType.PAIRED, 'node')
    return {
      v: 1,
      device: { name: answer.device, seed: toHex(seed) },
      node: { publicKey: toHex(invite.nodePublicKey), name: session.welcome.nodeName, vault: answer.vault, addresses: invite.addresses, bootstrap: invite.bootstrap, transport },
    }
  } finally {
    session.close()
  }
}

/** The device's key pair from its config seed. */
export function deviceKeyPair(config: DeviceConfig): ReturnType<typeof generateKeyPair> {
  return generateKeyPair(Buffer.from(config.device.seed, 'hex'))
}
