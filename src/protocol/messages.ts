/**
 * Every wire message of the sync protocol, as compact-encoding codecs. A frame is one message of the Noise stream:
 *
 *   frame = type (uint8) | requestId (compact uint) | body (per type)
 *
 * The first frame each way is the handshake (HELLO from the agent, WELCOME or ERROR from the node, request id 0).
 * After it, the agent sends requests with ids it chooses; the node answers each with a response frame carrying the
 * same id, in any order. Decoding is total: every length and count is bounded, the whole frame must be consumed,
 * unknown types and versions are refused with BAD_MESSAGE / UNSUPPORTED_VERSION, never a crash.
 */
import c from 'compact-encoding'
import { ArcaError } from '../core/errors.js'

export const PROTOCOL_VERSION = 1
export const PROTOCOL_MAGIC = 'arca-sync'

/** No frame may be larger (secret-stream's own cap is 16 MiB - 1). */
export const MAX_FRAME_BYTES = 12 * 1024 * 1024
/** Ids in one MISSING request. */
export const MAX_IDS_PER_REQUEST = 8192
/** Ids in one GET_MANY request. */
export const MAX_IDS_PER_GET = 256
/**
 * A node stops adding envelopes to an OBJECTS answer once it holds this many bytes; the rest come back NOT_SENT.
 * 2 MiB rather than 8: every answer is a few buffers of its size on the agent (read, decrypted, decoded) until a
 * garbage collection, and the smaller budget lowered a network restore's peak RSS by about 40 MiB at the same speed.
 */
export const GET_MANY_BUDGET_BYTES = 2 * 1024 * 1024
/** Objects in one PUT request. */
export const MAX_OBJECTS_PER_PUT = 1024
/** Records in one RECORDS response. */
export const MAX_RECORDS = 1_000_000
/** A snapshot, key slot or config record. */
export const MAX_RECORD_BYTES = 1024 * 1024
export const MAX_NAME_BYTES = 128
export const MAX_MESSAGE_BYTES = 4096
/** Plans one device may register. */
export const MAX_PLANS = 64

export enum MessageType {
  HELLO = 1,
  WELCOME = 2,
  // requests
  READ_CONFIG = 10,
  WRITE_CONFIG = 11,
  LIST_KEY_SLOTS = 12,
  PUT_KEY_SLOT = 13,
  REMOVE_KEY_SLOT = 14,
  MISSING = 15,
  PUT = 16,
  GET = 17,
  FLUSH = 18,
  COMMIT_SNAPSHOT = 19,
  LIST_SNAPSHOTS = 20,
  REMOVE_SNAPSHOT = 21,
  USAGE = 22,
  PAIR = 23,
  REGISTER_PLANS = 24,
  RUN_REPORT = 25,
  GET_MANY = 26,
  // responses
  OK = 64,
  ERROR = 65,
  CONFIG = 66,
  RECORDS = 67,
  MISSING_RESULT = 68,
  OBJECT = 69,
  USAGE_RESULT = 70,
  PAIRED = 71,
  OBJECTS = 72,
}

export interface Hello {
  magic: string
  version: number
  minVersion: number
  software: string
}

export interface Welcome {
  version: number
  nodeName: string
  vault: string
  device: string
  /** Random per node process start: an agent that sees it change knows unflushed puts may be lost. */
  bootId: Uint8Array
  maxFrameBytes: number
}

export interface IdRecord {
  id: Uint8Array
  record: Uint8Array
}

export interface PutObject {
  id: Uint8Array
  envelope: Uint8Array
}

export interface Usage {
  usedBytes: number
  /** 0: no quota */
  quotaBytes: number
  packCount: number
  snapshotCount: number
  objectCount: number
}

export interface Pair {
  device: string
  devicePublicKey: Uint8Array
}

export interface Paired {
  vault: string
  device: string
}

/** A plan as the node may know it: for missed-backup alerts. Never its paths. */
export interface PlanRegistration {
  /** The opaque plan id of its snapshot headers (16 bytes). */
  planId: Uint8Array
  name: string
  /** Canonical schedule text (`daily@22:00`, ...). */
  schedule: string
}

export interface PlanRegistrations {
  timeZone: string
  plans: PlanRegistration[]
}

export const RUN_OUTCOMES = ['success', 'warnings', 'failed', 'cut-short'] as const

/** What the node learns of a run: outcome, times and counts; no path, no message text. */
export interface RunSummary {
  planId: Uint8Array
  outcome: (typeof RUN_OUTCOMES)[number]
  startedAt: number
  finishedAt: number
  filesNew: number
  filesChanged: number
  bytesRead: number
  bytesNew: number
  bytesStored: number
  warningCount: number
}

/** One answer of OBJECTS, in the order of the GET_MANY ids. */
export type FetchedObject =
  | { status: FetchStatus.FOUND; envelope: Uint8Array }
  | { status: FetchStatus.ABSENT }
  /** Left out because the answer's byte budget was used up: ask again. */
  | { status: FetchStatus.NOT_SENT }
  | { status: FetchStatus.FAILED; error: WireError }

export enum FetchStatus {
  FOUND = 0,
  ABSENT = 1,
  NOT_SENT = 2,
  FAILED = 3,
}

export interface WireError {
  code: number
  message: string
}

export type Body =
  | { type: MessageType.HELLO; body: Hello }
  | { type: MessageType.WELCOME; body: Welcome }
  | { type: MessageType.READ_CONFIG; body: null }
  | { type: MessageType.WRITE_CONFIG; body: Uint8Array }
  | { type: MessageType.LIST_KEY_SLOTS; body: null }
  | { type: MessageType.PUT_KEY_SLOT; body: IdRecord }
  | { type: MessageType.REMOVE_KEY_SLOT; body: Uint8Array }
  | { type: MessageType.MISSING; body: Uint8Array[] }
  | { type: MessageType.PUT; body: PutObject[] }
  | { type: MessageType.GET; body: Uint8Array }
  | { type: MessageType.FLUSH; body: null }
  | { type: MessageType.COMMIT_SNAPSHOT; body: IdRecord }
  | { type: MessageType.LIST_SNAPSHOTS; body: null }
  | { type: MessageType.REMOVE_SNAPSHOT; body: Uint8Array }
  | { type: MessageType.USAGE; body: null }
  | { type: MessageType.PAIR; body: Pair }
  | { type: MessageType.REGISTER_PLANS; body: PlanRegistrations }
  | { type: MessageType.RUN_REPORT; body: RunSummary }
  | { type: MessageType.GET_MANY; body: Uint8Array[] }
  | { type: MessageType.OK; body: null }
  | { type: MessageType.ERROR; body: WireError }
  | { type: MessageType.CONFIG; body: Uint8Array | null }
  | { type: MessageType.RECORDS; body: IdRecord[] }
  | { type: MessageType.MISSING_RESULT; body: boolean[] }
  | { type: MessageType.OBJECT; body: Uint8Array }
  | { type: MessageType.USAGE_RESULT; body: Usage }
  | { type: MessageType.PAIRED; body: Paired }
  | { type: MessageType.OBJECTS; body: FetchedObject[] }

export type Frame = Body & { requestId: number }
export type BodyOf<T extends MessageType> = Extract<Body, { type: T }> extends { body: infer B } ? B : never

type State = c.State
interface Codec<T> {
  preencode(state: State, value: T): void
  encode(state: State, value: T): void
  decode(state: State): T
}

// ---- bounded primitives ----

function fail(detail: string): never {
  throw ArcaError.badMessage('frame', detail)
}

function boundedBytes(what: string, max: number): Codec<Uint8Array> {
  return {
    preencode: (s, v) => c.buffer.preencode(s, v),
    encode: (s, v) => c.buffer.encode(s, v),
    decode: (s) => {
      const len = uintCodec.decode(s)
      if (len > max) fail(`${what} of ${len} bytes exceeds the limit of ${max}`)
      if (s.end - s.start < len) fail(`${what} of ${len} bytes runs past the end of the frame`)
      return s.buffer!.subarray(s.start, (s.start += len))
    },
  }
}

function boundedString(what: string, max: number): Codec<string> {
  const bytes = boundedBytes(what, max)
  return {
    preencode: (s, v) => c.string.preencode(s, v),
    encode: (s, v) => c.string.encode(s, v),
    decode: (s) => {
      const raw = bytes.decode(s)
      const text = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('utf8')
      // Comparing lengths is not enough: a cut 4-byte sequence (3 bytes) becomes one 3-byte U+FFFD
      if (!Buffer.from(text, 'utf8').equals(raw)) fail(`${what} is not valid UTF-8`)
      return text
    },
  }
}

function boundedArray<T>(what: string, max: number, item: Codec<T>): Codec<T[]> {
  return {
    preencode: (s, v) => {
      c.uint.preencode(s, v.length)
      for (const x of v) item.preencode(s, x)
    },
    encode: (s, v) => {
      c.uint.encode(s, v.length)
      for (const x of v) item.encode(s, x)
    },
    decode: (s) => {
      const n = uintCodec.decode(s)
      if (n > max) fail(`${what} has ${n} entries, the limit is ${max}`)
      const out: T[] = []
      for (let i = 0; i < n; i++) out.push(item.decode(s))
      return out
    },
  }
}

const id32: Codec<Uint8Array> = {
  preencode: (s, v) => {
    if (v.length !== 32) throw new Error(`Programmer error: an id must be 32 bytes, received ${v.length}`)
    c.fixed32.preencode(s, v)
  },
  encode: (s, v) => c.fixed32.encode(s, v),
  decode: (s) => {
    if (s.end - s.start < 32) fail('id runs past the end of the frame')
    return s.buffer!.subarray(s.start, (s.start += 32))
  },
}

const uintCodec: Codec<number> = {
  preencode: (s, v) => c.uint.preencode(s, v),
  encode: (s, v) => c.uint.encode(s, v),
  decode: (s) => {
    try {
      return c.uint.decode(s)
    } catch {
      fail('integer runs past the end of the frame or is too large')
    }
  },
}

function struct<T>(fields: { [K in keyof T]: Codec<T[K]> }): Codec<T> {
  const entries = Object.entries(fields) as [keyof T, Codec<unknown>][]
  return {
    preencode: (s, v) => {
      for (const [k, codec] of entries) codec.preencode(s, v[k])
    },
    encode: (s, v) => {
      for (const [k, codec] of entries) codec.encode(s, v[k])
    },
    decode: (s) => {
      const out = {} as T
      for (const [k, codec] of entries) out[k] = codec.decode(s) as T[keyof T]
      return out
    },
  }
}

const empty: Codec<null> = { preencode: () => {}, encode: () => {}, decode: () => null }

const planId16: Codec<Uint8Array> = {
  preencode: (s, v) => {
    if (v.length !== 16) throw new Error(`Programmer error: a plan id must be 16 bytes, received ${v.length}`)
    s.end += 16
  },
  encode: (s, v) => {
    s.buffer!.set(v, s.start)
    s.start += 16
  },
  decode: (s) => {
    if (s.end - s.start < 16) fail('plan id runs past the end of the frame')
    return s.buffer!.subarray(s.start, (s.start += 16))
  },
}

const outcomeCodec: Codec<RunSummary['outcome']> = {
  preencode: (s, v) => c.uint.preencode(s, RUN_OUTCOMES.indexOf(v)),
  encode: (s, v) => c.uint.encode(s, RUN_OUTCOMES.indexOf(v)),
  decode: (s) => {
    const n = uintCodec.decode(s)
    if (n >= RUN_OUTCOMES.length) fail(`unknown run outcome ${n}`)
    return RUN_OUTCOMES[n]
  },
}

const record = boundedBytes('record', MAX_RECORD_BYTES)
const idRecord = struct<IdRecord>({ id: id32, record })
const name = boundedString('name', MAX_NAME_BYTES)

const optionalRecord: Codec<Uint8Array | null> = {
  preencode: (s, v) => {
    c.uint.preencode(s, v === null ? 0 : 1)
    if (v !== null) record.preencode(s, v)
  },
  encode: (s, v) => {
    c.uint.encode(s, v === null ? 0 : 1)
    if (v !== null) record.encode(s, v)
  },
  decode: (s) => {
    const flag = uintCodec.decode(s)
    if (flag > 1) fail(`presence flag must be 0 or 1, received ${flag}`)
    return flag === 1 ? record.decode(s) : null
  },
}

/** Booleans packed 8 per byte, after a count. */
const bitmap: Codec<boolean[]> = {
  preencode: (s, v) => {
    c.uint.preencode(s, v.length)
    s.end += Math.ceil(v.length / 8)
  },
  encode: (s, v) => {
    c.uint.encode(s, v.length)
    const bytes = s.buffer!.subarray(s.start, s.start + Math.ceil(v.length / 8))
    bytes.fill(0)
    for (let i = 0; i < v.length; i++) if (v[i]) bytes[i >> 3] |= 1 << (i & 7)
    s.start += bytes.length
  },
  decode: (s) => {
    const n = uintCodec.decode(s)
    if (n > MAX_IDS_PER_REQUEST) fail(`answer has ${n} entries, the limit is ${MAX_IDS_PER_REQUEST}`)
    const len = Math.ceil(n / 8)
    if (s.end - s.start < len) fail('bitmap runs past the end of the frame')
    const out: boolean[] = []
    for (let i = 0; i < n; i++) out.push((s.buffer![s.start + (i >> 3)] & (1 << (i & 7))) !== 0)
    s.start += len
    return out
  },
}

const wireError = struct<WireError>({ code: uintCodec, message: boundedString('error message', MAX_MESSAGE_BYTES) })
const envelopeBytes = boundedBytes('envelope', MAX_FRAME_BYTES)

const fetchedObject: Codec<FetchedObject> = {
  preencode: (s, v) => {
    c.uint.preencode(s, v.status)
    if (v.status === FetchStatus.FOUND) envelopeBytes.preencode(s, v.envelope)
    else if (v.status === FetchStatus.FAILED) wireError.preencode(s, v.error)
  },
  encode: (s, v) => {
    c.uint.encode(s, v.status)
    if (v.status === FetchStatus.FOUND) envelopeBytes.encode(s, v.envelope)
    else if (v.status === FetchStatus.FAILED) wireError.encode(s, v.error)
  },
  decode: (s) => {
    const status = uintCodec.decode(s)
    switch (status) {
      case FetchStatus.FOUND:
        return { status, envelope: envelopeBytes.decode(s) }
      case FetchStatus.ABSENT:
      case FetchStatus.NOT_SENT:
        return { status }
      case FetchStatus.FAILED:
        return { status, error: wireError.decode(s) }
      default:
        fail(`unknown object status ${status}`)
    }
  },
}

const CODECS: { [K in MessageType]: Codec<Extract<Body, { type: K }>['body']> } = {
  [MessageType.HELLO]: struct<Hello>({
    magic: boundedString('magic', 16),
    version: uintCodec,
    minVersion: uintCodec,
    software: boundedString('software', MAX_NAME_BYTES),
  }),
  [MessageType.WELCOME]: struct<Welcome>({
    version: uintCodec,
    nodeName: name,
    vault: name,
    device: name,
    bootId: boundedBytes('boot id', 32),
    maxFrameBytes: uintCodec,
  }),
  [MessageType.READ_CONFIG]: empty,
  [MessageType.WRITE_CONFIG]: record,
  [MessageType.LIST_KEY_SLOTS]: empty,
  [MessageType.PUT_KEY_SLOT]: idRecord,
  [MessageType.REMOVE_KEY_SLOT]: id32,
  [MessageType.MISSING]: boundedArray('id list', MAX_IDS_PER_REQUEST, id32),
  [MessageType.PUT]: boundedArray('object list', MAX_OBJECTS_PER_PUT, struct<PutObject>({ id: id32, envelope: boundedBytes('envelope', MAX_FRAME_BYTES) })),
  [MessageType.GET]: id32,
  [MessageType.FLUSH]: empty,
  [MessageType.COMMIT_SNAPSHOT]: idRecord,
  [MessageType.LIST_SNAPSHOTS]: empty,
  [MessageType.REMOVE_SNAPSHOT]: id32,
  [MessageType.USAGE]: empty,
  [MessageType.PAIR]: struct<Pair>({ device: name, devicePublicKey: id32 }),
  [MessageType.REGISTER_PLANS]: struct<PlanRegistrations>({
    timeZone: boundedString('time zone', 64),
    plans: boundedArray('plan list', MAX_PLANS, struct<PlanRegistration>({ planId: planId16, name, schedule: boundedString('schedule', 256) })),
  }),
  [MessageType.RUN_REPORT]: struct<RunSummary>({
    planId: planId16,
    outcome: outcomeCodec,
    startedAt: uintCodec,
    finishedAt: uintCodec,
    filesNew: uintCodec,
    filesChanged: uintCodec,
    bytesRead: uintCodec,
    bytesNew: uintCodec,
    bytesStored: uintCodec,
    warningCount: uintCodec,
  }),
  [MessageType.GET_MANY]: boundedArray('id list', MAX_IDS_PER_GET, id32),
  [MessageType.OK]: empty,
  [MessageType.ERROR]: wireError,
  [MessageType.CONFIG]: optionalRecord,
  [MessageType.RECORDS]: boundedArray('record list', MAX_RECORDS, idRecord),
  [MessageType.MISSING_RESULT]: bitmap,
  [MessageType.OBJECT]: envelopeBytes,
  [MessageType.OBJECTS]: boundedArray('object list', MAX_IDS_PER_GET, fetchedObject),
  [MessageType.USAGE_RESULT]: struct<Usage>({
    usedBytes: uintCodec,
    quotaBytes: uintCodec,
    packCount: uintCodec,
    snapshotCount: uintCodec,
    objectCount: uintCodec,
  }),
  [MessageType.PAIRED]: struct<Paired>({ vault: name, device: name }),
}

export const REQUEST_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.READ_CONFIG, MessageType.WRITE_CONFIG, MessageType.LIST_KEY_SLOTS, MessageType.PUT_KEY_SLOT,
  MessageType.REMOVE_KEY_SLOT, MessageType.MISSING, MessageType.PUT, MessageType.GET, MessageType.FLUSH,
  MessageType.COMMIT_SNAPSHOT, MessageType.LIST_SNAPSHOTS, MessageType.REMOVE_SNAPSHOT, MessageType.USAGE,
  MessageType.PAIR, MessageType.REGISTER_PLANS, MessageType.RUN_REPORT, MessageType.GET_MANY,
])

export const RESPONSE_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.OK, MessageType.ERROR, MessageType.CONFIG, MessageType.RECORDS, MessageType.MISSING_RESULT,
  MessageType.OBJECT, MessageType.USAGE_RESULT, MessageType.PAIRED, MessageType.OBJECTS,
])

export function encodeFrame(frame: Frame): Uint8Array {
  const codec = CODECS[frame.type] as Codec<unknown>
  const state = c.state()
  c.uint8.preencode(state, frame.type)
  c.uint.preencode(state, frame.requestId)
  codec.preencode(state, frame.body)
  if (state.end > MAX_FRAME_BYTES) throw new Error(`Programmer error: frame of ${state.end} bytes exceeds ${MAX_FRAME_BYTES}`)
  state.buffer = Buffer.allocUnsafe(state.end)
  c.uint8.encode(state, frame.type)
  c.uint.encode(state, frame.requestId)
  codec.encode(state, frame.body)
  return state.buffer
}

/** Decodes one frame; BAD_MESSAGE for anything malformed. Byte fields are views into `bytes`. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length > MAX_FRAME_BYTES) fail(`frame of ${bytes.length} bytes exceeds the limit of ${MAX_FRAME_BYTES}`)
  if (bytes.length === 0) fail('empty frame')
  const state = c.state(0, bytes.length, bytes)
  const type = bytes[0] as MessageType
  state.start = 1
  const codec = CODECS[type] as Codec<unknown> | undefined
  if (codec === undefined) fail(`unknown message type ${bytes[0]}`)
  const requestId = uintCodec.decode(state)
  const body = codec.decode(state)
  if (state.start !== state.end) fail(`${state.end - state.start} unexpected bytes after a ${MessageType[type]} message`)
  return { type, requestId, body } as Frame
}

/** The HELLO of this version. */
export function helloFrame(software: string): Frame {
  return { type: MessageType.HELLO, requestId: 0, body: { magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, minVersion: PROTOCOL_VERSION, software } }
}

/** Checks a HELLO: the version this node speaks with the agent, or UNSUPPORTED_VERSION. */
export function negotiateVersion(hello: Hello): number {
  if (hello.magic !== PROTOCOL_MAGIC) throw ArcaError.badMessage('HELLO', `magic must be "${PROTOCOL_MAGIC}", received "${hello.magic}"`)
  if (hello.minVersion > PROTOCOL_VERSION || hello.version < PROTOCOL_VERSION) {
    throw ArcaError.unsupportedVersion('protocol', hello.version, PROTOCOL_VERSION)
  }
  return PROTOCOL_VERSION
}
