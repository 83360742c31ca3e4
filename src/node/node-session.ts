/**
 * The node's side of one authenticated connection. The remote key was admitted before this runs (a paired device
 * or an unused invite); the first frame must be HELLO, answered by WELCOME. A device session then serves requests
 * of its own vault only, strictly in arrival order (a tree put after its chunks sees them); an invite session
 * serves exactly one PAIR. A frame that breaks the protocol is answered with an ERROR frame, logged, and the
 * connection is closed: nothing is written for it and the node carries on.
 */
import { ArcaError, WIRE_CODES } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import type { FrameStream } from '../protocol/frame-stream.js'
import {
  decodeFrame, encodeFrame, FetchStatus, GET_MANY_BUDGET_BYTES, MessageType, negotiateVersion, REQUEST_TYPES, MAX_FRAME_BYTES,
  type Body, type FetchedObject, type Frame,
} from '../protocol/messages.js'
import { decodeSnapshotRecord } from '../protocol/snapshot-record.js'
import type { ManyItem } from './local-store.js'
import type { DeviceRecord } from './node-registry.js'
import type { Admission, NodeService, VaultHandle } from './node-service.js'

/** A peer with more than this many request bytes unanswered ignored flow control: its connection is closed. */
export const MAX_QUEUED_REQUEST_BYTES = 96 * 1024 * 1024
/** How long a closing connection waits for the peer to hang up after the last frame. */
const HANG_UP_GRACE_MS = 5000

export function serveConnection(service: NodeService, stream: FrameStream, admission: Admission, peer: string): void {
  new NodeSession(service, stream, admission, peer).start()
}

class NodeSession {
  private queue: Buffer[] = []
  private queuedBytes = 0
  private running = false
  private closed = false
  private hasHello = false
  private vault: VaultHandle | undefined
  private unregister: (() => void) | undefined
  private bytesIntroduced = 0
  private readonly who: string

  constructor(
    private readonly service: NodeService,
    private readonly stream: FrameStream,
    private readonly admission: Admission,
    peer: string,
  ) {
    this.who = admission.kind === 'device' ? `device "${admission.device.name}" of vault "${admission.device.vault}" (${peer})` : `invite for vault "${admission.invite.vault}" (${peer})`
  }

  start(): void {
    this.stream.on('data', (frame) => this.onData(frame))
    this.stream.on('close', () => this.onClose())
    this.stream.on('error', () => {})
    if (this.admission.kind === 'device') {
      const key = this.admission.device.publicKey
      this.unregister = this.service.sessionStarted(key, () => this.stream.destroy())
      // a failure is logged by updateDevice; it must not become an unhandled rejection
      this.service.updateDevice(key, (d) => {
        d.lastSeenAt = this.service.clock.now()
      }).catch(() => {})
    }
    this.service.log('info', `Connected: ${this.who}`)
  }

  private onData(frame: Buffer): void {
    if (this.closed) return
    this.queuedBytes += frame.length
    if (this.queuedBytes > MAX_QUEUED_REQUEST_BYTES) {
      this.protocolError(new ArcaError('BAD_MESSAGE', `Peer sent more than ${MAX_QUEUED_REQUEST_BYTES} bytes of requests without waiting for answers`), 0)
      return
    }
    this.queue.push(frame)
    if (!this.running) {
      this.drain().catch((err: unknown) => {
        // a bug, not a peer's fault: log it and drop this connection, never the node
        this.running = false
        this.service.log('error', `${this.who}: session failed: ${(err as Error).stack ?? String(err)}`)
        this.stream.destroy()
      })
    }
  }

  private async drain(): Promise<void> {
    this.running = true
    while (this.queue.length > 0 && !this.closed) {
      const raw = this.queue.shift()!
      this.queuedBytes -= raw.length
      let frame: Frame
      try {
        frame = decodeFrame(raw)
      } catch (err) {
        this.protocolError(err, 0)
        break
      }
      await this.handle(frame)
    }
    this.running = false
  }

  private async handle(frame: Frame): Promise<void> {
    if (!this.hasHello) {
      if (frame.type !== MessageType.HELLO) {
        this.protocolError(ArcaError.badMessage('handshake', `the first frame must be HELLO, received ${MessageType[frame.type]}`), frame.requestId)
        return
      }
      try {
        const version = negotiateVersion(frame.body)
        this.hasHello = true
        const device = this.admission.kind === 'device' ? this.admission.device.name : ''
        const vault = this.admission.kind === 'device' ? this.admission.device.vault : this.admission.invite.vault
        this.send({ type: MessageType.WELCOME, requestId: 0, body: { version, nodeName: this.service.name, vault, device, bootId: this.service.bootId, maxFrameBytes: MAX_FRAME_BYTES } })
      } catch (err) {
        this.protocolError(err, 0)
      }
      return
    }
    if (!REQUEST_TYPES.has(frame.type)) {
      this.protocolError(ArcaError.badMessage('request', `${MessageType[frame.type]} is not a request`), frame.requestId)
      return
    }
    if (frame.type === MessageType.FLUSH && this.admission.kind === 'device') {
      // answered when durable, without holding up the requests behind it: the flush covers every put before it,
      // and puts after it go to the next one (LocalStore snapshots what it syncs), so only the answer waits
      try {
        const vault = (this.vault ??= await this.service.vault(this.admission.device.vault))
        void vault.store.flush().then(() => this.saveUsage()).then(
          () => this.send({ type: MessageType.OK, requestId: frame.requestId, body: null }),
          (err: unknown) => this.refuse(frame, err),
        )
      } catch (err) {
        this.refuse(frame, err)
      }
      return
    }
    try {
      const answer = this.admission.kind === 'device' ? await this.serveDevice(frame) : await this.serveInvite(frame)
      this.send({ ...answer, requestId: frame.requestId } as Frame)
    } catch (err) {
      this.refuse(frame, err)
    }
  }

  /** Answers a request that failed with its ERROR frame; logs what the admin should see. */
  private refuse(frame: Frame, err: unknown): void {
    if (err instanceof ArcaError) {
      this.send(errorFrame(frame.requestId, err))
      if (err.code !== 'QUOTA_EXCEEDED' && err.code !== 'CHUNK_NOT_FOUND' && err.code !== 'SNAPSHOT_NOT_FOUND') {
        this.service.log('warn', `${this.who}: ${MessageType[frame.type]} refused: ${err.message}`)
      }
    } else {
      this.service.log('error', `${this.who}: ${MessageType[frame.type]} failed: ${(err as Error).stack ?? String(err)}`)
      this.send(errorFrame(frame.requestId, ArcaError.ioError(`The node failed to serve ${MessageType[frame.type]}`, err)))
    }
  }

  private async serveInvite(frame: Frame): Promise<Body> {
    if (this.admission.kind !== 'invite' || frame.type !== MessageType.PAIR) {
      throw ArcaError.unauthorizedPeer('an invite connection may only send PAIR')
    }
    const device = await this.service.pair(this.admission.invite, frame.body.device, frame.body.devicePublicKey)
    setImmediate(() => this.hangUp())
    return { type: MessageType.PAIRED, body: { vault: device.vault, device: device.name } }
  }

  private async serveDevice(frame: Frame): Promise<Body> {
    if (this.admission.kind !== 'device') throw new Error('Programmer error: not a device session')
    const device = this.admission.device
    const vault = (this.vault ??= await this.service.vault(device.vault))
    const store = vault.store
    switch (frame.type) {
      case MessageType.READ_CONFIG:
        return { type: MessageType.CONFIG, body: (await store.readConfig()) ?? null }
      case MessageType.WRITE_CONFIG:
        await store.writeConfig(frame.body)
        return ok()
      case MessageType.LIST_KEY_SLOTS:
        return { type: MessageType.RECORDS, body: await store.listKeySlots() }
      case MessageType.PUT_KEY_SLOT:
        await store.putKeySlot(frame.body.id, frame.body.record)
        return ok()
      case MessageType.REMOVE_KEY_SLOT:
        await store.removeKeySlot(frame.body)
        return ok()
      case MessageType.MISSING:
        return { type: MessageType.MISSING_RESULT, body: await store.missing(frame.body) }
      case MessageType.PUT:
        await this.put(vault, frame.body)
        return ok()
      case MessageType.GET:
        return { type: MessageType.OBJECT, body: await store.get(frame.body) }
      case MessageType.GET_MANY:
        return { type: MessageType.OBJECTS, body: (await store.getMany(frame.body, GET_MANY_BUDGET_BYTES)).map(toFetched) }
      case MessageType.COMMIT_SNAPSHOT: {
        const { header } = decodeSnapshotRecord(frame.body.record)
        await store.commitSnapshot(frame.body.id, frame.body.record)
        await this.saveUsage((d) => {
          d.lastSnapshotAt = header.createdAt
          d.logicalBytes = header.logicalBytes
          d.snapshotCount++
        })
        this.service.log('info', `${this.who}: committed snapshot ${toHex(frame.body.id).slice(0, 16)} (${header.fileCount} files)`)
        // the snapshot is committed: alert bookkeeping that fails is logged, not turned into a failed commit
        await this.service.alerts.snapshotArrived(device, header.planId, this.service.clock.now()).catch((err: Error) => this.service.log('error', `${this.who}: alert bookkeeping failed: ${err.message}`))
        return ok()
      }
      case MessageType.LIST_SNAPSHOTS:
        return { type: MessageType.RECORDS, body: await store.listSnapshots() }
      case MessageType.REMOVE_SNAPSHOT:
        await store.removeSnapshot(frame.body)
        return ok()
      case MessageType.REGISTER_PLANS:
        await this.service.alerts.register(device, frame.body)
        this.service.log('info', `${this.who}: registered ${frame.body.plans.length} plan schedules (${frame.body.timeZone})`)
        return ok()
      case MessageType.RUN_REPORT:
        await this.service.alerts.runReported(device, frame.body)
        return ok()
      case MessageType.USAGE: {
        const stats = await store.stats()
        return { type: MessageType.USAGE_RESULT, body: { usedBytes: store.usedBytes, quotaBytes: vault.record.quotaBytes, packCount: stats.packCount, snapshotCount: stats.snapshotCount, objectCount: stats.objectCount } }
      }
      default:
        throw ArcaError.unauthorizedPeer(`a device connection may not send ${MessageType[frame.type]}`)
    }
  }

  /** Checks every envelope and the quota for the objects the vault lacks, then stores them in order. */
  private async put(vault: VaultHandle, objects: { id: Uint8Array; envelope: Uint8Array }[]): Promise<void> {
    let admitted = 0
    try {
      // the frame buffer is not reused: the store may keep a view of it until its next flush
      await vault.store.putMany(objects, (newBytes) => {
        this.service.admit(vault, newBytes)
        admitted = newBytes
      })
      this.bytesIntroduced += admitted
    } finally {
      vault.reservedBytes -= admitted
    }
  }


  private async saveUsage(extra?: (d: DeviceRecord) => void): Promise<void> {
    if (this.admission.kind !== 'device') return
    const introduced = this.bytesIntroduced
    this.bytesIntroduced = 0
    const now = this.service.clock.now()
    await this.service.updateDevice(this.admission.device.publicKey, (d) => {
      d.bytesIntroduced += introduced
      d.lastSeenAt = now
      extra?.(d)
    })
  }

  private send(frame: Frame): void {
    if (this.closed) return
    this.stream.write(encodeFrame(frame))
  }

  private protocolError(err: unknown, requestId: number): void {
    const e = err instanceof ArcaError ? err : ArcaError.badMessage('frame', String(err))
    this.service.log('warn', `${this.who}: protocol error, closing the connection: ${e.message}`)
    this.send(errorFrame(requestId, e))
    this.closed = true
    this.queue = []
    setImmediate(() => this.hangUp())
  }

  /**
   * Closes the connection after the last frame is delivered. A hyperswarm (UDX) stream drops unsent data on
   * destroy(), so end() first; destroy() after a grace period in case the peer never closes its side.
   */
  private hangUp(): void {
    this.closed = true
    this.stream.end()
    setTimeout(() => this.stream.destroy(), HANG_UP_GRACE_MS).unref()
  }

  private onClose(): void {
    this.closed = true
    this.queue = []
    this.unregister?.()
    void this.saveUsage().catch(() => {})
    this.service.log('info', `Disconnected: ${this.who}`)
  }
}

function toFetched(item: ManyItem): FetchedObject {
  if ('absent' in item) return { status: FetchStatus.ABSENT }
  if ('notSent' in item) return { status: FetchStatus.NOT_SENT }
  if ('error' in item) return { status: FetchStatus.FAILED, error: { code: WIRE_CODES[item.error.code], message: item.error.message.slice(0, 1000) } }
  return { status: FetchStatus.FOUND, envelope: item.envelope }
}

function errorFrame(requestId: number, err: ArcaError): Frame {
  return { type: MessageType.ERROR, requestId, body: { code: WIRE_CODES[err.code], message: err.message.slice(0, 1000) } }
}

function ok(): Body {
  return { type: MessageType.OK, body: null }
}
