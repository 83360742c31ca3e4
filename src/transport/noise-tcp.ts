/**
 * The primary transport: Noise XX (ed25519 keys, @hyperswarm/secret-stream) over plain TCP to host:port. The agent
 * pins the node's public key; the node learns the agent's key at the end of the handshake and decides, before it
 * reads a single frame, whether to serve it (`authorize`).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import NoiseSecretStream, { type KeyPair } from '@hyperswarm/secret-stream'
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'

export type { KeyPair }
export const HANDSHAKE_TIMEOUT_MS = 10_000

export function generateKeyPair(seed?: Uint8Array): KeyPair {
  return NoiseSecretStream.keyPair(seed)
}

export interface HostPort {
  host: string
  port: number
}

/** Parses "HOST:PORT" (IPv6 as "[::1]:PORT"); `what` names the flag or field in the error. */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port < 0 || port > 65535) {
    throw ArcaError.invalidArgument(`Invalid ${what}: expected HOST:PORT, received "${text}"`)
  }
  return { host: m[1] ?? m[2], port }
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

/** Where peers can reach a bound address: the address itself, or every non-internal IPv4 address for 0.0.0.0 or ::. */
export function advertisedAddresses(bound: HostPort): HostPort[] {
  if (bound.host !== '0.0.0.0' && bound.host !== '::') return [bound]
  const out: HostPort[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push({ host: a.address, port: bound.port })
  }
  return out.length > 0 ? out : [{ host: '127.0.0.1', port: bound.port }]
}

/** Resolves once the handshake is done; rejects on timeout or failure. */
export function handshakeDone(stream: NoiseSecretStream, timeoutMs: number, where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      stream.destroy()
      reject(new ArcaError('NODE_UNREACHABLE', `Noise handshake with ${where} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    const onConnect = (): void => {
      cleanup()
      resolve()
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(new ArcaError('NODE_UNREACHABLE', `Cannot connect to ${where}: ${err.message}`, { cause: err }))
    }
    const onClose = (): void => onError(new Error('connection closed during the handshake'))
    const cleanup = (): void => {
      clearTimeout(timer)
      stream.off('connect', onConnect)
      stream.off('error', onError)
      stream.off('close', onClose)
    }
    stream.once('connect', onConnect)
    stream.once('error', onError)
    stream.once('close', onClose)
  })
}

/** Connects and checks that the peer holds `nodePublicKey`; UNAUTHORIZED_PEER if it does not. */
export async function connectNoiseTcp(address: HostPort, keyPair: KeyPair, nodePublicKey: Uint8Array, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<NoiseSecretStream> {
  const where = formatHostPort(address)
  const socket = createConnection({ host: address.host, port: address.port })
  socket.setNoDelay(true)
  const stream = new NoiseSecretStream(true, socket, { keyPair })
  stream.on('error', () => {})
  await handshakeDone(stream, timeoutMs, where)
  checkPinnedKey(stream, nodePublicKey, where)
  return stream
}

export function checkPinnedKey(stream: NoiseSecretStream, nodePublicKey: Uint8Array, where: string): void {
  const remote = stream.remotePublicKey
  if (remote === null || Buffer.compare(remote, nodePublicKey) !== 0) {
    stream.destroy()
    throw ArcaError.unauthorizedPeer(`${where} presented key ${remote === null ? 'none' : toHex(remote)}, expected the paired node's key ${toHex(nodePublicKey)}`)
  }
}

export interface NoiseTcpServer {
  readonly address: HostPort
  close(): Promise<void>
}

/**
 * Listens on host:port. Each connection completes the handshake, then `onStream` gets the stream; a connection
 * that does not finish its handshake within the timeout is dropped.
 */
export async function listenNoiseTcp(address: HostPort, keyPair: KeyPair, onStream: (stream: NoiseSecretStream) => void, onError: (message: string) => void): Promise<NoiseTcpServer> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.setNoDelay(true)
    const peer = `${socket.remoteAddress}:${socket.remotePort}`
    const stream = new NoiseSecretStream(false, socket, { keyPair })
    stream.on('error', () => {})
    handshakeDone(stream, HANDSHAKE_TIMEOUT_MS, peer).then(
      () => onStream(stream),
      (err: Error) => onError(`Connection from ${peer} dropped: ${err.message}`),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(ArcaError.ioError(`Cannot listen on ${formatHostPort(address)}`, err)))
    server.listen(address.port, address.host, () => resolve())
  })
  const bound = server.address()
  const actual = typeof bound === 'object' && bound !== null ? { host: address.host, port: bound.port } : address
  return {
    address: actual,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
