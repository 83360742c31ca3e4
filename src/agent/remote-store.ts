/**
 * RemoteStore: the Store interface over the sync protocol, so the engine backs up to a node exactly as it does to
 * a local directory. Small puts are batched into PUT frames; requests are pipelined (the session bounds the bytes
 * in flight). A lost connection is re-opened with backoff and unanswered requests are sent again (every request is
 * idempotent or refused harmlessly on repeat). Puts are kept until a FLUSH is acknowledged: if the node restarted
 * meanwhile (its boot id changed), they are sent again first, so a node crash mid-upload loses nothing the agent
 * still holds.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from '../core/clock.js'
import { ArcaError, isArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { SpanArena } from '../core/span-arena.js'
import { expectResponse, wireError, type ClientSession } from '../protocol/client-session.js'
import { FetchStatus, MAX_IDS_PER_GET, MAX_IDS_PER_REQUEST, MAX_OBJECTS_PER_PUT, MessageType, type Body, type Frame, type PlanRegistrations, type RunSummary, type Usage, type Welcome } from '../protocol/messages.js'
import type { Store, StoredRecord, StoreStats } from '../protocol/store.js'
import { RateLimiter } from './rate-limiter.js'

/** A PUT frame is sent once this many bytes are batched (or on the next turn of the event loop). */
const BATCH_BYTES = 1024 * 1024
/** A batch under BATCH_BYTES is sent at once only while fewer PUTs than this are unanswered. */
const MAX_PART_PUTS_UNANSWERED = 2
/** Ask the node to flush once this many put bytes are held for a possible replay. */
const RETAIN_FLUSH_BYTES = 24 * 1024 * 1024
/**
 * Address space for retained envelopes: they are dropped in the order they were put, so first fit keeps them
 * together and the pages touched stay near the bytes retained at once (RETAIN_FLUSH_BYTES, plus the puts made while
 * a FLUSH is answered).
 */
const RETAINED_ARENA_BYTES = 64 * 1024 * 1024
/**
 * Back-pressure: past this much retained, a put resolves only once a FLUSH has dropped what is retained. Puts can
 * come faster than FLUSH round trips (each makes the node sync), and without a bound a stream of puts kept every
 * copy (test/remote-store-retain.test.ts).
 */
export const MAX_RETAINED_BYTES = 48 * 1024 * 1024
const MAX_RECONNECT_ATTEMPTS = 60

interface GetEntry {
  id: Uint8Array
  resolve: (envelope: Uint8Array) => void
  reject: (err: unknown) => void
}

interface PutEntry {
  id: Uint8Array
  /** A copy of the envelope put, in the retained arena (or apart when it had no room). */
  envelope: Uint8Array
  seq: number
}

export interface RemoteStoreOptions {
  clock: Clock
  /** How long to keep trying to reconnect after a lost connection (default 120 s). */
  reconnectWindowMs?: number
  /** Upload limit for PUT frames, in bytes per second (0 or absent: none). */
  uploadLimitBytesPerSec?: number
  log?: (message: string) => void
}

export class RemoteStore implements Store {
  private session: Promise<ClientSession> | undefined
  /** The session `session` resolved to, compared synchronously when a request fails. */
  private live: ClientSession | undefined
  private bootId: Uint8Array | undefined
  private welcomeInfo: Welcome | undefined
  private batch: PutEntry[] = []
  private batchBytes = 0
  private batchWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = []
  private batchScheduled = false
  /** A part-filled batch is held until a PUT is answered. */
  private isBatchWaiting = false
  private putsUnanswered = 0
  private gets: GetEntry[] = []
  private getsScheduled = false
  private readonly outstanding = new Set<Promise<unknown>>()
  private retained: PutEntry[] = []
  private keptBytes = 0
  private readonly retainedArena = new SpanArena(RETAINED_ARENA_BYTES)
  private seq = 0
  private autoFlush: Promise<void> | undefined
  private failure: unknown = undefined
  private closing = false
  private readonly limiter: RateLimiter | undefined
  reconnects = 0

  /** Bytes of envelopes put and kept until the node has made them durable. */
  get retainedBytes(): number {
    return this.keptBytes
  }

  private constructor(
    private readonly connector: () => Promise<ClientSession>,
    private readonly options: RemoteStoreOptions,
  ) {
    const limit = options.uploadLimitBytesPerSec ?? 0
    this.limiter = limit > 0 ? new RateLimiter(limit, options.clock) : undefined
  }

  /** Connects once (failing fast if the node cannot be reached) and returns the store. */
  static async connect(connector: () => Promise<ClientSession>, options: RemoteStoreOptions): Promise<RemoteStore> {
    const store = new RemoteStore(connector, options)
    const session = await connector()
    store.adopt(session)
    store.session = Promise.resolve(session)
    return store
  }

  /** What the node said at the handshake: its name, this device's vault and name. */
  get welcome(): Welcome {
    return this.welcomeInfo!
  }

  // ---- Store ----

  async readConfig(): Promise<Uint8Array | undefined> {
    const body = expectResponse(await this.call({ type: MessageType.READ_CONFIG, body: null }), MessageType.CONFIG, 'node')
    return body === null ? undefined : Buffer.from(body)
  }

  async writeConfig(config: Uint8Array): Promise<void> {
    await this.call({ type: MessageType.WRITE_CONFIG, body: config })
  }

  async listKeySlots(): Promise<StoredRecord[]> {
    return copyRecords(expectResponse(await this.call({ type: MessageType.LIST_KEY_SLOTS, body: null }), MessageType.RECORDS, 'node'))
  }

  async putKeySlot(id: Uint8Array, record: Uint8Array): Promise<void> {
    await this.call({ type: MessageType.PUT_KEY_SLOT, body: { id, record } })
  }

  async removeKeySlot(id: Uint8Array): Promise<void> {
    await this.call({ type: MessageType.REMOVE_KEY_SLOT, body: id })
  }

  async missing(ids: readonly Uint8Array[]): Promise<boolean[]> {
    const parts: Promise<boolean[]>[] = []
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_REQUEST) {
      const slice = ids.slice(i, i + MAX_IDS_PER_REQUEST)
      parts.push(this.call({ type: MessageType.MISSING, body: slice }).then((f) => expectResponse(f, MessageType.MISSING_RESULT, 'node')))
    }
    const answers = (await Promise.all(parts)).flat()
    if (answers.length !== ids.length) throw ArcaError.badMessage('MISSING answer', `${ids.length} ids asked, ${answers.length} answers received`)
    return answers
  }

  /**
   * `put` keeps a copy of the envelope until the node has made it durable (it may have to send it again after a
   * reconnect) and calls `release` at once. The copies live in an arena of the store's own, in the order they are
   * dropped, so none waits for the collector, and the seal pool's memory is not held across FLUSH round trips (its
   * outputs, freed out of that order, fragmented and overflowed when the store kept them).
   */
  put(id: Uint8Array, envelope: Uint8Array, release?: () => void): Promise<void> {
    if (this.failure !== undefined) {
      release?.()
      return Promise.reject(this.failure)
    }
    const kept = this.retainedArena.take(envelope.length) ?? new Uint8Array(envelope.length)
    kept.set(envelope)
    release?.()
    const entry: PutEntry = { id: Buffer.from(id), envelope: kept, seq: ++this.seq }
    this.retained.push(entry)
    this.keptBytes += envelope.length
    this.batch.push(entry)
    this.batchBytes += envelope.length
    const answered = new Promise<void>((resolve, reject) => this.batchWaiters.push({ resolve, reject }))
    const done = this.keptBytes < MAX_RETAINED_BYTES ? answered : answered.then(() => this.flushRetained())
    if (this.batchBytes >= BATCH_BYTES || this.batch.length >= MAX_OBJECTS_PER_PUT) this.sendBatch()
    else if (!this.batchScheduled) {
      this.batchScheduled = true
      setImmediate(() => {
        this.batchScheduled = false
        // a part-filled batch waits while PUTs are unanswered: it grows instead of becoming a frame of its own
        if (this.putsUnanswered < MAX_PART_PUTS_UNANSWERED) this.sendBatch()
        else this.isBatchWaiting = true
      })
    }
    return done
  }

  /**
   * Gets are gathered for one turn of the event loop (or up to MAX_IDS_PER_GET) and asked in one GET_MANY: a
   * restore asks for the chunks of hundreds of files at once, and the node reads neighbouring ones together.
   */
  get(id: Uint8Array): Promise<Uint8Array> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    return new Promise<Uint8Array>((resolve, reject) => this.queueGet({ id, resolve, reject }))
  }

  async flush(): Promise<void> {
    const upTo = await this.sendAndSettle()
    await this.call({ type: MessageType.FLUSH, body: null })
    this.release(upTo)
  }

  async commitSnapshot(id: Uint8Array, record: Uint8Array): Promise<void> {
    const upTo = await this.sendAndSettle()
    await this.call({ type: MessageType.COMMIT_SNAPSHOT, body: { id, record } })
    this.release(upTo)
  }

  async listSnapshots(): Promise<StoredRecord[]> {
    return copyRecords(expectResponse(await this.call({ type: MessageType.LIST_SNAPSHOTS, body: null }), MessageType.RECORDS, 'node'))
  }

  async removeSnapshot(id: Uint8Array): Promise<void> {
    await this.call({ type: MessageType.REMOVE_SNAPSHOT, body: id })
  }

  /** Tells the node this device's plan schedules (for missed-backup alerts); replaces what it registered before. */
  async registerPlans(registrations: PlanRegistrations): Promise<void> {
    await this.call({ type: MessageType.REGISTER_PLANS, body: registrations })
  }

  /** Tells the node how a run ended (outcome, times, counts; no paths). */
  async reportRun(summary: RunSummary): Promise<void> {
    await this.call({ type: MessageType.RUN_REPORT, body: summary })
  }

  async usage(): Promise<Usage> {
    return expectResponse(await this.call({ type: MessageType.USAGE, body: null }), MessageType.USAGE_RESULT, 'node')
  }

  async stats(): Promise<StoreStats> {
    const u = await this.usage()
    return { objectCount: u.objectCount, storedBytes: u.usedBytes, packCount: u.packCount, snapshotCount: u.snapshotCount }
  }

  async close(): Promise<void> {
    try {
      if (this.failure === undefined) await this.flush()
    } finally {
      this.closing = true
      const session = this.session
      this.session = undefined
      if (session !== undefined) (await session.catch(() => undefined))?.close()
    }
  }

  // ---- internals ----

  private adopt(session: ClientSession): void {
    this.live = session
    this.bootId = session.welcome.bootId
    this.welcomeInfo = session.welcome
  }

  private sendBatch(): void {
    this.isBatchWaiting = false
    if (this.batch.length === 0) return
    const entries = this.batch
    const waiters = this.batchWaiters
    this.batch = []
    this.batchBytes = 0
    this.batchWaiters = []
    const body = { type: MessageType.PUT, body: entries.map((e) => ({ id: e.id, envelope: e.envelope })) } as const
    const sent = this.limiter === undefined ? this.call(body) : this.limiter.take(entries.reduce((n, e) => n + e.envelope.length, 0)).then(() => this.call(body))
    this.putsUnanswered++
    const answered = sent.finally(() => {
      this.putsUnanswered--
      if (this.isBatchWaiting) this.sendBatch()
    })
    const tracked = answered.then(
      () => {
        for (const w of waiters) w.resolve()
        if (this.keptBytes >= RETAIN_FLUSH_BYTES) void this.flushRetained()
      },
      (err) => {
        for (const w of waiters) w.reject(err)
      },
    )
    this.outstanding.add(tracked)
    void tracked.finally(() => this.outstanding.delete(tracked))
  }

  private queueGet(get: GetEntry): void {
    this.gets.push(get)
    if (this.gets.length >= MAX_IDS_PER_GET) this.sendGets()
    else if (!this.getsScheduled) {
      this.getsScheduled = true
      setImmediate(() => this.sendGets())
    }
  }

  private sendGets(): void {
    this.getsScheduled = false
    if (this.gets.length === 0) return
    const wanted = this.gets
    this.gets = []
    this.call({ type: MessageType.GET_MANY, body: wanted.map((g) => g.id) }).then(
      (frame) => {
        const items = expectResponse(frame, MessageType.OBJECTS, 'node')
        if (items.length !== wanted.length) throw ArcaError.badMessage('OBJECTS answer', `${wanted.length} ids asked, ${items.length} answers received`)
        for (let i = 0; i < items.length; i++) {
          const item = items[i]
          const g = wanted[i]
          if (item.status === FetchStatus.FOUND) g.resolve(item.envelope)
          else if (item.status === FetchStatus.ABSENT) g.reject(ArcaError.chunkNotFound(toHex(g.id)))
          else if (item.status === FetchStatus.NOT_SENT) this.queueGet(g)
          else g.reject(wireError(item.error.code, item.error.message, 'node'))
        }
      },
    ).catch((err: unknown) => {
      // settled gets ignore this; a malformed answer fails every get of the request
      for (const g of wanted) g.reject(err)
    })
  }

  /** Starts a FLUSH unless one runs; settles when it is done (its failure is kept in `failure`). */
  private flushRetained(): Promise<void> {
    this.autoFlush ??= this.flush()
      .catch((err) => {
        this.failure ??= err
      })
      .finally(() => (this.autoFlush = undefined))
    return this.autoFlush
  }

  /**
   * Sends every put made so far and waits for those PUTs to be answered; the last of their seqs. Puts made while it
   * waits are not waited for (a FLUSH must not wait for a stream of puts to pause) and are not covered: the caller
   * releases up to the seq returned, never an entry that may not have been sent yet.
   */
  private async sendAndSettle(): Promise<number> {
    this.sendBatch()
    const upTo = this.seq
    await Promise.all([...this.outstanding])
    if (this.failure !== undefined) throw this.failure
    return upTo
  }

  /** Drops retained puts up to `seq`, releasing their envelopes: the node has made them durable. */
  private release(seq: number): void {
    let i = 0
    for (; i < this.retained.length && this.retained[i].seq <= seq; i++) {
      const entry = this.retained[i]
      this.keptBytes -= entry.envelope.length
      this.retainedArena.give(entry.envelope)
    }
    this.retained = this.retained.slice(i)
  }

  /** Sends `body`, reconnecting and resending when the connection is lost. */
  private async call(body: Body): Promise<Frame> {
    for (;;) {
      const session = await this.currentSession()
      try {
        return await session.request(body)
      } catch (err) {
        if (!isArcaError(err, 'CONNECTION_LOST') || this.closing) throw err
        if (this.live === session) {
          this.live = undefined
          this.session = undefined
        }
      }
    }
  }

  private currentSession(): Promise<ClientSession> {
    if (this.closing) return Promise.reject(new ArcaError('CONNECTION_LOST', 'The store is closed'))
    this.session ??= this.reconnect()
    return this.session
  }

  private async reconnect(): Promise<ClientSession> {
    const clock = this.options.clock
    const deadline = clock.now() + (this.options.reconnectWindowMs ?? 120_000)
    let delayMs = 100
    let lastError: unknown
    let refusals = 0
    this.options.log?.('Connection to the node lost; reconnecting')
    // bounded by attempts as well as by time, so a clock that does not move (tests) cannot loop forever
    for (let attempt = 0; attempt < MAX_RECONNECT_ATTEMPTS && clock.now() < deadline; attempt++) {
      try {
        const session = await this.connector()
        const restarted = this.bootId !== undefined && Buffer.compare(session.welcome.bootId, this.bootId) !== 0
        if (restarted && this.retained.length > 0) await this.replay(session)
        this.adopt(session)
        this.reconnects++
        this.options.log?.(`Reconnected to the node${restarted ? ' (it restarted; unflushed uploads were sent again)' : ''}`)
        return session
      } catch (err) {
        lastError = err
        if (isArcaError(err, 'UNSUPPORTED_VERSION')) break
        // a node shutting down also closes a handshake it cannot finish, which reads as a refusal: this device was
        // admitted a moment ago, so only a refusal that repeats means it was revoked
        if (isArcaError(err, 'UNAUTHORIZED_PEER') && ++refusals >= 3) break
      }
      await sleep(delayMs)
      delayMs = Math.min(delayMs * 2, 5000)
    }
    const err = new ArcaError('CONNECTION_LOST', `Lost the connection to the node and could not reconnect: ${(lastError as Error)?.message ?? 'gave up'}`, { cause: lastError })
    this.failure ??= err
    throw err
  }

  /** Sends every retained put again, in the original order, on a new session to a restarted node. */
  private async replay(session: ClientSession): Promise<void> {
    let i = 0
    const sends: Promise<Frame>[] = []
    while (i < this.retained.length) {
      const part: PutEntry[] = []
      let bytes = 0
      while (i < this.retained.length && part.length < MAX_OBJECTS_PER_PUT && (part.length === 0 || bytes + this.retained[i].envelope.length <= BATCH_BYTES)) {
        bytes += this.retained[i].envelope.length
        part.push(this.retained[i++])
      }
      sends.push(session.request({ type: MessageType.PUT, body: part.map((e) => ({ id: e.id, envelope: e.envelope })) }))
    }
    await Promise.all(sends)
  }
}

function copyRecords(records: StoredRecord[]): StoredRecord[] {
  return records.map((r) => ({ id: Buffer.from(r.id), record: Buffer.from(r.record) }))
}
