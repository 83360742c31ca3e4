/** Minimal typings for the Holepunch packages Arca uses (they ship none). Only what Arca calls is declared. */
declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream'
  export interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }
  export default class NoiseSecretStream {
    constructor(isInitiator: boolean, rawStream: Duplex | null, options?: { keyPair?: KeyPair; remotePublicKey?: Uint8Array })
    static keyPair(seed?: Uint8Array): KeyPair
    readonly isInitiator: boolean
    readonly publicKey: Buffer
    readonly remotePublicKey: Buffer | null
    readonly rawStream: Duplex
    readonly destroyed: boolean
    readonly destroying: boolean
    readonly rawBytesRead: number
    readonly rawBytesWritten: number
    write(data: Uint8Array): boolean
    end(): void
    destroy(err?: Error): void
    setKeepAlive(ms: number): void
    setTimeout(ms: number): void
    on(event: 'connect' | 'drain' | 'close' | 'end', fn: () => void): this
    on(event: 'data', fn: (message: Buffer) => void): this
    on(event: 'error', fn: (err: Error) => void): this
    once(event: 'connect' | 'drain' | 'close', fn: () => void): this
    once(event: 'error', fn: (err: Error) => void): this
    off(event: string, fn: (...args: never[]) => void): this
  }
}

declare module 'hyperdht' {
  import type { KeyPair } from '@hyperswarm/secret-stream'
  export interface DhtOptions {
    bootstrap?: string[]
    host?: string
    port?: number
    firewalled?: boolean
    ephemeral?: boolean
    /** Fall back to a random port when `port` is taken (default true). */
    anyPort?: boolean
  }
  export default class DHT {
    constructor(options?: DhtOptions)
    static bootstrapper(port: number, host: string, options?: DhtOptions): DHT
    static keyPair(seed?: Uint8Array): KeyPair
    ready(): Promise<void>
    destroy(): Promise<void>
    address(): { host: string; port: number }
  }
}

declare module 'hyperswarm' {
  import type NoiseSecretStream from '@hyperswarm/secret-stream'
  import type { KeyPair } from '@hyperswarm/secret-stream'
  import type DHT from 'hyperdht'
  export interface PeerDiscovery {
    flushed(): Promise<void>
    destroy(): Promise<void>
  }
  export default class Hyperswarm {
    constructor(options?: { keyPair?: KeyPair; dht?: DHT; firewall?: (remotePublicKey: Buffer) => boolean; maxPeers?: number })
    readonly dht: DHT
    join(topic: Uint8Array, options?: { server?: boolean; client?: boolean }): PeerDiscovery
    joinPeer(publicKey: Uint8Array): void
    leavePeer(publicKey: Uint8Array): void
    flush(): Promise<void>
    destroy(): Promise<void>
    on(event: 'connection', fn: (socket: NoiseSecretStream, info: unknown) => void): this
  }
}
