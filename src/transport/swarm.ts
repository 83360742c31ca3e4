/**
 * The second path, for devices outside the office: hyperswarm over the HyperDHT (UDX, NAT traversal). The node
 * announces itself on a topic derived from its public key; an agent looks the topic up and keeps only a connection
 * whose Noise key is the pinned node key. Connections are Noise secret-streams, so the same protocol runs on them.
 *
 * Without internet, the node runs its own DHT bootstrap node. Measured: with only a private bootstrap, the node's
 * DHT must be persistent (`firewalled: false, ephemeral: false`) on a fixed port, or connections die after ~13 s.
 */
import { createHash } from 'node:crypto'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type { KeyPair } from '@hyperswarm/secret-stream'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import { ArcaError } from '../core/errors.js'
import { formatHostPort, type HostPort } from './noise-tcp.js'

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
  let bootstrap = options.bootstrap
  let swarmPort = port
  if (bootstrap === undefined || bootstrap.length === 0) {
    // bootstrapper() seeds the node's own address: with no peers to learn it from, a plain DHT node never becomes
    // persistent, so it stores no announcements and agents find nothing
    const boot = DHT.bootstrapper(port, host, { host })
    await boot.ready()
    closers.push(() => boot.destroy())
    bootstrap = [formatHostPort({ host, port: boot.address().port })]
    swarmPort = port === 0 ? 0 : port + 1
  }
  const dht = new DHT({ bootstrap, host, port: swarmPort, ephemeral: false, firewalled: false })
  const swarm = new Hyperswarm({ keyPair: options.keyPair, dht })
  closers.push(() => swarm.destroy())
  swarm.on('connection', (stream) => {
    stream.on('error', () => {})
    options.onStream(stream)
  })
  const discovery = swarm.join(nodeTopic(options.keyPair.publicKey), { server: true, client: false })
  await discovery.flushed()
  return {
    bootstrap,
    close: async () => {
      for (const c of closers.reverse()) await c()
    },
  }
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
