/**
 * The second path, for devices outside the office: hyperswarm over the HyperDHT (UDX, NAT traversal). The node
 * announces itself on a topic derived from its public key; an agent looks the topic up and keeps only a connection
 * whose Noise key is the pinned node key. Connections are Noise secret-streams, so the same protocol runs on them.
 *
 * Without internet, the node runs its own DHT bootstrap node. Measured: with only a private bootstrap, the node's
 * DHT must be persistent (`firewalled: false, ephemeral: false`) on a fixed port, or connections die after ~13 s.
 */
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type { KeyPair } from '@hyperswarm/secret-stream'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import { ArcaError } from '../core/errors.js'
import { advertisedAddresses, formatHostPort, type HostPort } from './noise-tcp.js'

export const DEFAULT_DHT_PORT = 49737

/** The discovery topic of a node: a hash of its public key, so the key itself is not announced. */
export function nodeTopic(nodePublicKey: Uint8Array): Buffer {
  return createHash('sha256').update('arca node topic v1\n').update(nodePublicKey).digest()
}

export interface SwarmServer {
  /** The bootstrap list agents should use. */
  bootstrap: string[]
  close(): Promise<void>
}

export async function startSwarmServer(options: {
  keyPair: KeyPair
  /** Where this node's own DHT listens (the bootstrap node takes this port, the swarm's DHT node the next one). */
  dht: HostPort
  bootstrap?: string[]
  onStream: (stream: NoiseSecretStream) => void
}): Promise<SwarmServer> {
  const { host, port } = options.dht
  const closers: (() => Promise<void>)[] = []
  // every step runs even when one fails, so no DHT socket is left holding the process open
  const close = async (): Promise<void> => {
    let failure: unknown
    for (const c of [...closers].reverse()) await c().catch((err: unknown) => (failure ??= err))
    if (failure !== undefined) throw failure
  }
  let bootstrap = options.bootstrap
  let swarmPort = port
  try {
    if (bootstrap === undefined || bootstrap.length === 0) {
      // Devices keep the bootstrap address from their invite, so it must not move between restarts
      if (port === 0) throw ArcaError.invalidArgument(`Invalid --dht "${formatHostPort(options.dht)}": the DHT bootstrap needs a fixed port`)
      // Invites must name an address devices can reach, not 0.0.0.0
      const advertised = advertisedAddresses(options.dht)[0]
      await checkUdpPortFree({ host, port })
      // bootstrapper() seeds the node's own address: with no peers to learn it from, a plain DHT node never becomes
      // persistent, so it stores no announcements and agents find nothing
      const boot = DHT.bootstrapper(port, advertised.host, { host })
      closers.push(() => boot.destroy())
      await boot.ready()
      bootstrap = [formatHostPort(advertised)]
      swarmPort = port + 1
    }
    await checkUdpPortFree({ host, port: swarmPort })
    // anyPort: false, so a port taken meanwhile fails here instead of the node silently moving to a random one
    const dht = new DHT({ bootstrap, host, port: swarmPort, ephemeral: false, firewalled: false, anyPort: false })
    closers.push(() => dht.destroy())
    await dht.ready()
    const swarm = new Hyperswarm({ keyPair: options.keyPair, dht })
    closers.push(() => swarm.destroy())
    swarm.on('connection', (stream) => {
      stream.on('error', () => {})
      options.onStream(stream)
    })
    const discovery = swarm.join(nodeTopic(options.keyPair.publicKey), { server: true, client: false })
    await discovery.flushed()
  } catch (err) {
    await close().catch(() => {})
    throw err instanceof ArcaError ? err : ArcaError.ioError(`Cannot start the swarm DHT on ${formatHostPort(options.dht)}`, err)
  }
  return { bootstrap, close }
}

/**
 * Fails when a UDP port is taken. Checked before a DHT binds it: a HyperDHT whose bind failed cannot be destroyed
 * (dht-rpc 6.27 rethrows the bind error from destroy() and keeps a native handle), so the process would never exit.
 */
function checkUdpPortFree(address: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(address.host) ? 'udp6' : 'udp4')
    socket.once('error', (err) => {
      socket.close()
      reject(ArcaError.ioError(`Cannot use UDP port ${formatHostPort(address)} for the swarm DHT`, err))
    })
    socket.bind(address.port, address.host, () => socket.close(() => resolve()))
  })
}

/**
 * Finds the node on the swarm and returns a connection to it. The swarm stays open as long as the stream: closing
 * the stream destroys it.
 */
export async function connectSwarm(options: { keyPair: KeyPair; nodePublicKey: Uint8Array; bootstrap: string[]; host?: string; timeoutMs?: number }): Promise<NoiseSecretStream> {
  const dht = new DHT({ bootstrap: options.bootstrap, host: options.host })
  const swarm = new Hyperswarm({ keyPair: options.keyPair, dht, firewall: (remote) => Buffer.compare(remote, options.nodePublicKey) !== 0 })
  const timeoutMs = options.timeoutMs ?? 20_000
  try {
    const stream = await new Promise<NoiseSecretStream>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ArcaError('NODE_UNREACHABLE', `Node not found on the swarm within ${timeoutMs} ms (bootstrap ${options.bootstrap.join(', ')})`)), timeoutMs)
      swarm.on('connection', (s) => {
        s.on('error', () => {})
        if (s.remotePublicKey === null || Buffer.compare(s.remotePublicKey, options.nodePublicKey) !== 0) {
          s.destroy()
          return
        }
        clearTimeout(timer)
        resolve(s)
      })
      swarm.join(nodeTopic(options.nodePublicKey), { server: false, client: true })
    })
    stream.on('close', () => void swarm.destroy().catch(() => {}))
    return stream
  } catch (err) {
    await swarm.destroy().catch(() => {})
    throw err
  }
}
