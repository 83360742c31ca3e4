/**
 * Opens a protocol session to the paired node: TCP + Noise to each known address in turn, then (transport "auto"
 * or "swarm") the hyperswarm path. The node's key is pinned on either path.
 */
import type { KeyPair } from '@hyperswarm/secret-stream'
import { ArcaError, isArcaError } from '../core/errors.js'
import { ClientSession } from '../protocol/client-session.js'
import { connectNoiseTcp, parseHostPort } from '../transport/noise-tcp.js'
import { connectSwarm } from '../transport/swarm.js'
import type { Transport } from './device-config.js'

export const SOFTWARE = 'arca/0.1.0'

export interface NodeAddress {
  publicKey: Uint8Array
  addresses: string[]
  bootstrap: string[]
  transport: Transport
}

export interface ConnectOptions {
  /** Host the agent's DHT node binds to (tests: 127.0.0.1). */
  dhtHost?: string
  timeoutMs?: number
}

export async function connectToNode(keyPair: KeyPair, node: NodeAddress, options: ConnectOptions = {}): Promise<ClientSession> {
  const failures: string[] = []
  if (node.transport !== 'swarm') {
    for (const text of node.addresses) {
      try {
        const stream = await connectNoiseTcp(parseHostPort(text, 'node address'), keyPair, node.publicKey, options.timeoutMs ?? 10_000)
        return await ClientSession.open(stream, { where: `node ${text}`, software: SOFTWARE, timeoutMs: options.timeoutMs })
      } catch (err) {
        if (isArcaError(err, 'UNAUTHORIZED_PEER') || isArcaError(err, 'UNSUPPORTED_VERSION')) throw err
        if (isArcaError(err, 'CONNECTION_LOST')) throw new ArcaError('UNAUTHORIZED_PEER', `Node ${text} refused this device: it is not paired there or was revoked`, { cause: err })
        failures.push(`${text}: ${(err as Error).message}`)
      }
    }
  }
  if (node.transport !== 'tcp' && node.bootstrap.length > 0) {
    try {
      const stream = await connectSwarm({ keyPair, nodePublicKey: node.publicKey, bootstrap: node.bootstrap, host: options.dhtHost, timeoutMs: options.timeoutMs })
      return await ClientSession.open(stream, { where: 'node (swarm)', software: SOFTWARE, timeoutMs: options.timeoutMs })
    } catch (err) {
      if (isArcaError(err, 'CONNECTION_LOST')) throw new ArcaError('UNAUTHORIZED_PEER', 'The node refused this device over the swarm: it is not paired there or was revoked', { cause: err })
      failures.push(`swarm: ${(err as Error).message}`)
    }
  }
  if (failures.length === 0) throw new ArcaError('NODE_UNREACHABLE', `No way to reach the node: no address${node.transport === 'tcp' ? '' : ' and no swarm bootstrap'} is configured`)
  throw new ArcaError('NODE_UNREACHABLE', `Cannot reach the node: ${failures.join('; ')}`)
}
