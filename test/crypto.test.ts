/**
 * Crypto properties of sealing (src/dedup/seal.ts, padme.ts), key slots, recovery keys, object ids and object
 * opening (src/repo/objects.ts): round trips, exact sealed sizes, tamper detection with exact error codes, fresh
 * salts, the Padmé table, passphrase rules and Unicode normalisation. Fixed inputs from a seeded generator; every
 * key slot uses TEST_KDF.
 */
import { createCipheriv } from 'node:crypto'
import { keyedHash as packageKeyedHash } from 'blake3'
import t from 'tap'
import { compress as zstdCompress } from 'zstd-napi'
import { ArcaError, type ErrorCode } from '../src/core/errors.js'
import { toHex } from '../src/core/hex.js'
import { keyedBlake3 } from '../src/dedup/blake3.js'
import { createKeySlot, decodeKeySlot, openKeySlot } from '../src/dedup/key-slot.js'
import { padmeLength } from '../src/dedup/padme.js'
import { decodeRecoveryKey, encodeRecoveryKey } from '../src/dedup/recovery-key.js'
import { maxSealedLength, open, seal, sealingRoom, sealParts } from '../src/dedup/seal.js'
import { deriveVaultKeys } from '../src/dedup/vault-keys.js'
import { envelopeHeader, ObjectKind } from '../src/protocol/object-envelope.js'
import { CHUNK_HEADER, chunkId, openObject, sealObject, treeId } from '../src/repo/objects.js'
import { encodeTree } from '../src/repo/tree.js'
import { OTHER_PASSPHRASE, PASSPHRASE, TEST_KDF } from './helpers/env.js'
import { pseudoRandom, rng } from './helpers/rng.js'
import { codeOf } from './helpers/error-code.js'

const MiB = 1024 * 1024
const MASTER = Uint8Array.from({ length: 32 }, (_, i) => i)
const OTHER_MASTER = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
const keys = deriveVaultKeys(MASTER)
const otherKeys = deriveVaultKeys(OTHER_MASTER)
const CREATED_AT = 1767225600000


function randomBytes(seed: number, length: number): Buffer {
  const next = rng(seed)
  const words = new Uint32Array(Math.ceil(length / 4))
  for (let i = 0; i < words.length; i++) words[i] = next()
  return Buffer.from(words.buffer, 0, length)
}


const AAD = Buffer.from('arca test aad')
const compressible = Buffer.alloc(MiB)
for (let i = 0, line = 0; i < MiB; line++) i += compressible.write(`line ${line}: the same few words again and again\n`, i)
const cases: Array<{ name: string; plain: Buffer; compressed: 'no' | 'yes'; sealedBytes?: number }> = [
  { name: 'empty', plain: Buffer.alloc(0), compressed: 'no', sealedBytes: 16 + 10 + 16 },
  { name: 'tiny', plain: Buffer.from('hi'), compressed: 'no', sealedBytes: 16 + 12 + 16 },
  { name: '1 MiB compressible', plain: compressible, compressed: 'yes' },
  { name: '1 MiB random', plain: randomBytes(1, MiB), compressed: 'no', sealedBytes: 16 + 1081344 + 16 },
]

t.test('seal/open round trip and sealed length', async (t) => {
  for (const c of cases) {
    const { sealed, compressedBytes } = seal(keys.dataKey, c.plain, AAD)
    if (c.compressed === 'no') t.equal(compressedBytes, c.plain.length, `${c.name}: stored as is`)
    else t.ok(compressedBytes < c.plain.length / 10, `${c.name}: compressed to ${compressedBytes} bytes`)
    t.equal(sealed.length, 16 + padmeLength(9 + compressedBytes) + 16, `${c.name}: 16 + padmeLength(9 + bodyLength) + 16`)
    if (c.sealedBytes !== undefined) t.equal(sealed.length, c.sealedBytes, `${c.name}: ${c.sealedBytes} bytes`)
    t.ok(Buffer.from(open(keys.dataKey, sealed, AAD)).equals(c.plain), `${c.name}: opens to the plaintext`)
    const stored = seal(keys.dataKey, c.plain, AAD, { compress: false })
    t.equal(stored.compressedBytes, c.plain.length, `${c.name}: compress: false stores as is`)
    t.equal(stored.sealed.length, 16 + padmeLength(9 + c.plain.length) + 16, `${c.name}: uncompressed sealed length`)
    t.equal(maxSealedLength(c.plain.length), stored.sealed.length, `${c.name}: maxSealedLength is the uncompressed length`)
    t.ok(sealed.length <= maxSealedLength(c.plain.length), `${c.name}: a compressed seal is no longer`)
    const n = c.plain.length
    const zstdBound = n + (n >> 8) + (n < 131072 ? (131072 - n) >> 11 : 0)
    t.ok(sealingRoom(n) >= maxSealedLength(n) && sealingRoom(n) >= 16 + 9 + zstdBound + 16, `${c.name}: sealingRoom holds the sealed length and zstd's bound`)
    t.ok(Buffer.from(open(keys.dataKey, stored.sealed, AAD)).equals(c.plain), `${c.name}: uncompressed opens`)
    // scratch opens decrypt in 64 KiB slices into a buffer of the thread (a 1 MiB random payload takes 17 slices)
    t.ok(Buffer.from(open(keys.dataKey, sealed, AAD, true)).equals(c.plain), `${c.name}: opens into scratch`)
    t.ok(Buffer.from(open(keys.dataKey, stored.sealed, AAD, true)).equals(c.plain), `${c.name}: uncompressed opens into scratch`)
  }
})

t.test('sealParts: the pieces, in order, are the sealed object', async (t) => {
  const prefix = Buffer.from('envelope header')
  for (const c of cases) {
    const salt = randomBytes(7, 16)
    const whole = seal(keys.dataKey, c.plain, AAD, { salt, prefix })
    const pieces = sealParts(keys.dataKey, c.plain, AAD, { salt, prefix })
    const joined = Buffer.concat(pieces.parts)
    t.equal(pieces.length, joined.length, `${c.name}: length is the sum of the pieces`)
    t.equal(pieces.compressedBytes, whole.compressedBytes, `${c.name}: same body length`)
    t.ok(joined.equals(whole.sealed), `${c.name}: the pieces concatenate to the sealed object`)
    t.ok(Buffer.from(open(keys.dataKey, joined.subarray(prefix.length), AAD)).equals(c.plain), `${c.name}: and open to the plaintext`)
  }
})

t.test('tampering is detected: bits, length, aad, key', async (t) => {
  const tiny = seal(keys.dataKey, Buffer.from('hi'), AAD).sealed
  const big = seal(keys.dataKey, cases[3].plain, AAD).sealed
  t.equal(codeOf(() => open(keys.dataKey, tiny, AAD)), 'ok', 'control: the untouched tiny payload opens')
  t.equal(codeOf(() => open(keys.dataKey, big, AAD)), 'ok', 'control: the untouched 1 MiB payload opens')

  const flips = (sealed: Uint8Array, bits: number[]): string[] => {
    const wrong: string[] = []
    for (const bit of bits) {
      const bytes = Buffer.from(sealed)
      bytes[bit >> 3] ^= 1 << (bit & 7)
      for (const scratch of [false, true]) {
        const code = codeOf(() => open(keys.dataKey, bytes, AAD, scratch))
        if (code !== 'INTEGRITY_ERROR') wrong.push(`bit ${bit}${scratch ? ' (scratch)' : ''}: ${code}`)
      }
    }
    return wrong
  }
  t.strictSame(flips(tiny, Array.from({ length: tiny.length * 8 }, (_, i) => i)), [], `every one of ${tiny.length * 8} bits of a tiny payload`)
  const next = rng(7)
  const bigBits = [0, 127, 128, 128 + 71, big.length * 4, big.length * 8 - 128, big.length * 8 - 1]
  for (let i = 0; i < 57; i++) bigBits.push(next() % (big.length * 8))
  t.strictSame(flips(big, bigBits), [], `${bigBits.length} bits of a 1 MiB payload: salt, body and tag`)

  t.equal(codeOf(() => open(keys.dataKey, tiny.subarray(0, tiny.length - 1), AAD)), 'INTEGRITY_ERROR', 'one byte short')
  t.equal(codeOf(() => open(keys.dataKey, Buffer.concat([tiny, Buffer.from([0])]), AAD)), 'INTEGRITY_ERROR', 'one byte appended')
  t.equal(codeOf(() => open(keys.dataKey, tiny.subarray(0, 40), AAD)), 'INTEGRITY_ERROR', 'shorter than the minimum')
  t.equal(codeOf(() => open(keys.dataKey, new Uint8Array(0), AAD)), 'INTEGRITY_ERROR', 'empty')

  t.equal(codeOf(() => open(keys.dataKey, tiny, Buffer.from('arca test aaD'))), 'INTEGRITY_ERROR', 'aad changed')
  t.equal(codeOf(() => open(keys.dataKey, tiny, Buffer.concat([AAD, Buffer.from([0])]))), 'INTEGRITY_ERROR', 'aad extended')
  t.equal(codeOf(() => open(keys.dataKey, tiny, Buffer.alloc(0))), 'INTEGRITY_ERROR', 'aad empty')
  t.equal(codeOf(() => open(otherKeys.dataKey, tiny, AAD)), 'INTEGRITY_ERROR', 'another vault key')
  t.equal(codeOf(() => open(keys.chunkIdKey, tiny, AAD)), 'INTEGRITY_ERROR', 'another key of the same vault')
})

t.test('open checks the authenticated inner header', async (t) => {
  // Encrypts an arbitrary inner plaintext by the documented construction, so that only the header checks can object.
  const sealInner = (inner: Buffer): Buffer => {
    const salt = Buffer.alloc(16, 0x5a)
    const cipher = createCipheriv('aes-256-gcm', keyedBlake3(keys.dataKey, salt), Buffer.alloc(12))
    cipher.setAAD(AAD)
    return Buffer.concat([salt, cipher.update(inner), cipher.final(), cipher.getAuthTag()])
  }
  const inner = (alg: number, rawLength: number, body: Buffer, padTo = 9 + body.length): Buffer => {
    const out = Buffer.alloc(padTo)
    out[0] = alg
    out.writeUInt32LE(rawLength, 1)
    out.writeUInt32LE(body.length, 5)
    body.copy(out, 9)
    return out
  }
  const hi = Buffer.from('hi')
  t.equal(Buffer.from(open(keys.dataKey, sealInner(inner(0, 2, hi, 12)), AAD)).toString(), 'hi', 'control: a well-formed inner plaintext opens')
  t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(0, 3, hi)), AAD)), 'INTEGRITY_ERROR', 'stored body shorter than rawLength')
  t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(0, 1, hi)), AAD)), 'INTEGRITY_ERROR', 'stored body longer than rawLength')
  const overlong = inner(0, 2, hi)
  overlong.writeUInt32LE(3, 5)
  t.equal(codeOf(() => open(keys.dataKey, sealInner(overlong), AAD)), 'INTEGRITY_ERROR', 'bodyLength beyond the payload')
  t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(1, 2, hi)), AAD)), 'INTEGRITY_ERROR', 'zstd body that is not zstd')
  const zstd = zstdCompress(Buffer.from('hello hello hello'))
  t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(1, 16, zstd)), AAD)), 'INTEGRITY_ERROR', 'zstd body of another length than rawLength')
  t.equal(Buffer.from(open(keys.dataKey, sealInner(inner(1, 17, zstd)), AAD)).toString(), 'hello hello hello', 'control: zstd body of the right length')
  t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(2, 2, hi)), AAD)), 'BAD_MESSAGE', 'unknown compression algorithm 2')

  // the same checks when decompressing into the thread's scratch buffer (restore and check)
  for (const scratch of [false, true]) {
    const how = scratch ? 'scratch' : 'fresh buffer'
    t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(1, 2, hi)), AAD, scratch)), 'INTEGRITY_ERROR', `${how}: zstd body that is not zstd`)
    t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(1, 16, zstd)), AAD, scratch)), 'INTEGRITY_ERROR', `${how}: zstd frame longer than rawLength`)
    t.equal(codeOf(() => open(keys.dataKey, sealInner(inner(1, 18, zstd)), AAD, scratch)), 'INTEGRITY_ERROR', `${how}: zstd frame shorter than rawLength`)
    t.equal(Buffer.from(open(keys.dataKey, sealInner(inner(1, 17, zstd)), AAD, scratch)).toString(), 'hello hello hello', `${how}: control`)
  }
  const big = Buffer.from(pseudoRandom(7, 1536 * 1024).toString('hex')) // 3 MiB of hex digits: compressible, over the first scratch size
  const first = Buffer.from(open(keys.dataKey, sealInner(inner(1, big.length, zstdCompress(big))), AAD, true))
  t.ok(first.equals(big), 'scratch: a body larger than the scratch buffer grows it')
  const again = open(keys.dataKey, sealInner(inner(1, 17, zstd)), AAD, true)
  t.equal(Buffer.from(again).toString(), 'hello hello hello', 'scratch: a later small body reads back exactly its own bytes')
})

t.test('every seal uses a fresh salt', async (t) => {
  const plain = Buffer.from('the same plaintext twice')
  const one = seal(keys.dataKey, plain, AAD).sealed
  const two = seal(keys.dataKey, plain, AAD).sealed
  t.equal(one.length, two.length)
  t.not(toHex(one.subarray(0, 16)), toHex(two.subarray(0, 16)), 'salts differ')
  t.not(toHex(one.subarray(16)), toHex(two.subarray(16)), 'ciphertexts and tags differ')
  t.ok(Buffer.from(open(keys.dataKey, one, AAD)).equals(plain))
  t.ok(Buffer.from(open(keys.dataKey, two, AAD)).equals(plain))
  const salt = Buffer.alloc(16, 7)
  t.equal(toHex(seal(keys.dataKey, plain, AAD, { salt }).sealed), toHex(seal(keys.dataKey, plain, AAD, { salt }).sealed), 'a fixed salt is deterministic')
})

t.test('padmeLength', async (t) => {
  // E = floor(log2 L), S = floor(log2 E) + 1, lastBits = E - S; L rounded up to a multiple of 2^lastBits.
  const table: Array<[number, number, string]> = [
    [0, 0, 'L < 2 is kept'],
    [1, 1, 'L < 2 is kept'],
    [2, 2, 'E = 1, S = 1, lastBits = 0'],
    [100, 104, 'E = 6, S = 3, lastBits = 3: ceil(100 / 8) * 8'],
    [1000, 1024, 'E = 9, S = 4, lastBits = 5: ceil(1000 / 32) * 32'],
    [MiB, MiB, 'E = 20, S = 5, lastBits = 15: already a multiple of 32768'],
    [MiB + 1, 1081344, 'E = 20, S = 5, lastBits = 15: 33 * 32768'],
    [8 * MiB - 1, 8 * MiB, 'E = 22, S = 5, lastBits = 17: 64 * 131072'],
  ]
  for (const [length, padded, why] of table) {
    t.equal(padmeLength(length), padded, `padmeLength(${length}) = ${padded} (${why})`)
    if (length > 0) t.ok((padded - length) / length <= 0.12, `padmeLength(${length}): overhead <= 12 %`)
  }
  const bad: string[] = []
  let previous = 0
  const check = (length: number): void => {
    const padded = padmeLength(length)
    if (padded < length || (length > 0 && (padded - length) / length > 0.12) || padded < previous) bad.push(`${length} -> ${padded}`)
  }
  for (let length = 0; length <= 70000; length++) {
    check(length)
    previous = padmeLength(length)
  }
  const next = rng(3)
  previous = 0
  for (let i = 0; i < 10000; i++) check(next())
  t.strictSame(bad, [], 'never shorter, overhead <= 12 %, monotonic over 0..70000 and 10,000 random u32 lengths')
  t.equal(padmeLength(129), 144, 'the worst case below 12 %: 15 / 129 = 11.6 %')
  for (const invalid of [-1, 1.5, Number.NaN]) t.throws(() => padmeLength(invalid), `rejects ${invalid}`)
})

t.test('key slots', async (t) => {
  const slotId = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i)
  const record = await createKeySlot(slotId, MASTER, PASSPHRASE, { kdf: TEST_KDF, createdAt: CREATED_AT, label: 'test' })
  t.strictSame(decodeKeySlot(record).kdf, { logN: 10, r: 8, p: 1 }, 'TEST_KDF is stored')
  const opened = await openKeySlot(slotId, record, PASSPHRASE)
  t.equal(opened === undefined ? 'undefined' : toHex(opened), toHex(MASTER), 'the right passphrase gives the master key')
  t.equal(await openKeySlot(slotId, record, OTHER_PASSPHRASE), undefined, 'a wrong passphrase gives undefined')
  t.equal(await openKeySlot(Uint8Array.from({ length: 32 }, (_, i) => 0x41 + i), record, PASSPHRASE), undefined, 'another slot id gives undefined')
  for (const [what, at] of [['createdAt', 21], ['label', 30], ['wrapped key', 40], ['tag', record.length - 1]] as const) {
    const altered = Buffer.from(record)
    altered[at] ^= 1
    t.equal(await openKeySlot(slotId, altered, PASSPHRASE), undefined, `altered ${what} gives undefined`)
  }
  const second = await createKeySlot(slotId, MASTER, PASSPHRASE, { kdf: TEST_KDF, createdAt: CREATED_AT, label: 'test' })
  t.not(toHex(second), toHex(record), 'a fresh salt per slot')

  const weak = async (passphrase: string, why: string): Promise<void> => {
    await t.rejects(createKeySlot(slotId, MASTER, passphrase, { kdf: TEST_KDF, createdAt: CREATED_AT }), { name: 'ArcaError', code: 'WEAK_PASSPHRASE' }, why)
  }
  await weak('', 'empty')
  await weak('x'.repeat(19), '19 characters')
  await weak('\u{1F600}'.repeat(19), '19 emoji (38 UTF-16 units) are 19 characters')
  await weak('e\u0301'.repeat(19), '19 decomposed "é" (38 code points) are 19 characters after NFC')
  const twenty = await createKeySlot(slotId, MASTER, 'x'.repeat(20), { kdf: TEST_KDF, createdAt: CREATED_AT })
  const openedTwenty = await openKeySlot(slotId, twenty, 'x'.repeat(20))
  t.equal(openedTwenty === undefined ? 'undefined' : toHex(openedTwenty), toHex(MASTER), '20 characters are enough')

  const phrase = 'Crème brûlée à la française, s’il vous plaît'
  const nfc = phrase.normalize('NFC')
  const nfd = phrase.normalize('NFD')
  t.not(nfc, nfd, 'precondition: the two forms differ')
  for (const [made, used] of [[nfc, nfd], [nfd, nfc]] as const) {
    const slot = await createKeySlot(slotId, MASTER, made, { kdf: TEST_KDF, createdAt: CREATED_AT })
    const key = await openKeySlot(slotId, slot, used)
    t.equal(key === undefined ? 'undefined' : toHex(key), toHex(MASTER), `created with ${made === nfc ? 'NFC' : 'NFD'}, opened with the other form`)
  }
})

t.test('recovery key', async (t) => {
  const text = encodeRecoveryKey(MASTER)
  t.match(text, /^arca-rk1-([0-9a-f]{8}-){8}[0-9a-f]{8}$/)
  t.equal(toHex(decodeRecoveryKey(text)), toHex(MASTER), 'round trip')
  t.equal(toHex(decodeRecoveryKey(encodeRecoveryKey(OTHER_MASTER))), toHex(OTHER_MASTER), 'round trip of another key')
  t.equal(toHex(decodeRecoveryKey(`  ${text.toUpperCase().replaceAll('-', ' - ').replace('ARCA - RK1 - ', 'arca-rk1-')}\n`)), toHex(MASTER), 'upper case and spaces are accepted')

  const digits = text.slice('arca-rk1-'.length)
  const wrong: string[] = []
  for (let i = 0; i < digits.length; i++) {
    if (digits[i] === '-') continue
    const typo = digits[i] === '0' ? '1' : '0'
    const mistyped = 'arca-rk1-' + digits.slice(0, i) + typo + digits.slice(i + 1)
    try {
      decodeRecoveryKey(mistyped)
      wrong.push(`digit ${i}: accepted`)
    } catch (err) {
      if (!(err instanceof ArcaError) || err.code !== 'INVALID_ARGUMENT' || !err.message.includes('checksum')) wrong.push(`digit ${i}: ${String(err)}`)
    }
  }
  t.strictSame(wrong, [], 'every mistyped digit (key or checksum) is INVALID_ARGUMENT with "checksum"')
  t.throws(() => decodeRecoveryKey(text.replace('arca-rk1-', 'arca-rk2-')), { name: 'ArcaError', code: 'INVALID_ARGUMENT', message: /start with/ })
  t.throws(() => decodeRecoveryKey(text.slice(0, -1)), { name: 'ArcaError', code: 'INVALID_ARGUMENT', message: /72 hex digits/ })
})

t.test('openObject rejects altered envelopes', async (t) => {
  const plainA = Buffer.from('chunk a')
  const plainB = Buffer.from('chunk b')
  const idA = chunkId(keys, plainA)
  const idB = chunkId(keys, plainB)
  const chunk = sealObject(keys, idA, CHUNK_HEADER, plainA).envelope
  const tree = encodeTree([
    { name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, ctimeNs: 0n, size: 7, ino: 1n, dev: 1n, nlink: 1, content: [{ id: idA, length: 7 }] },
    { name: 'b', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, ctimeNs: 0n, size: 7, ino: 2n, dev: 1n, nlink: 1, content: [{ id: idB, length: 7 }] },
  ])
  const header = envelopeHeader(ObjectKind.TREE, tree.refs)
  const tid = treeId(keys, header, tree.plain)
  const envelope = sealObject(keys, tid, header, tree.plain).envelope
  const empty = encodeTree([])
  const emptyHeader = envelopeHeader(ObjectKind.TREE, [])
  const emptyId = treeId(keys, emptyHeader, empty.plain)
  const emptyEnvelope = sealObject(keys, emptyId, emptyHeader, empty.plain).envelope

  t.equal(codeOf(() => openObject(keys, idA, chunk, ObjectKind.CHUNK)), 'ok', 'control: the chunk opens')
  t.equal(codeOf(() => openObject(keys, tid, envelope, ObjectKind.TREE)), 'ok', 'control: the tree opens')
  t.equal(codeOf(() => openObject(keys, emptyId, emptyEnvelope, ObjectKind.TREE)), 'ok', 'control: the empty tree opens')
  t.strictSame(openObject(keys, tid, envelope).refs.map(toHex), [toHex(idA), toHex(idB)])

  const withRef1 = Buffer.from(envelope)
  withRef1.set(chunkId(keys, Buffer.from('chunk c')), 6 + 32)
  t.equal(codeOf(() => openObject(keys, tid, withRef1)), 'INTEGRITY_ERROR', 'a reference replaced')
  const swapped = Buffer.from(envelope)
  swapped.set(idB, 6)
  swapped.set(idA, 38)
  t.equal(codeOf(() => openObject(keys, tid, swapped)), 'INTEGRITY_ERROR', 'references swapped')
  const flipped = Buffer.from(envelope)
  flipped[6 + 31] ^= 0x80
  t.equal(codeOf(() => openObject(keys, tid, flipped)), 'INTEGRITY_ERROR', 'one bit of a reference flipped')

  const chunkAsTree = Buffer.from(chunk)
  chunkAsTree[1] = ObjectKind.TREE
  t.equal(codeOf(() => openObject(keys, idA, chunkAsTree)), 'INTEGRITY_ERROR', 'chunk relabelled as a tree')
  t.equal(codeOf(() => openObject(keys, idA, chunkAsTree, ObjectKind.CHUNK)), 'INTEGRITY_ERROR', 'chunk relabelled as a tree, chunk expected')
  const emptyAsChunk = Buffer.from(emptyEnvelope)
  emptyAsChunk[1] = ObjectKind.CHUNK
  t.equal(codeOf(() => openObject(keys, emptyId, emptyAsChunk)), 'INTEGRITY_ERROR', 'tree without references relabelled as a chunk')
  const treeAsChunk = Buffer.from(envelope)
  treeAsChunk[1] = ObjectKind.CHUNK
  t.equal(codeOf(() => openObject(keys, tid, treeAsChunk)), 'BAD_MESSAGE', 'tree with references relabelled as a chunk')
  const unknownKind = Buffer.from(chunk)
  unknownKind[1] = 3
  t.equal(codeOf(() => openObject(keys, idA, unknownKind)), 'BAD_MESSAGE', 'unknown kind 3')

  t.equal(codeOf(() => openObject(keys, tid, envelope, ObjectKind.CHUNK)), 'INTEGRITY_ERROR', 'a tree where a chunk is expected')
  t.equal(codeOf(() => openObject(keys, idB, chunk)), 'INTEGRITY_ERROR', 'opened under another id')
  t.equal(codeOf(() => openObject(otherKeys, idA, chunk)), 'INTEGRITY_ERROR', 'opened with another vault key')
  // Sealed under a made-up id: the AEAD accepts it, the id check must not.
  const madeUp = Buffer.alloc(32, 9)
  const mislabelled = sealObject(keys, madeUp, CHUNK_HEADER, plainA).envelope
  t.throws(() => openObject(keys, madeUp, mislabelled), { name: 'ArcaError', code: 'INTEGRITY_ERROR', message: /hashes to/ })
})

t.test('chunk ids', async (t) => {
  const data = randomBytes(5, 4096)
  const id = chunkId(keys, data)
  t.equal(id.length, 32)
  t.equal(toHex(chunkId(keys, Buffer.from(data))), toHex(id), 'equal data, equal ids')
  t.equal(toHex(chunkId(deriveVaultKeys(Uint8Array.from(MASTER)), data)), toHex(id), 'same master key, same id')
  const changed = Buffer.from(data)
  changed[4095] ^= 1
  t.not(toHex(chunkId(keys, changed)), toHex(id), 'one bit of data changed, another id')
  t.not(toHex(chunkId(otherKeys, data)), toHex(id), 'another master key, another id')
  t.not(toHex(treeId(keys, new Uint8Array(0), data)), toHex(id), 'tree ids are another domain')
})

t.test('keyed BLAKE3 of the addon equals the blake3 package on every size class (chunks, SIMD lanes, tree levels)', async (t) => {
  const key = pseudoRandom(99, 32)
  const sizes = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 4097, 8 * 1024 + 3, 16 * 1024 + 1, 64 * 1024, 1024 * 1024 + 7, 3 * 1024 * 1024 + 11]
  for (const size of sizes) {
    const data = pseudoRandom(size + 1, size)
    t.equal(toHex(keyedBlake3(key, data)), toHex(packageKeyedHash(key, data)), `${size} bytes`)
  }
  const id = keyedBlake3(key, new Uint8Array(5))
  t.equal(id.byteLength, 32)
  t.equal(id.buffer.byteLength, 32, 'an id owns its memory (it may be transferred to a worker)')
  t.throws(() => keyedBlake3(new Uint8Array(31), new Uint8Array(1)), /"key" argument must be 32 bytes/)
})
