/**
 * The sync protocol. Pure part: every message type round-trips with exact fields (boundary values included), one
 * golden frame per message type and a golden invite (test/fixtures/protocol-golden.json) decode to literal values
 * and re-encode byte for byte, and the decoders are total (seeded random bytes, mutations and truncations give a
 * value or BAD_MESSAGE, never another error). Real part: a node on 127.0.0.1 answers protocol violations with an
 * ERROR frame and a closed connection and writes nothing, drops a key that is not paired before answering a frame,
 * and keeps vaults apart.
 *
 * Regenerate the fixture (after a deliberate, versioned protocol change only):
 *   ARCA_REGEN_GOLDEN=1 npx tap test/protocol.test.ts
 */
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import c from 'compact-encoding'
import t, { type Test } from 'tap'
import type { RemoteStore } from '../src/agent/remote-store.js'
import { ArcaError, isArcaError, WIRE_CODES, type ErrorCode } from '../src/core/errors.js'
import { toHex } from '../src/core/hex.js'
import { decodeInvite, encodeInvite, INVITE_PREFIX, type Invite } from '../src/protocol/invite.js'
import {
  decodeFrame, encodeFrame, FetchStatus, GET_MANY_BUDGET_BYTES, helloFrame, MAX_FRAME_BYTES, MAX_IDS_PER_GET, MAX_IDS_PER_REQUEST, MAX_MESSAGE_BYTES, MAX_NAME_BYTES, MAX_PLANS,
  MAX_OBJECTS_PER_PUT, MAX_RECORD_BYTES, MAX_RECORDS, MessageType, negotiateVersion, PROTOCOL_MAGIC, PROTOCOL_VERSION,
  REQUEST_TYPES, type Frame,
} from '../src/protocol/messages.js'
import { connectNoiseTcp, generateKeyPair, parseHostPort, type KeyPair } from '../src/transport/noise-tcp.js'
import { tempDir } from './helpers/env.js'
import { codeOf } from './helpers/error-code.js'
import { rng } from './helpers/rng.js'
import { chunk, id, snapshotRecord, tree } from './helpers/store-conformance.js'
import { connectRemote, pairTestDevice, startTestNode, type TestDevice, type TestNode } from './helpers/test-node.js'

const FIXTURE = resolve(import.meta.dirname, 'fixtures', 'protocol-golden.json')
const T = MessageType
const ALL_TYPES = Object.values(MessageType).filter((v): v is MessageType => typeof v === 'number')
const hex = (h: string): Buffer => Buffer.from(h, 'hex')
/** `length` bytes counting up from `start` (mod 256). */
const counting = (start: number, length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (start + i) & 0xff))
/** `n` distinct 32-byte ids. */
const ids = (n: number, fill = 0): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.alloc(32, fill).fill(i & 0xff, 0, 1).fill(i >> 8, 1, 2))
const varint = (n: number): Buffer => Buffer.from(c.encode(c.uint, n))
const bytes = (...parts: (number[] | Uint8Array | string)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))))

/** A value with every byte field as hex, for exact comparison whatever the Uint8Array subclass. */
function view(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes ${toHex(value)}`
  if (Array.isArray(value)) return value.map(view)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, view(v)]))
  return value
}

// ---- golden vectors ----

const ENVELOPE = bytes(hex('010100000000'), counting(0xe0, 10))

/** One frame per message type, with fixed contents; request ids cover 1-, 3- and 5-byte varints. */
function goldenFrames(): Frame[] {
  return [
    { type: T.HELLO, requestId: 0, body: { magic: 'arca-sync', version: 1, minVersion: 1, software: 'arca/golden' } },
    { type: T.WELCOME, requestId: 0, body: { version: 1, nodeName: 'golden-node', vault: 'team', device: 'laptop ü', bootId: counting(0x10, 16), maxFrameBytes: 12582912 } },
    { type: T.READ_CONFIG, requestId: 1, body: null },
    { type: T.WRITE_CONFIG, requestId: 2, body: counting(0x20, 40) },
    { type: T.LIST_KEY_SLOTS, requestId: 3, body: null },
    { type: T.PUT_KEY_SLOT, requestId: 4, body: { id: counting(0x40, 32), record: counting(0x60, 20) } },
    { type: T.REMOVE_KEY_SLOT, requestId: 5, body: counting(0x40, 32) },
    { type: T.MISSING, requestId: 6, body: [counting(0x80, 32), counting(0xa0, 32), counting(0xc0, 32)] },
    { type: T.PUT, requestId: 7, body: [{ id: counting(0x80, 32), envelope: ENVELOPE }, { id: counting(0xa0, 32), envelope: hex('010200000000') }] },
    { type: T.GET, requestId: 253, body: counting(0x80, 32) },
    { type: T.FLUSH, requestId: 9, body: null },
    { type: T.COMMIT_SNAPSHOT, requestId: 10, body: { id: counting(0xc0, 32), record: counting(0x00, 24) } },
    { type: T.LIST_SNAPSHOTS, requestId: 11, body: null },
    { type: T.REMOVE_SNAPSHOT, requestId: 12, body: counting(0xc0, 32) },
    { type: T.USAGE, requestId: 70000, body: null },
    { type: T.PAIR, requestId: 1, body: { device: 'laptop', devicePublicKey: counting(0x30, 32) } },
    { type: T.REGISTER_PLANS, requestId: 14, body: { timeZone: 'Europe/Paris', plans: [{ planId: counting(0x50, 16), name: 'documents', schedule: 'weekly:mon,thu@22:00' }] } },
    { type: T.RUN_REPORT, requestId: 15, body: { planId: counting(0x50, 16), outcome: 'cut-short', startedAt: 1795443681211, finishedAt: 1795443699000, filesNew: 3, filesChanged: 1, bytesRead: 1000, bytesNew: 700, bytesStored: 512, warningCount: 2 } },
    { type: T.GET_MANY, requestId: 16, body: [counting(0x80, 32), counting(0xa0, 32), counting(0xc0, 32), counting(0xe0, 32)] },
    { type: T.OK, requestId: 7, body: null },
    { type: T.ERROR, requestId: 253, body: { code: 5, message: 'Object not found in store: "8081"' } },
    { type: T.CONFIG, requestId: 1, body: counting(0x20, 40) },
    { type: T.RECORDS, requestId: 3, body: [{ id: counting(0x40, 32), record: counting(0x60, 20) }, { id: counting(0x41, 32), record: Buffer.alloc(0) }] },
    { type: T.MISSING_RESULT, requestId: 6, body: [true, false, true, false, false, false, false, true, true] },
    { type: T.OBJECT, requestId: 253, body: ENVELOPE },
    { type: T.USAGE_RESULT, requestId: 70000, body: { usedBytes: 5_000_000_000, quotaBytes: 0, packCount: 3, snapshotCount: 2, objectCount: 1234 } },
    { type: T.PAIRED, requestId: 1, body: { vault: 'team', device: 'laptop' } },
    {
      type: T.OBJECTS,
      requestId: 16,
      body: [
        { status: FetchStatus.FOUND, envelope: ENVELOPE },
        { status: FetchStatus.ABSENT },
        { status: FetchStatus.NOT_SENT },
        { status: FetchStatus.FAILED, error: { code: WIRE_CODES.INTEGRITY_ERROR, message: 'pack 3 is shorter than its index says' } },
      ],
    },
  ]
}

const GOLDEN_INVITE: Invite = {
  nodePublicKey: counting(0x10, 32),
  secret: counting(0x30, 32),
  addresses: ['192.0.2.10:7420', '[2001:db8::1]:7420'],
  bootstrap: ['192.0.2.20:49737'],
}

interface ProtocolGolden {
  description: string
  protocolVersion: number
  frames: Array<{ type: string; hex: string }>
  invite: { nodePublicKeyHex: string; secretHex: string; addresses: string[]; bootstrap: string[]; text: string }
}

function buildProtocolGolden(): ProtocolGolden {
  return {
    description:
      'Golden vectors of the sync protocol: one frame per message type (contents in goldenFrames() of ' +
      'test/protocol.test.ts) and one invite. A change to these bytes is a protocol change: bump PROTOCOL_VERSION or ' +
      'the invite version with it, then regenerate with ARCA_REGEN_GOLDEN=1 npx tap test/protocol.test.ts.',
    protocolVersion: PROTOCOL_VERSION,
    frames: goldenFrames().map((f) => ({ type: MessageType[f.type], hex: toHex(encodeFrame(f)) })),
    invite: {
      nodePublicKeyHex: toHex(GOLDEN_INVITE.nodePublicKey),
      secretHex: toHex(GOLDEN_INVITE.secret),
      addresses: GOLDEN_INVITE.addresses,
      bootstrap: GOLDEN_INVITE.bootstrap,
      text: encodeInvite(GOLDEN_INVITE),
    },
  }
}

await t.test(
  'regenerate the protocol golden fixture',
  { skip: process.env.ARCA_REGEN_GOLDEN === '1' ? false : 'set ARCA_REGEN_GOLDEN=1 to rewrite test/fixtures/protocol-golden.json' },
  async (t) => {
    writeFileSync(FIXTURE, JSON.stringify(buildProtocolGolden(), null, 2) + '\n')
    t.pass(`wrote ${FIXTURE}`)
  },
)

const golden = JSON.parse(readFileSync(FIXTURE, 'utf8')) as ProtocolGolden
const goldenBytes = golden.frames.map((f) => hex(f.hex))

t.test('golden frames: one per message type, decoded to the expected frame, re-encoded byte for byte', async (t) => {
  const expected = goldenFrames()
  t.equal(golden.protocolVersion, 1)
  t.strictSame(golden.frames.map((f) => f.type), ALL_TYPES.map((type) => MessageType[type]), 'every message type, in enum order')
  t.strictSame(expected.map((f) => f.type), ALL_TYPES)
  for (const [i, f] of golden.frames.entries()) {
    const decoded = decodeFrame(goldenBytes[i])
    t.strictSame(view(decoded), view(expected[i]), `${f.type}: decodes to the expected frame`)
    t.equal(toHex(encodeFrame(decoded)), f.hex, `${f.type}: the decoded frame re-encodes to the golden bytes`)
    t.equal(toHex(encodeFrame(expected[i])), f.hex, `${f.type}: the expected frame encodes to the golden bytes`)
    // the same bytes inside a larger buffer (byteOffset != 0) decode the same
    const framed = Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), goldenBytes[i], Buffer.from([0xdd])])
    t.strictSame(view(decodeFrame(new Uint8Array(framed.buffer, framed.byteOffset + 3, goldenBytes[i].length))), view(expected[i]), `${f.type}: decodes from a view`)
  }
  t.strictSame(view(helloFrame('arca/golden')), view(expected[0]), 'helloFrame() is the golden HELLO')
  t.strictSame(buildProtocolGolden(), golden, 'the generator reproduces the fixture exactly')
})

t.test('golden frames: byte layout spelled out', async (t) => {
  const at = (type: MessageType): string => golden.frames.find((f) => f.type === MessageType[type])!.hex
  t.equal(at(T.HELLO), '01' + '00' + '09' + toHex(Buffer.from('arca-sync')) + '01' + '01' + '0b' + toHex(Buffer.from('arca/golden')))
  t.equal(at(T.OK), '4007', 'type, request id')
  t.equal(at(T.GET), '11' + 'fdfd00' + toHex(counting(0x80, 32)), 'request id 253 takes 0xfd + uint16 LE')
  t.equal(at(T.USAGE), '16' + 'fe70110100', 'request id 70000 takes 0xfe + uint32 LE')
  t.equal(at(T.MISSING), '0f' + '06' + '03' + toHex(counting(0x80, 32)) + toHex(counting(0xa0, 32)) + toHex(counting(0xc0, 32)))
  t.equal(at(T.MISSING_RESULT), '44' + '06' + '09' + '85' + '01', '9 booleans: count, then bits LSB first')
  t.equal(at(T.CONFIG), '42' + '01' + '01' + '28' + toHex(counting(0x20, 40)), 'presence flag 1, length, record')
  t.equal(toHex(encodeFrame({ type: T.CONFIG, requestId: 1, body: null })), '420100', 'presence flag 0')
  t.equal(at(T.ERROR), '41' + 'fdfd00' + '05' + '21' + toHex(Buffer.from('Object not found in store: "8081"')))
  t.equal(at(T.USAGE_RESULT), '46' + 'fe70110100' + 'ff' + '00f2052a01000000' + '00' + '03' + '02' + 'fdd204', 'usedBytes over 2^32 takes 0xff + uint64 LE')
})

t.test('golden invite: decodes to its inputs, re-encodes to the same text', async (t) => {
  const g = golden.invite
  t.match(g.text, /^arca-invite1-[A-Za-z0-9_-]+$/)
  const raw = Buffer.from(g.text.slice(INVITE_PREFIX.length), 'base64url')
  t.equal(raw[0], 1, 'version byte')
  t.equal(toHex(raw.subarray(1, 33)), toHex(counting(0x10, 32)), 'node public key')
  t.equal(toHex(raw.subarray(33, 65)), toHex(counting(0x30, 32)), 'secret')
  const content = raw.subarray(0, raw.length - 4)
  t.equal(toHex(raw.subarray(raw.length - 4)), createHash('sha256').update(content).digest('hex').slice(0, 8), 'checksum: first 4 bytes of SHA-256')
  t.equal(toHex(raw.subarray(65, raw.length - 4)), '02' + '0f' + toHex(Buffer.from('192.0.2.10:7420')) + '12' + toHex(Buffer.from('[2001:db8::1]:7420')) + '01' + '10' + toHex(Buffer.from('192.0.2.20:49737')))
  const decoded = decodeInvite(g.text)
  t.strictSame(view(decoded), view({ nodePublicKey: hex(g.nodePublicKeyHex), secret: hex(g.secretHex), addresses: g.addresses, bootstrap: g.bootstrap }))
  t.strictSame(view(decoded), view(GOLDEN_INVITE))
  t.equal(encodeInvite(decoded), g.text, 're-encodes to the golden text')
  t.strictSame(view(decodeInvite(`  \n${g.text}\n`)), view(decoded), 'surrounding whitespace is ignored')
})

// ---- round trips ----

const MAX_UINT = Number.MAX_SAFE_INTEGER
const ROUND_TRIPS: Array<[string, Frame]> = [
  ['HELLO of this version', helloFrame('arca/0.1.0')],
  ['HELLO: 16-byte magic, empty software, extreme versions', { type: T.HELLO, requestId: 0, body: { magic: 'x'.repeat(16), version: MAX_UINT, minVersion: 0, software: '' } }],
  ['HELLO: software of MAX_NAME_BYTES bytes of 2-byte characters', { type: T.HELLO, requestId: 0, body: { magic: '', version: 1, minVersion: 1, software: 'é'.repeat(MAX_NAME_BYTES / 2) } }],
  ['WELCOME', { type: T.WELCOME, requestId: 0, body: { version: 1, nodeName: 'node', vault: 'team', device: 'laptop', bootId: counting(1, 16), maxFrameBytes: MAX_FRAME_BYTES } }],
  ['WELCOME: empty names and boot id', { type: T.WELCOME, requestId: 0, body: { version: 0, nodeName: '', vault: '', device: '', bootId: Buffer.alloc(0), maxFrameBytes: 0 } }],
  ['WELCOME: 32-byte boot id, names of MAX_NAME_BYTES', { type: T.WELCOME, requestId: 0, body: { version: 1, nodeName: 'n'.repeat(MAX_NAME_BYTES), vault: '😀'.repeat(MAX_NAME_BYTES / 4), device: 'd'.repeat(MAX_NAME_BYTES), bootId: counting(2, 32), maxFrameBytes: MAX_UINT } }],
  ['READ_CONFIG, request id 0xfc', { type: T.READ_CONFIG, requestId: 0xfc, body: null }],
  ['LIST_KEY_SLOTS, request id 0xfd', { type: T.LIST_KEY_SLOTS, requestId: 0xfd, body: null }],
  ['FLUSH, request id 0xffff', { type: T.FLUSH, requestId: 0xffff, body: null }],
  ['LIST_SNAPSHOTS, request id 0x10000', { type: T.LIST_SNAPSHOTS, requestId: 0x10000, body: null }],
  ['USAGE, request id 0xffffffff', { type: T.USAGE, requestId: 0xffffffff, body: null }],
  ['OK, request id 2^32', { type: T.OK, requestId: 0x100000000, body: null }],
  ['OK, request id MAX_SAFE_INTEGER', { type: T.OK, requestId: MAX_UINT, body: null }],
  ['WRITE_CONFIG: empty record', { type: T.WRITE_CONFIG, requestId: 1, body: Buffer.alloc(0) }],
  ['WRITE_CONFIG: record of MAX_RECORD_BYTES', { type: T.WRITE_CONFIG, requestId: 1, body: Buffer.alloc(MAX_RECORD_BYTES, 7) }],
  ['PUT_KEY_SLOT', { type: T.PUT_KEY_SLOT, requestId: 2, body: { id: id('slot'), record: counting(3, 90) } }],
  ['PUT_KEY_SLOT: empty record', { type: T.PUT_KEY_SLOT, requestId: 2, body: { id: id('slot'), record: Buffer.alloc(0) } }],
  ['REMOVE_KEY_SLOT', { type: T.REMOVE_KEY_SLOT, requestId: 3, body: id('slot') }],
  ['MISSING: no ids', { type: T.MISSING, requestId: 4, body: [] }],
  ['MISSING: one id', { type: T.MISSING, requestId: 4, body: [id('one')] }],
  ['MISSING: MAX_IDS_PER_REQUEST ids', { type: T.MISSING, requestId: 4, body: ids(MAX_IDS_PER_REQUEST) }],
  ['PUT: no objects', { type: T.PUT, requestId: 5, body: [] }],
  ['PUT: one empty envelope', { type: T.PUT, requestId: 5, body: [{ id: id('empty'), envelope: Buffer.alloc(0) }] }],
  ['PUT: MAX_OBJECTS_PER_PUT objects', { type: T.PUT, requestId: 5, body: ids(MAX_OBJECTS_PER_PUT, 9).map((x, i) => ({ id: x, envelope: counting(i, i % 40) })) }],
  ['GET', { type: T.GET, requestId: 6, body: id('get') }],
  ['GET_MANY: no ids', { type: T.GET_MANY, requestId: 6, body: [] }],
  ['GET_MANY: MAX_IDS_PER_GET ids', { type: T.GET_MANY, requestId: 6, body: ids(MAX_IDS_PER_GET, 5) }],
  ['COMMIT_SNAPSHOT', { type: T.COMMIT_SNAPSHOT, requestId: 7, body: { id: id('snap'), record: snapshotRecord(id('root'), 1) } }],
  ['REMOVE_SNAPSHOT', { type: T.REMOVE_SNAPSHOT, requestId: 8, body: id('snap') }],
  ['PAIR', { type: T.PAIR, requestId: 1, body: { device: 'laptop-2', devicePublicKey: id('key') } }],
  ['PAIR: empty device name', { type: T.PAIR, requestId: 1, body: { device: '', devicePublicKey: id('key') } }],
  ['REGISTER_PLANS: none', { type: T.REGISTER_PLANS, requestId: 1, body: { timeZone: 'UTC', plans: [] } }],
  ['REGISTER_PLANS: MAX_PLANS', { type: T.REGISTER_PLANS, requestId: 1, body: { timeZone: 'America/Argentina/Buenos_Aires', plans: Array.from({ length: MAX_PLANS }, (_, i) => ({ planId: counting(i, 16), name: `plan-${i}`, schedule: 'every:2h/08:00-20:00' })) } }],
  ['RUN_REPORT: every outcome', { type: T.RUN_REPORT, requestId: 2, body: { planId: counting(1, 16), outcome: 'failed', startedAt: 0, finishedAt: MAX_UINT, filesNew: 0, filesChanged: 0, bytesRead: MAX_UINT, bytesNew: 0, bytesStored: 0, warningCount: 0 } }],
  ['ERROR: code 0, empty message', { type: T.ERROR, requestId: 0, body: { code: 0, message: '' } }],
  ['ERROR: message of MAX_MESSAGE_BYTES', { type: T.ERROR, requestId: 9, body: { code: WIRE_CODES.QUOTA_EXCEEDED, message: 'q'.repeat(MAX_MESSAGE_BYTES) } }],
  ['CONFIG: absent (flag 0)', { type: T.CONFIG, requestId: 1, body: null }],
  ['CONFIG: present and empty (flag 1, length 0)', { type: T.CONFIG, requestId: 1, body: Buffer.alloc(0) }],
  ['CONFIG: present', { type: T.CONFIG, requestId: 1, body: counting(5, 200) }],
  ['RECORDS: none', { type: T.RECORDS, requestId: 2, body: [] }],
  ['RECORDS: 100, one empty', { type: T.RECORDS, requestId: 2, body: ids(100, 3).map((x, i) => ({ id: x, record: counting(i, i === 50 ? 0 : 30 + i) })) }],
  ['MISSING_RESULT: 0 entries', { type: T.MISSING_RESULT, requestId: 4, body: [] }],
  ['MISSING_RESULT: 1 entry', { type: T.MISSING_RESULT, requestId: 4, body: [true] }],
  ['MISSING_RESULT: 8 entries', { type: T.MISSING_RESULT, requestId: 4, body: [false, true, true, false, true, false, false, true] }],
  ['MISSING_RESULT: 9 entries, last true', { type: T.MISSING_RESULT, requestId: 4, body: [false, false, false, false, false, false, false, false, true] }],
  ['MISSING_RESULT: MAX_IDS_PER_REQUEST entries', { type: T.MISSING_RESULT, requestId: 4, body: Array.from({ length: MAX_IDS_PER_REQUEST }, (_, i) => i % 3 === 0 || i % 7 === 0) }],
  ['OBJECT: empty', { type: T.OBJECT, requestId: 6, body: Buffer.alloc(0) }],
  ['OBJECT', { type: T.OBJECT, requestId: 6, body: chunk(1, 5000) }],
  ['USAGE_RESULT: zeros', { type: T.USAGE_RESULT, requestId: 10, body: { usedBytes: 0, quotaBytes: 0, packCount: 0, snapshotCount: 0, objectCount: 0 } }],
  ['USAGE_RESULT: MAX_SAFE_INTEGER everywhere', { type: T.USAGE_RESULT, requestId: 10, body: { usedBytes: MAX_UINT, quotaBytes: MAX_UINT, packCount: MAX_UINT, snapshotCount: MAX_UINT, objectCount: MAX_UINT } }],
  ['PAIRED', { type: T.PAIRED, requestId: 1, body: { vault: 'team', device: 'laptop ü' } }],
  ['OBJECTS: none', { type: T.OBJECTS, requestId: 6, body: [] }],
  ['OBJECTS: MAX_IDS_PER_GET, every status, an empty envelope', {
    type: T.OBJECTS,
    requestId: 6,
    body: Array.from({ length: MAX_IDS_PER_GET }, (_, i) => [
      { status: FetchStatus.FOUND as const, envelope: counting(i, i === 4 ? 0 : 10 + i) },
      { status: FetchStatus.ABSENT as const },
      { status: FetchStatus.NOT_SENT as const },
      { status: FetchStatus.FAILED as const, error: { code: i, message: i === 3 ? '' : `error ${i}` } },
    ][i % 4]),
  }],
]

t.test('every message type round-trips with exact fields, boundary values included', async (t) => {
  t.strictSame([...new Set(ROUND_TRIPS.map(([, f]) => f.type))].sort((a, b) => a - b), ALL_TYPES, 'the table covers every message type')
  for (const [name, frame] of ROUND_TRIPS) {
    const encoded = encodeFrame(frame)
    t.equal(encoded[0], frame.type, `${name}: type byte`)
    const decoded = decodeFrame(encoded)
    t.strictSame(view(decoded), view(frame), `${name}: decodes to the same fields`)
    t.ok(Buffer.from(encodeFrame(decoded)).equals(encoded), `${name}: re-encodes to the same bytes`)
  }
})

t.test('encoded sizes: request id varints and bitmaps', async (t) => {
  const idSizes = [0, 0xfc, 0xfd, 0xffff, 0x10000, 0xffffffff, 0x100000000, MAX_UINT].map((r) => encodeFrame({ type: T.OK, requestId: r, body: null }).length)
  t.strictSame(idSizes, [2, 2, 4, 4, 6, 6, 10, 10])
  const bitmapSizes = [0, 1, 8, 9, 16, 17, MAX_IDS_PER_REQUEST].map((n) => encodeFrame({ type: T.MISSING_RESULT, requestId: 1, body: new Array<boolean>(n).fill(true) }).length)
  t.strictSame(bitmapSizes, [3, 4, 4, 5, 5, 6, 2 + 3 + MAX_IDS_PER_REQUEST / 8], 'type, id, count, ceil(n / 8) bytes')
  t.equal(toHex(encodeFrame({ type: T.MISSING_RESULT, requestId: 1, body: new Array<boolean>(8).fill(true) })), '440108ff')
  t.equal(toHex(encodeFrame({ type: T.MISSING_RESULT, requestId: 1, body: [] })), '440100', 'an empty bitmap is its count alone')
})

// ---- decoder totality ----

/** The outcome of decoding `b`: 'ok', an ArcaError code, or the name and message of any other error. */
function decodeOutcome(b: Uint8Array): string {
  return codeOf(() => {
    const frame = decodeFrame(b)
    // anything that decodes must encode again, to the same fields
    const again = decodeFrame(encodeFrame(frame))
    if (JSON.stringify(view(again)) !== JSON.stringify(view(frame))) throw new Error('decoded frame does not survive a round trip')
  })
}

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn()
    return { code: 'ok', message: '' }
  } catch (err) {
    return { code: err instanceof ArcaError ? err.code : `${(err as Error).name}`, message: (err as Error).message }
  }
}

const SPECIAL_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xc0, 0xed, 0xf0, 0xfc, 0xfd, 0xfe, 0xff]

/** A seeded damage of `base`: byte changes (including varint markers), insertion, deletion, trailing bytes. */
function mutate(next: () => number, base: Uint8Array): [string, Buffer] {
  const b = Buffer.from(base)
  const at = next() % b.length
  const value = (): number => (next() % 2 === 0 ? SPECIAL_BYTES[next() % SPECIAL_BYTES.length] : next() & 0xff)
  switch (next() % 6) {
    case 0:
      b[at] = (b[at] + 1 + (next() % 255)) & 0xff
      return [`byte ${at} changed`, b]
    case 1: {
      const n = 2 + (next() % 4)
      for (let i = 0; i < n; i++) b[next() % b.length] = value()
      return [`${n} bytes changed`, b]
    }
    case 2:
      return [`byte inserted at ${at}`, Buffer.concat([b.subarray(0, at), Buffer.from([value()]), b.subarray(at)])]
    case 3:
      return [`byte ${at} deleted`, Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])]
    case 4:
      return ['bytes appended', Buffer.concat([b, Buffer.from(Array.from({ length: 1 + (next() % 3) }, value))])]
    default:
      b[at] = value()
      return [`byte ${at} set to ${b[at]}`, b]
  }
}

/** Random frames: half of them start with a known message type, so they reach the body codecs. */
function randomFrame(next: () => number): Buffer {
  const b = Buffer.from(Array.from({ length: 1 + (next() % 80) }, () => next() & 0xff))
  if (next() % 2 === 0) b[0] = ALL_TYPES[next() % ALL_TYPES.length]
  return b
}

const MUTATION_BASES = [...goldenBytes, ...ROUND_TRIPS.map(([, f]) => encodeFrame(f)).filter((b) => b.length < 2000)]

t.test('decodeFrame is total: random bytes, truncations and seeded mutations', async (t) => {
  const tally: Record<string, number> = {}
  const unexpected: string[] = []
  const check = (b: Uint8Array, what: string): void => {
    const outcome = decodeOutcome(b)
    tally[outcome] = (tally[outcome] ?? 0) + 1
    if (outcome !== 'ok' && outcome !== 'BAD_MESSAGE') unexpected.push(`${what} (${toHex(b.subarray(0, 40))}): ${outcome}`)
  }
  const next = rng(0x9a0e)
  for (let n = 0; n < 4000; n++) check(randomFrame(next), `random frame ${n}`)
  for (const [i, base] of MUTATION_BASES.entries()) {
    for (let length = 0; length < base.length; length++) check(base.subarray(0, length), `frame ${i} cut to ${length} bytes`)
    for (let n = 0; n < 150; n++) {
      const [what, b] = mutate(next, base)
      check(b, `frame ${i}: ${what}`)
    }
  }
  const total = Object.values(tally).reduce((a, b) => a + b, 0)
  t.ok(total > 10_000, `${total} inputs decoded`)
  t.strictSame(unexpected.slice(0, 10), [], `only frames and BAD_MESSAGE (${JSON.stringify(tally)})`)
  t.ok(tally.ok > 1000 && tally.BAD_MESSAGE > 5000, 'both outcomes are common')
})

t.test('decodeFrame: every strict prefix and every trailing byte of a golden frame is refused', async (t) => {
  const wrong: string[] = []
  for (const [i, b] of goldenBytes.entries()) {
    for (let length = 0; length < b.length; length++) if (codeOf(() => decodeFrame(b.subarray(0, length))) !== 'BAD_MESSAGE') wrong.push(`${golden.frames[i].type} cut to ${length}`)
    const e = errorOf(() => decodeFrame(Buffer.concat([b, Buffer.from([0])])))
    t.strictSame(e, { code: 'BAD_MESSAGE', message: `Malformed frame: 1 unexpected bytes after a ${golden.frames[i].type} message` }, `${golden.frames[i].type} + 1 byte`)
  }
  t.strictSame(wrong, [])
})

t.test('decodeFrame: explicit malformed frames', async (t) => {
  const name = (raw: number[] | Buffer): Buffer => bytes([T.PAIRED, 1], varint(raw.length), raw, [1], 'x')
  const cases: Array<[string, Uint8Array, string | RegExp]> = [
    ['empty frame', Buffer.alloc(0), 'Malformed frame: empty frame'],
    ['RUN_REPORT with outcome 4', bytes([T.RUN_REPORT, 1], Buffer.alloc(16, 1), [4]), 'Malformed frame: unknown run outcome 4'],
    ['REGISTER_PLANS with a 15-byte plan id', bytes([T.REGISTER_PLANS, 1, 3], 'UTC', [1], Buffer.alloc(15, 1)), 'Malformed frame: plan id runs past the end of the frame'],
    ...[0, 3, 9, 27, 63, 73, 128, 255].map((type): [string, Uint8Array, string] => [`unknown type ${type}`, bytes([type, 1]), `Malformed frame: unknown message type ${type}`]),
    ['OK with a trailing byte', bytes([T.OK, 1, 0]), 'Malformed frame: 1 unexpected bytes after a OK message'],
    ['READ_CONFIG with 3 trailing bytes', bytes([T.READ_CONFIG, 1, 1, 2, 3]), 'Malformed frame: 3 unexpected bytes after a READ_CONFIG message'],
    ['MISSING with MAX_IDS_PER_REQUEST + 1 ids', encodeFrame({ type: T.MISSING, requestId: 1, body: ids(MAX_IDS_PER_REQUEST + 1) }), `Malformed frame: id list has ${MAX_IDS_PER_REQUEST + 1} entries, the limit is ${MAX_IDS_PER_REQUEST}`],
    ['PUT with MAX_OBJECTS_PER_PUT + 1 objects', encodeFrame({ type: T.PUT, requestId: 1, body: ids(MAX_OBJECTS_PER_PUT + 1).map((x) => ({ id: x, envelope: ENVELOPE })) }), /object list has 1025 entries, the limit is 1024$/],
    ['MISSING_RESULT with MAX_IDS_PER_REQUEST + 1 entries', encodeFrame({ type: T.MISSING_RESULT, requestId: 1, body: new Array<boolean>(MAX_IDS_PER_REQUEST + 1).fill(false) }), /answer has 8193 entries, the limit is 8192$/],
    ['RECORDS announcing MAX_RECORDS + 1', bytes([T.RECORDS, 1], varint(MAX_RECORDS + 1)), /record list has 1000001 entries, the limit is 1000000$/],
    ['MISSING announcing 3 ids, holding 2', bytes([T.MISSING, 1, 3], id('a'), id('b')), 'Malformed frame: id runs past the end of the frame'],
    ['GET with a 31-byte id', bytes([T.GET, 1], counting(0, 31)), 'Malformed frame: id runs past the end of the frame'],
    ['GET_MANY with MAX_IDS_PER_GET + 1 ids', encodeFrame({ type: T.GET_MANY, requestId: 1, body: ids(MAX_IDS_PER_GET + 1) }), `Malformed frame: id list has ${MAX_IDS_PER_GET + 1} entries, the limit is ${MAX_IDS_PER_GET}`],
    ['OBJECTS announcing MAX_IDS_PER_GET + 1', bytes([T.OBJECTS, 1], varint(MAX_IDS_PER_GET + 1)), `Malformed frame: object list has ${MAX_IDS_PER_GET + 1} entries, the limit is ${MAX_IDS_PER_GET}`],
    ['OBJECTS with status 4', bytes([T.OBJECTS, 1, 1, 4]), 'Malformed frame: unknown object status 4'],
    ['OBJECTS: FOUND without its envelope', bytes([T.OBJECTS, 1, 1, 0]), /^Malformed frame: integer runs past the end/],
    ['OBJECTS: FOUND, length 9, 2 bytes follow', bytes([T.OBJECTS, 1, 1, 0, 9, 1, 2]), 'Malformed frame: envelope of 9 bytes runs past the end of the frame'],
    ['OBJECTS: FAILED without its message', bytes([T.OBJECTS, 1, 1, 3, 5]), /^Malformed frame: integer runs past the end/],
    ['OBJECT length 10, 5 bytes follow', bytes([T.OBJECT, 1, 10], counting(0, 5)), 'Malformed frame: envelope of 10 bytes runs past the end of the frame'],
    ['WRITE_CONFIG length 65535, 3 bytes follow', bytes([T.WRITE_CONFIG, 1], varint(0xffff), [1, 2, 3]), 'Malformed frame: record of 65535 bytes runs past the end of the frame'],
    ['PAIRED name length 5, 2 bytes follow', bytes([T.PAIRED, 1, 5], 'ab'), 'Malformed frame: name of 5 bytes runs past the end of the frame'],
    ['MISSING_RESULT of 9 entries with 1 byte of bits', bytes([T.MISSING_RESULT, 1, 9, 0xff]), 'Malformed frame: bitmap runs past the end of the frame'],
    ['PUT count cut inside its varint', bytes([T.PUT, 1, 0xfd]), /^Malformed frame: integer runs past the end/],
    ['WRITE_CONFIG length cut inside its varint', bytes([T.WRITE_CONFIG, 1, 0xfe, 1]), /^Malformed frame: integer runs past the end/],
    ['request id cut inside its varint', bytes([T.OK, 0xff, 1, 2]), /^Malformed frame: integer runs past the end/],
    ['MISSING count over 2^53', bytes([T.MISSING, 1], Buffer.alloc(9, 0xff)), /^Malformed frame: integer .* too large$/],
    ['OBJECT length over 2^53', bytes([T.OBJECT, 1], Buffer.alloc(9, 0xff)), /^Malformed frame: integer .* too large$/],
    ['WRITE_CONFIG of MAX_RECORD_BYTES + 1', bytes([T.WRITE_CONFIG, 1], varint(MAX_RECORD_BYTES + 1)), `Malformed frame: record of ${MAX_RECORD_BYTES + 1} bytes exceeds the limit of ${MAX_RECORD_BYTES}`],
    ['PAIRED vault of MAX_NAME_BYTES + 1', encodeFrame({ type: T.PAIRED, requestId: 1, body: { vault: 'v'.repeat(MAX_NAME_BYTES + 1), device: 'd' } }), 'Malformed frame: name of 129 bytes exceeds the limit of 128'],
    ['HELLO magic of 17 bytes', encodeFrame({ type: T.HELLO, requestId: 0, body: { magic: 'm'.repeat(17), version: 1, minVersion: 1, software: '' } }), 'Malformed frame: magic of 17 bytes exceeds the limit of 16'],
    ['WELCOME boot id of 33 bytes', encodeFrame({ type: T.WELCOME, requestId: 0, body: { version: 1, nodeName: '', vault: '', device: '', bootId: counting(0, 33), maxFrameBytes: 1 } }), 'Malformed frame: boot id of 33 bytes exceeds the limit of 32'],
    ['ERROR message of MAX_MESSAGE_BYTES + 1', encodeFrame({ type: T.ERROR, requestId: 1, body: { code: 2, message: 'e'.repeat(MAX_MESSAGE_BYTES + 1) } }), 'Malformed frame: error message of 4097 bytes exceeds the limit of 4096'],
    ['CONFIG presence flag 2', bytes([T.CONFIG, 1, 2, 0]), 'Malformed frame: presence flag must be 0 or 1, received 2'],
    ['CONFIG presence flag 1 without a record', bytes([T.CONFIG, 1, 1]), /^Malformed frame: integer runs past the end/],
    ['name: byte 0xff', name([0xff]), 'Malformed frame: name is not valid UTF-8'],
    ['name: lone continuation byte', name([0x61, 0x80, 0x62]), 'Malformed frame: name is not valid UTF-8'],
    ['name: overlong "/"', name([0xc0, 0xaf]), 'Malformed frame: name is not valid UTF-8'],
    ['name: UTF-16 surrogate', name([0xed, 0xa0, 0x80]), 'Malformed frame: name is not valid UTF-8'],
    ['name: 3-byte sequence cut', name([0xe2, 0x82]), 'Malformed frame: name is not valid UTF-8'],
    ['name: 4-byte sequence cut to 3, then "A"', name([0xf0, 0x9f, 0x98, 0x41]), 'Malformed frame: name is not valid UTF-8'],
    ['name: 4-byte sequence cut to 3 at the end', name([0xf0, 0x9f, 0x98]), 'Malformed frame: name is not valid UTF-8'],
    ['HELLO software: invalid UTF-8', bytes([T.HELLO, 0, 9], PROTOCOL_MAGIC, [1, 1, 3, 0x61, 0xff, 0x62]), 'Malformed frame: software is not valid UTF-8'],
    ['ERROR message: invalid UTF-8', bytes([T.ERROR, 1, 2, 2, 0xf0, 0x9f]), 'Malformed frame: error message is not valid UTF-8'],
    ['frame of MAX_FRAME_BYTES + 1', bytes([T.OBJECT, 1], Buffer.alloc(MAX_FRAME_BYTES - 1)), `Malformed frame: frame of ${MAX_FRAME_BYTES + 1} bytes exceeds the limit of ${MAX_FRAME_BYTES}`],
  ]
  for (const [what, b, expected] of cases) {
    const e = errorOf(() => decodeFrame(b))
    t.equal(e.code, 'BAD_MESSAGE', `${what}: BAD_MESSAGE`)
    if (typeof expected === 'string') t.equal(e.message, expected, `${what}: message`)
    else t.match(e.message, expected, `${what}: message`)
  }
  const valid: Array<[string, Uint8Array]> = [
    ['MISSING with MAX_IDS_PER_REQUEST ids', encodeFrame({ type: T.MISSING, requestId: 1, body: ids(MAX_IDS_PER_REQUEST) })],
    ['name: "ü", an emoji, a literal U+FFFD', name([0xc3, 0xbc, 0xf0, 0x9f, 0x98, 0x80, 0xef, 0xbf, 0xbd])],
    ['frame of exactly MAX_FRAME_BYTES', encodeFrame({ type: T.OBJECT, requestId: 1, body: Buffer.alloc(MAX_FRAME_BYTES - 7) })],
  ]
  for (const [what, b] of valid) t.equal(decodeOutcome(b), 'ok', `${what}: decodes`)
  t.strictSame(decodeFrame(name([0xc3, 0xbc, 0xf0, 0x9f, 0x98, 0x80, 0xef, 0xbf, 0xbd])).body, { vault: 'ü😀\ufffd', device: 'x' })
  // Encoding something that cannot be sent is a programmer error, not a coded one.
  t.match(codeOf(() => encodeFrame({ type: T.OBJECT, requestId: 1, body: Buffer.alloc(MAX_FRAME_BYTES - 6) })), /^Error: Programmer error: frame of 12582913 bytes exceeds 12582912$/)
  t.match(codeOf(() => encodeFrame({ type: T.GET, requestId: 1, body: counting(0, 31) })), /^Error: Programmer error: an id must be 32 bytes/)
})

t.test('negotiateVersion: wrong magic is BAD_MESSAGE, no common version is UNSUPPORTED_VERSION', async (t) => {
  const hello = (magic: string, version: number, minVersion: number): Frame => ({ type: MessageType.HELLO, requestId: 0, body: { magic, version, minVersion, software: 'x' } })
  const negotiate = (f: Frame): string | number => {
    const decoded = decodeFrame(encodeFrame(f))
    if (decoded.type !== MessageType.HELLO) throw new Error('not a HELLO')
    try {
      return negotiateVersion(decoded.body)
    } catch (err) {
      return err instanceof ArcaError ? `${err.code}: ${err.message}` : String(err)
    }
  }
  t.equal(negotiate(helloFrame('arca/test')), 1, 'the HELLO of this version')
  t.equal(negotiate(hello(PROTOCOL_MAGIC, 5, 1)), 1, 'a newer agent that still speaks version 1')
  t.equal(negotiate(hello('arca-sink', 1, 1)), 'BAD_MESSAGE: Malformed HELLO: magic must be "arca-sync", received "arca-sink"')
  t.equal(negotiate(hello('', 1, 1)), 'BAD_MESSAGE: Malformed HELLO: magic must be "arca-sync", received ""')
  t.equal(negotiate(hello(PROTOCOL_MAGIC, 0, 0)), 'UNSUPPORTED_VERSION: Unsupported protocol version: expected 1, received 0', 'an older agent')
  t.equal(negotiate(hello(PROTOCOL_MAGIC, 2, 2)), 'UNSUPPORTED_VERSION: Unsupported protocol version: expected 1, received 2', 'a newer agent without version 1')
  t.equal(negotiate(hello(PROTOCOL_MAGIC, MAX_UINT, 3)), `UNSUPPORTED_VERSION: Unsupported protocol version: expected 1, received ${MAX_UINT}`)
})

// ---- invites ----

/** An invite text around arbitrary content, with a correct checksum, so damage reaches the field decoders. */
function inviteText(content: Uint8Array): string {
  const sum = createHash('sha256').update(content).digest().subarray(0, 4)
  return INVITE_PREFIX + Buffer.concat([content, sum]).toString('base64url')
}
const inviteContent = (text: string): Buffer => {
  const raw = Buffer.from(text.slice(INVITE_PREFIX.length), 'base64url')
  return raw.subarray(0, raw.length - 4)
}

t.test('invites: round trips and explicit refusals', async (t) => {
  const invites: Invite[] = [
    GOLDEN_INVITE,
    { nodePublicKey: id('k'), secret: id('s'), addresses: [], bootstrap: [] },
    { nodePublicKey: id('k'), secret: id('s'), addresses: Array.from({ length: 16 }, (_, i) => `10.0.0.${i}:1`), bootstrap: ['a'.repeat(300)] },
  ]
  for (const [i, inv] of invites.entries()) t.strictSame(view(decodeInvite(encodeInvite(inv))), view(inv), `invite ${i} round-trips`)
  const text = golden.invite.text
  const content = inviteContent(text)
  const flipped = text.slice(0, 30) + (text[30] === 'A' ? 'B' : 'A') + text.slice(31)
  const withVersion = (v: number): Buffer => Buffer.concat([Buffer.from([v]), content.subarray(1)])
  const cases: Array<[string, string, ErrorCode, RegExp]> = [
    ['wrong prefix', text.replace('arca-invite1-', 'arca-invite2-'), 'INVALID_ARGUMENT', /must start with "arca-invite1-"/],
    ['empty', '', 'INVALID_ARGUMENT', /must start with/],
    ['a character outside base64url', text.slice(0, 40) + '+' + text.slice(41), 'INVALID_ARGUMENT', /outside base64url/],
    ['prefix only', INVITE_PREFIX, 'INVALID_ARGUMENT', /outside base64url/],
    ['too short', text.slice(0, INVITE_PREFIX.length + 40), 'INVALID_ARGUMENT', /too short \(30 bytes\)/],
    ['one character changed', flipped, 'INVALID_ARGUMENT', /checksum does not match/],
    ['version 2', inviteText(withVersion(2)), 'UNSUPPORTED_VERSION', /Unsupported invite version: expected 1, received 2/],
    ['version 0', inviteText(withVersion(0)), 'UNSUPPORTED_VERSION', /received 0/],
    ['17 addresses', encodeInvite({ ...GOLDEN_INVITE, addresses: Array.from({ length: 17 }, () => 'h:1') }), 'INVALID_ARGUMENT', /addresses has 17 entries, at most 16 allowed/],
    ['17 bootstrap nodes', encodeInvite({ ...GOLDEN_INVITE, bootstrap: Array.from({ length: 17 }, () => 'h:1') }), 'INVALID_ARGUMENT', /bootstrap has 17 entries/],
    ['an address of 301 bytes', encodeInvite({ ...GOLDEN_INVITE, addresses: ['a'.repeat(301)] }), 'INVALID_ARGUMENT', /an entry of addresses is too long/],
    ['a trailing byte', inviteText(Buffer.concat([content, Buffer.from([0])])), 'INVALID_ARGUMENT', /unexpected bytes at its end/],
    ['cut inside the bootstrap list', inviteText(content.subarray(0, content.length - 3)), 'INVALID_ARGUMENT', /it is truncated/],
    ['an address count over 2^53', inviteText(Buffer.concat([content.subarray(0, 65), Buffer.alloc(9, 0xff)])), 'INVALID_ARGUMENT', /Invalid invite/],
  ]
  for (const [what, input, code, message] of cases) {
    const e = errorOf(() => decodeInvite(input))
    t.equal(e.code, code, `${what}: ${code}`)
    t.match(e.message, message, `${what}: message`)
  }
})

t.test('decodeInvite is total: damaged text and damaged content with a valid checksum', async (t) => {
  const text = golden.invite.text
  const content = inviteContent(text)
  const ACCEPTED = ['ok', 'INVALID_ARGUMENT', 'UNSUPPORTED_VERSION']
  const tally: Record<string, number> = {}
  const unexpected: string[] = []
  const check = (input: string, what: string): void => {
    const outcome = codeOf(() => decodeInvite(input))
    tally[outcome] = (tally[outcome] ?? 0) + 1
    if (!ACCEPTED.includes(outcome)) unexpected.push(`${what}: ${outcome}`)
  }
  const next = rng(0x1417e)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .\n\u00e9'
  for (let length = 0; length < text.length; length++) check(text.slice(0, length), `text cut to ${length}`)
  for (let n = 0; n < 1500; n++) {
    const at = INVITE_PREFIX.length + (next() % (text.length - INVITE_PREFIX.length))
    check(text.slice(0, at) + alphabet[next() % alphabet.length] + text.slice(at + 1), `character ${at} replaced`)
  }
  for (let n = 0; n < 500; n++) {
    const raw = Buffer.from(Array.from({ length: next() % 200 }, () => next() & 0xff))
    check(INVITE_PREFIX + raw.toString('base64url'), `random bytes ${n}`)
    check(inviteText(raw), `random content ${n} with a valid checksum`)
  }
  for (let length = 0; length < content.length; length++) check(inviteText(content.subarray(0, length)), `content cut to ${length}`)
  for (let n = 0; n < 2000; n++) {
    const [what, b] = mutate(next, content)
    check(inviteText(b), `content: ${what}`)
  }
  t.strictSame(unexpected.slice(0, 10), [], `only invites, INVALID_ARGUMENT and UNSUPPORTED_VERSION (${JSON.stringify(tally)})`)
  t.ok(tally.INVALID_ARGUMENT > 1000 && tally.UNSUPPORTED_VERSION > 10 && tally.ok > 10, 'every outcome occurs')
})

// ---- a real node ----

interface RawConnection {
  stream: NoiseSecretStream
  /** The next frame from the node, or 'closed' once it closed the connection. */
  next(): Promise<Buffer | 'closed'>
  closed: Promise<void>
}

/** A Noise connection to the node that speaks no protocol by itself. */
async function openRaw(t: Test, node: TestNode, keyPair: KeyPair): Promise<RawConnection> {
  const stream = await connectNoiseTcp(parseHostPort(node.address, 'node address'), keyPair, node.service.keyPair.publicKey, 5000)
  t.teardown(() => stream.destroy())
  const frames: Buffer[] = []
  let isClosed = false
  let wake: (() => void) | undefined
  stream.on('data', (frame) => {
    frames.push(frame)
    wake?.()
  })
  const closed = new Promise<void>((resolve) =>
    stream.on('close', () => {
      isClosed = true
      resolve()
      wake?.()
    }),
  )
  return {
    stream,
    closed,
    async next() {
      while (frames.length === 0 && !isClosed) await new Promise<void>((resolve) => (wake = resolve))
      return frames.shift() ?? 'closed'
    },
  }
}

/** Rejects if `promise` is not settled within `ms`: a hang fails the test instead of stalling it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms)))
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** Sends HELLO and checks the WELCOME. */
async function handshake(t: Test, conn: RawConnection, device: TestDevice): Promise<void> {
  conn.stream.write(encodeFrame(helloFrame('arca/protocol-test')))
  const answer = await within(conn.next(), 5000, 'WELCOME')
  const welcome = answer === 'closed' ? undefined : decodeFrame(answer)
  if (welcome?.type !== MessageType.WELCOME || welcome.body.vault !== device.vault || welcome.body.device !== device.name) {
    t.fail('the node answers HELLO with WELCOME', { found: welcome === undefined ? 'closed' : view(welcome) })
  }
}

/** What a node must answer to `frame` as the first frame (hasHello false) or after the handshake. */
function expectedRefusal(frame: Uint8Array, hasHello: boolean): { code: ErrorCode; requestId: number } | 'served' {
  let decoded: Frame
  try {
    decoded = decodeFrame(frame)
  } catch (err) {
    // the node reports any frame it cannot decode as BAD_MESSAGE
    return { code: isArcaError(err) ? err.code : 'BAD_MESSAGE', requestId: 0 }
  }
  if (hasHello) return REQUEST_TYPES.has(decoded.type) ? 'served' : { code: 'BAD_MESSAGE', requestId: decoded.requestId }
  if (decoded.type !== MessageType.HELLO) return { code: 'BAD_MESSAGE', requestId: decoded.requestId }
  try {
    negotiateVersion(decoded.body)
    return 'served'
  } catch (err) {
    return { code: (err as ArcaError).code, requestId: 0 }
  }
}

/** A RemoteStore closed in teardown (before the node: teardowns run last first) unless `close` ran before. */
async function openRemote(t: Test, device: TestDevice): Promise<{ store: RemoteStore; close: () => Promise<void> }> {
  const store = await connectRemote(device)
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => (closing ??= store.close())
  t.teardown(() => close().catch(() => {}))
  return { store, close }
}

/** Puts a few objects, a key slot, the config and a snapshot into the device's vault; returns what it put. */
async function seedVault(t: Test, device: TestDevice, seed: number): Promise<{ objects: { id: Buffer; envelope: Buffer }[]; root: Buffer; snapshotId: Buffer }> {
  const { store, close } = await openRemote(t, device)
  const objects = Array.from({ length: 6 }, (_, i) => ({ id: id(`vault ${device.vault} object ${i}`), envelope: chunk(seed * 100 + i, 500 + 300 * i) }))
  await store.writeConfig(counting(seed, 80))
  await store.putKeySlot(id(`vault ${device.vault} slot`), counting(seed + 1, 100))
  await Promise.all(objects.map((o) => store.put(o.id, o.envelope)))
  const root = id(`vault ${device.vault} root`)
  await store.put(root, tree(objects.map((o) => o.id), seed))
  const snapshotId = id(`vault ${device.vault} snapshot`)
  await store.commitSnapshot(snapshotId, snapshotRecord(root, seed))
  await close()
  return { objects, root, snapshotId }
}

interface VaultState {
  usedBytes: number
  stats: unknown
  config: string | null
  keySlots: string[]
  snapshots: string[]
}

/** Everything a device can see of its vault, as plain values. */
async function vaultState(node: TestNode, vault: string): Promise<VaultState> {
  const { store } = await node.service.vault(vault)
  const records = (list: { id: Uint8Array; record: Uint8Array }[]) => list.map((r) => `${toHex(r.id)}=${toHex(r.record)}`).sort()
  const config = await store.readConfig()
  return {
    usedBytes: store.usedBytes,
    stats: await store.stats(),
    config: config === undefined ? null : toHex(config),
    keySlots: records(await store.listKeySlots()),
    snapshots: records(await store.listSnapshots()),
  }
}

t.test('node: garbage and mutated frames get an ERROR and a closed connection, and nothing is written', async (t) => {
  const node = await startTestNode(tempDir(t))
  t.teardown(() => node.close())
  const device = await pairTestDevice(node, 'team', 'laptop')
  const seeded = await seedVault(t, device, 1)
  const before = await vaultState(node, 'team')

  // Frames that break the protocol: before HELLO, anything but a usable HELLO; after it, anything that does not
  // decode or is not a request. Request frames that decode are left to the refused-requests test below.
  const next = rng(0x0de)
  const cases: Array<{ what: string; frame: Buffer; hasHello: boolean }> = []
  const pick = (hasHello: boolean, make: () => [string, Buffer]): void => {
    for (;;) {
      const [what, frame] = make()
      if (expectedRefusal(frame, hasHello) !== 'served') return void cases.push({ what, frame, hasHello })
    }
  }
  for (let n = 0; n < 300; n++) {
    const hasHello = n % 2 === 1
    if (n % 5 === 0) pick(hasHello, () => ['random bytes', randomFrame(next)])
    else pick(hasHello, () => mutate(next, goldenBytes[next() % goldenBytes.length]))
  }
  const explicit: Array<[string, Uint8Array, boolean]> = [
    ['an empty frame', Buffer.alloc(0), false],
    ['an empty frame after HELLO', Buffer.alloc(0), true],
    ['a request before HELLO', encodeFrame({ type: MessageType.USAGE, requestId: 1, body: null }), false],
    ['a PUT before HELLO', encodeFrame({ type: MessageType.PUT, requestId: 1, body: [{ id: id('early'), envelope: chunk(1, 100) }] }), false],
    ['HELLO with the wrong magic', encodeFrame({ type: MessageType.HELLO, requestId: 0, body: { magic: 'arca-sink', version: 1, minVersion: 1, software: '' } }), false],
    ['HELLO of version 2 only', encodeFrame({ type: MessageType.HELLO, requestId: 0, body: { magic: PROTOCOL_MAGIC, version: 2, minVersion: 2, software: '' } }), false],
    ['a second HELLO', encodeFrame(helloFrame('again')), true],
    ['a response sent as a request', encodeFrame({ type: MessageType.OK, requestId: 4, body: null }), true],
    ['MISSING with MAX_IDS_PER_REQUEST + 1 ids', encodeFrame({ type: MessageType.MISSING, requestId: 2, body: ids(MAX_IDS_PER_REQUEST + 1) }), true],
    ['a frame of MAX_FRAME_BYTES + 1', bytes([MessageType.PUT, 1], Buffer.alloc(MAX_FRAME_BYTES - 1)), true],
  ]
  for (const [what, frame, hasHello] of explicit) cases.push({ what, frame: Buffer.from(frame), hasHello })

  const wrong: string[] = []
  const runCase = async ({ what, frame, hasHello }: (typeof cases)[number]): Promise<void> => {
    const expected = expectedRefusal(frame, hasHello)
    if (expected === 'served') throw new Error(`Test bug: ${what} would be served`)
    const conn = await openRaw(t, node, device.keyPair)
    if (hasHello) await handshake(t, conn, device)
    conn.stream.write(frame)
    const answers: unknown[] = []
    for (;;) {
      const answer = await within(conn.next(), 5000, `the answer to ${what}`)
      if (answer === 'closed') break
      const f = decodeFrame(answer)
      answers.push(f.type === MessageType.ERROR ? { error: f.requestId, code: f.body.code } : view(f))
    }
    const want = [{ error: expected.requestId, code: WIRE_CODES[expected.code] }]
    if (JSON.stringify(answers) !== JSON.stringify(want)) wrong.push(`${what} (${toHex(frame.subarray(0, 24))}): expected ${JSON.stringify(want)}, received ${JSON.stringify(answers)}`)
  }
  for (let i = 0; i < cases.length; i += 8) await Promise.all(cases.slice(i, i + 8).map(runCase))
  const byCode: Record<string, number> = {}
  for (const k of cases) {
    const key = `${k.hasHello ? 'after' : 'instead of'} HELLO: ${(expectedRefusal(k.frame, k.hasHello) as { code: string }).code}`
    byCode[key] = (byCode[key] ?? 0) + 1
  }
  t.ok(cases.length >= 300, `${cases.length} cases: ${JSON.stringify(byCode)}`)
  t.strictSame(wrong.slice(0, 10), [], 'each one: exactly one ERROR frame with the expected code and request id, then the node closes')

  t.strictSame(await vaultState(node, 'team'), before, 'the vault is unchanged: used bytes, stats, config, key slots, snapshots')
  const { store } = await openRemote(t, device)
  t.strictSame((await store.listSnapshots()).map((s) => toHex(s.id)), [toHex(seeded.snapshotId)], 'the node still serves a RemoteStore')
  t.ok(Buffer.from(await store.get(seeded.objects[3].id)).equals(seeded.objects[3].envelope), 'and its objects')
  t.equal((await store.usage()).usedBytes, before.usedBytes, 'and reports the same usage')
})

t.test('node: refused requests get an ERROR with their request id, write nothing, and the connection goes on', async (t) => {
  const node = await startTestNode(tempDir(t))
  t.teardown(() => node.close())
  const device = await pairTestDevice(node, 'team', 'laptop')
  const seeded = await seedVault(t, device, 2)
  const before = await vaultState(node, 'team')
  const conn = await openRaw(t, node, device.keyPair)
  await handshake(t, conn, device)
  const fresh = id('fresh chunk')
  const badVersion = Buffer.from(chunk(3, 100))
  badVersion[0] = 2
  const requests: Array<[string, Frame, ErrorCode]> = [
    ['PUT of a good chunk and an envelope of unknown kind', { type: T.PUT, requestId: 11, body: [{ id: fresh, envelope: chunk(4, 300) }, { id: id('bad kind'), envelope: hex('010900000000') }] }, 'BAD_MESSAGE'],
    ['PUT of an envelope of version 2', { type: T.PUT, requestId: 12, body: [{ id: id('v2'), envelope: badVersion }] }, 'UNSUPPORTED_VERSION'],
    ['PUT of a tree with an absent reference', { type: T.PUT, requestId: 13, body: [{ id: id('tree'), envelope: tree([id('absent')], 1) }] }, 'BAD_MESSAGE'],
    ['COMMIT_SNAPSHOT of a 3-byte record', { type: T.COMMIT_SNAPSHOT, requestId: 14, body: { id: id('s1'), record: hex('010203') } }, 'BAD_MESSAGE'],
    ['COMMIT_SNAPSHOT with an absent root', { type: T.COMMIT_SNAPSHOT, requestId: 15, body: { id: id('s2'), record: snapshotRecord(id('absent root'), 1) } }, 'BAD_MESSAGE'],
    ['WRITE_CONFIG over the existing config', { type: T.WRITE_CONFIG, requestId: 16, body: counting(9, 80) }, 'REPO_EXISTS'],
    ['REMOVE_KEY_SLOT of an absent slot', { type: T.REMOVE_KEY_SLOT, requestId: 17, body: id('no slot') }, 'INVALID_ARGUMENT'],
    ['REMOVE_SNAPSHOT of an absent snapshot', { type: T.REMOVE_SNAPSHOT, requestId: 18, body: id('no snapshot') }, 'SNAPSHOT_NOT_FOUND'],
    ['GET of an absent object', { type: T.GET, requestId: 19, body: id('no object') }, 'CHUNK_NOT_FOUND'],
    ['PAIR from a device', { type: T.PAIR, requestId: 20, body: { device: 'intruder', devicePublicKey: generateKeyPair().publicKey } }, 'UNAUTHORIZED_PEER'],
  ]
  for (const [what, frame, code] of requests) {
    conn.stream.write(encodeFrame(frame))
    const answer = await within(conn.next(), 5000, what)
    const f = answer === 'closed' ? 'closed' : decodeFrame(answer)
    t.strictSame(f === 'closed' ? f : f.type === T.ERROR ? [f.requestId, f.body.code] : view(f), [frame.requestId, WIRE_CODES[code]], `${what}: ERROR ${code}`)
  }
  conn.stream.write(encodeFrame({ type: T.MISSING, requestId: 30, body: [fresh, seeded.root] }))
  const missing = await within(conn.next(), 5000, 'MISSING_RESULT')
  t.strictSame(missing === 'closed' ? missing : view(decodeFrame(missing)), view({ type: T.MISSING_RESULT, requestId: 30, body: [true, false] }), 'the good chunk of the refused PUT was not stored; the connection still serves')
  t.strictSame(await vaultState(node, 'team'), before, 'the vault is unchanged')
  t.equal((await node.service.listDevices()).find((d) => d.name === 'intruder'), undefined, 'no device was paired')
})

t.test('node: GET_MANY answers in request order, within its byte budget; RemoteStore asks again for what was not sent', async (t) => {
  const node = await startTestNode(tempDir(t))
  t.teardown(() => node.close())
  const device = await pairTestDevice(node, 'team', 'laptop')
  const { store, close } = await openRemote(t, device)
  // 300 small objects (more than one GET_MANY holds) and 12 of 1 MiB (more than one answer's budget)
  const small = Array.from({ length: 300 }, (_, i) => ({ id: id(`small ${i}`), envelope: chunk(i, 100 + i) }))
  const large = Array.from({ length: 12 }, (_, i) => ({ id: id(`large ${i}`), envelope: chunk(1000 + i, 1024 * 1024) }))
  await Promise.all([...small, ...large].map((o) => store.put(o.id, o.envelope)))
  await store.flush()

  const conn = await openRaw(t, node, device.keyPair)
  await handshake(t, conn, device)
  conn.stream.write(encodeFrame({ type: T.GET_MANY, requestId: 40, body: [large[3].id, id('absent'), ...large.map((o) => o.id)] }))
  const raw = await within(conn.next(), 5000, 'OBJECTS')
  const answer = raw === 'closed' ? undefined : decodeFrame(raw)
  if (answer?.type !== T.OBJECTS) return t.fail('GET_MANY is answered with OBJECTS', { found: answer === undefined ? 'closed' : view(answer) })
  t.equal(answer.requestId, 40, 'with the request id')
  const statuses = answer.body.map((x) => x.status)
  const sent = Math.floor(GET_MANY_BUDGET_BYTES / (1024 * 1024))
  t.strictSame(statuses, [FetchStatus.FOUND, FetchStatus.ABSENT, ...large.map((_, i) => (i + 1 < sent ? FetchStatus.FOUND : FetchStatus.NOT_SENT))], `${sent} MiB-objects fit the ${GET_MANY_BUDGET_BYTES}-byte budget, the rest are NOT_SENT`)
  const first = answer.body[0]
  t.ok(first.status === FetchStatus.FOUND && Buffer.compare(first.envelope, large[3].envelope) === 0, 'the first answer holds the first id asked')

  // through RemoteStore: everything asked in one turn resolves to its own bytes
  const all = [...large, ...small].reverse()
  const got = await within(Promise.all(all.map((o) => store.get(o.id))), 20_000, 'gets')
  t.strictSame(all.filter((o, i) => Buffer.compare(got[i], o.envelope) !== 0).map((o) => toHex(o.id).slice(0, 8)), [], `all ${all.length} objects read back byte for byte`)
  const absent = await store.get(id('absent')).then(() => 'found', (e: unknown) => e)
  t.ok(isArcaError(absent, 'CHUNK_NOT_FOUND'), 'an absent id rejects with CHUNK_NOT_FOUND', { found: absent })
  await close()
})

t.test('node: a key that is not paired is disconnected before any frame is answered', async (t) => {
  const node = await startTestNode(tempDir(t))
  t.teardown(() => node.close())
  const device = await pairTestDevice(node, 'team', 'laptop')
  const stranger = generateKeyPair()
  const conn = await openRaw(t, node, stranger)
  conn.stream.write(encodeFrame(helloFrame('arca/stranger')))
  conn.stream.write(encodeFrame({ type: MessageType.LIST_SNAPSHOTS, requestId: 1, body: null }))
  t.equal(await within(conn.next(), 5000, 'the node to close'), 'closed', 'no WELCOME nor any other frame, then the connection closes')
  t.ok(node.logs.some((l) => l.startsWith('warn Refused') && l.includes(toHex(stranger.publicKey).slice(0, 16))), 'the node logs the refusal with the key')
  const err = await connectRemote({ ...device, keyPair: stranger }).then(
    async (s) => {
      await s.close()
      return 'connected'
    },
    (e: unknown) => e,
  )
  t.ok(isArcaError(err, 'UNAUTHORIZED_PEER'), 'the real client reports UNAUTHORIZED_PEER', { found: err })
  const paired = await openRaw(t, node, device.keyPair)
  await handshake(t, paired, device)
  t.pass('the paired key on the same node gets its WELCOME')
})

t.test('node: a device of one vault cannot see, read or write anything of another vault', async (t) => {
  const node = await startTestNode(tempDir(t))
  t.teardown(() => node.close())
  const deviceA = await pairTestDevice(node, 'alpha', 'laptop-a')
  const deviceB = await pairTestDevice(node, 'beta', 'laptop-b')
  const a = await seedVault(t, deviceA, 3)
  const stateA = await vaultState(node, 'alpha')
  const b = await seedVault(t, deviceB, 4)
  const stateB = await vaultState(node, 'beta')
  t.strictSame(await vaultState(node, 'alpha'), stateA, 'B writing did not change vault alpha')
  const usedA = stateA.usedBytes
  t.ok(usedA > 0 && stateB.usedBytes > 0, 'both vaults hold data')

  const { store: storeA, close: closeA } = await openRemote(t, deviceA)
  t.equal(storeA.welcome.vault, 'alpha')
  const idsB = [...b.objects.map((o) => o.id), b.root]
  t.strictSame(await storeA.missing(idsB), idsB.map(() => true), "B's objects are missing for A")
  t.strictSame(await storeA.missing(a.objects.map((o) => o.id)), a.objects.map(() => false), "A's own objects are not")
  for (const x of [b.objects[0].id, b.root]) {
    const err = await storeA.get(x).then(() => 'found', (e: unknown) => e)
    t.ok(isArcaError(err, 'CHUNK_NOT_FOUND'), `GET of B's ${toHex(x).slice(0, 8)} by A: CHUNK_NOT_FOUND`, { found: err })
  }
  t.strictSame((await storeA.listSnapshots()).map((s) => toHex(s.id)), [toHex(a.snapshotId)], "A lists only its own snapshot")
  t.equal(toHex((await storeA.readConfig())!), toHex(counting(3, 80)), "A reads its own config, not B's")
  t.strictSame((await storeA.listKeySlots()).map((s) => toHex(s.id)), [toHex(id('vault alpha slot'))], 'and its own key slot')
  const usage = await storeA.usage()
  t.equal(usage.usedBytes, usedA, "A's usage does not count B's bytes")
  t.equal(usage.snapshotCount, 1)
  t.equal(usage.objectCount, 7)

  const refused = async (p: Promise<unknown>, code: ErrorCode, what: string): Promise<void> => {
    const err = await p.then(() => 'accepted', (e: unknown) => e)
    t.ok(isArcaError(err, code), `${what}: ${code}`, { found: err })
  }
  await refused(storeA.removeSnapshot(b.snapshotId), 'SNAPSHOT_NOT_FOUND', "A removing B's snapshot")
  await refused(storeA.commitSnapshot(id('stolen'), snapshotRecord(b.root, 9)), 'BAD_MESSAGE', "A committing a snapshot of B's root tree")
  await refused(storeA.put(id('tree of B chunks'), tree(b.objects.map((o) => o.id), 9)), 'BAD_MESSAGE', "A putting a tree over B's chunks")
  await storeA.flush()
  await closeA()

  t.strictSame(await vaultState(node, 'beta'), stateB, 'vault beta is unchanged by everything A did')
  t.strictSame(await vaultState(node, 'alpha'), stateA, 'and so is vault alpha: every attempt was refused')
  const { store: storeB } = await openRemote(t, deviceB)
  t.strictSame((await storeB.listSnapshots()).map((s) => toHex(s.id)), [toHex(b.snapshotId)], 'B still lists its snapshot')
  t.strictSame(await storeB.missing(idsB), idsB.map(() => false), 'and holds its objects')
})
