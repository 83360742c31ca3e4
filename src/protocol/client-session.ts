/**
 * The agent's side of one connection: the handshake, then pipelined requests matched to responses by id.
 * Flow control: at most `maxInflightBytes` of request frames are unanswered at once; a request beyond that waits.
 * A node that breaks the protocol, or a lost connection, fails every unanswered request.
 */
import { ArcaError, errorCodeOfWire } from '../core/errors.js'
import type { FrameStream } from './frame-stream.js'
import { decodeFrame, encodeFrame, helloFrame, MessageType, RESPONSE_TYPES, type Body, type BodyOf, type Frame, type Welcome } from './messages.js'

export const DEFAULT_MAX_INFLIGHT_BYTES = 32 * 1024 * 1024

interface Pending {
  resolve: (frame: Frame) => void
  reject: (err: unknown) => void
  bytes: number
}

export class ClientSession {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private inflightBytes = 0
  private roomWaiters: (() => void)[] = []
  private closedError: ArcaError | undefined

  private constructor(
    private readonly stream: FrameStream,
    readonly welcome: Welcome,
    private readonly where: string,
    private readonly maxInflightBytes: number,
  ) {
    stream.on('data', (data) => this.onFrame(data))
    stream.on('close', () => this.fail(new ArcaError('CONNECTION_LOST', `Connection to ${where} lost`)))
    stream.on('error', () => {})
  }

  /** Sends HELLO and waits for WELCOME; an ERROR answer becomes the matching ArcaError. */
  static open(stream: FrameStream, options: { where: string; software: string; timeoutMs?: number; maxInflightBytes?: number }): Promise<ClientSession> {
    const { where } = options
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new ArcaError('NODE_UNREACHABLE', `No answer from ${where} to the protocol handshake`)), options.timeoutMs ?? 10_000)
      const onData = (data: Buffer): void => {
        try {
          const frame = decodeFrame(data)
          if (frame.type === MessageType.WELCOME) finish(undefined, frame.body)
          else if (frame.type === MessageType.ERROR) finish(wireError(frame.body.code, frame.body.message, where))
          else finish(ArcaError.badMessage(`handshake from ${where}`, `expected WELCOME, received ${MessageType[frame.type]}`))
        } catch (err) {
          finish(err)
        }
      }
      const onClose = (): void => finish(new ArcaError('CONNECTION_LOST', `${where} closed the connection during the handshake (is this device paired and not revoked?)`))
      const finish = (err: unknown, welcome?: Welcome): void => {
        clearTimeout(timer)
        stream.off('data', onData)
        stream.off('close', onClose)
        if (err !== undefined || welcome === undefined) {
          stream.destroy()
          reject(err)
          return
        }
        resolve(new ClientSession(stream, welcome, where, options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES))
      }
      stream.on('data', onData)
      stream.on('close', onClose)
      stream.write(encodeFrame(helloFrame(options.software)))
    })
  }

  get isClosed(): boolean {
    return this.closedError !== undefined
  }

  /** Sends one request and resolves with its response; an ERROR response rejects with the node's error. */
  async request(message: Body): Promise<Frame> {
    if (this.closedError !== undefined) throw this.closedError
    const requestId = this.nextId++
    const bytes = encodeFrame({ ...message, requestId } as Frame)
    while (this.inflightBytes > 0 && this.inflightBytes + bytes.length > this.maxInflightBytes) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve))
      if (this.closedError !== undefined) throw this.closedError
    }
    this.inflightBytes += bytes.length
    const answer = new Promise<Frame>((resolve, reject) => this.pending.set(requestId, { resolve, reject, bytes: bytes.length }))
    this.stream.write(bytes)
    return answer
  }

  close(): void {
    this.fail(new ArcaError('CONNECTION_LOST', `Connection to ${this.where} closed`))
  }

  private onFrame(data: Buffer): void {
    let frame: Frame
    try {
      frame = decodeFrame(data)
      if (!RESPONSE_TYPES.has(frame.type)) throw ArcaError.badMessage(`frame from ${this.where}`, `${MessageType[frame.type]} is not a response`)
      if (!this.pending.has(frame.requestId)) throw ArcaError.badMessage(`frame from ${this.where}`, `answer to unknown request ${frame.requestId}`)
    } catch (err) {
      this.fail(err instanceof ArcaError ? err : ArcaError.badMessage(`frame from ${this.where}`, String(err)))
      return
    }
    const p = this.pending.get(frame.requestId)!
    this.pending.delete(frame.requestId)
    this.release(p.bytes)
    if (frame.type === MessageType.ERROR) p.reject(wireError(frame.body.code, frame.body.message, this.where))
    else p.resolve(frame)
  }

  private release(bytes: number): void {
    this.inflightBytes -= bytes
    const waiters = this.roomWaiters
    this.roomWaiters = []
    for (const w of waiters) w()
  }

  private fail(err: ArcaError): void {
    if (this.closedError !== undefined) return
    this.closedError = err
    this.stream.destroy()
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.release(this.inflightBytes)
  }
}

/** The ArcaError an ERROR frame stands for; an unknown code is reported as BAD_MESSAGE with the node's text. */
export function wireError(code: number, message: string, where: string): ArcaError {
  const known = errorCodeOfWire(code)
  if (known === undefined) return ArcaError.badMessage(`error from ${where}`, `unknown error code ${code}: ${message}`)
  return new ArcaError(known, message)
}

/** The response body of `frame` if it has type `type`, else BAD_MESSAGE. */
export function expectResponse<T extends MessageType>(frame: Frame, type: T, where: string): BodyOf<T> {
  if (frame.type !== type) throw ArcaError.badMessage(`answer from ${where}`, `expected ${MessageType[type]}, received ${MessageType[frame.type]}`)
  return frame.body as BodyOf<T>
}
