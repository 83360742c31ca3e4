/**
 * What the protocol needs from a transport: an authenticated, encrypted, message-preserving duplex stream (a
 * Noise secret-stream over TCP or a hyperswarm connection). Each `write` is one frame; each 'data' event is one.
 */
export interface FrameStream {
  readonly remotePublicKey: Uint8Array | null
  write(frame: Uint8Array): boolean
  /** Closes after everything written is sent. */
  end(): void
  destroy(err?: Error): void
  on(event: 'data', fn: (frame: Buffer) => void): unknown
  on(event: 'drain' | 'close', fn: () => void): unknown
  on(event: 'error', fn: (err: Error) => void): unknown
  off(event: string, fn: (...args: never[]) => void): unknown
}
