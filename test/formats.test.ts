/**
 * Golden vectors of every persisted format (test/fixtures/golden.json, golden.pack): each vector is decoded and
 * every field checked against literal values, then re-encoded from the stored inputs and compared byte for byte, so
 * a format change fails here until the fixture, the design doc and the format version change with it. Also: every
 * decoder is total (truncations and seeded single-byte mutations of the golden bytes decode or throw a coded
 * ArcaError, never anything else) and rejects an unknown version with UNSUPPORTED_VERSION.
 *
 * Regenerate (after a deliberate, versioned format change only): ARCA_REGEN_GOLDEN=1 npx tap test/formats.test.ts
 */
import { createDecipheriv } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { crc32 } from 'node:zlib'
import t from 'tap'
import { ArcaError, type ErrorCode } from '../src/core/errors.js'
import { toHex } from '../src/core/hex.js'
import { keyedBlake3 } from '../src/dedup/blake3.js'
import { decompressChunk } from '../src/dedup/compression.js'
import { createKeySlot, decodeKeySlot, openKeySlot } from '../src/dedup/key-slot.js'
import { padmeLength } from '../src/dedup/padme.js'
import { decodeRecoveryKey, encodeRecoveryKey } from '../src/dedup/recovery-key.js'
import { open, seal } from '../src/dedup/seal.js'
import { deriveVaultKeys, KEY_CONTEXTS, type VaultKeys } from '../src/dedup/vault-keys.js'
import { EntryType, entryHeader, entryTrailer, packHeader, scanPack } from '../src/node/pack-format.js'
import {
  decodeLocation, decodePackRecord, encodeLocation, encodePackRecord, objectKey, packKey, packPath, snapshotKey,
} from '../src/node/store-layout.js'
import { decodeEnvelope, envelopeHeader, ObjectKind } from '../src/protocol/object-envelope.js'
import { decodeSnapshotRecord, encodeSnapshotHeader, type SnapshotHeader } from '../src/protocol/snapshot-record.js'
import { CHUNK_HEADER, chunkId, openObject, sealObject, treeId } from '../src/repo/objects.js'
import { decodeSnapshot, encodeSnapshot, planId } from '../src/repo/snapshot.js'
import { decodeTree, encodeTree, type TreeNode } from '../src/repo/tree.js'
import { decodeVaultConfig, encodeVaultConfig, verifyVaultConfig } from '../src/repo/vault-config.js'
import { tempDir, TEST_KDF } from './helpers/env.js'
import { buildGolden, nodeFromJson, type GoldenFixture } from './helpers/golden-gen.js'
import { rng } from './helpers/rng.js'
import { codeOf } from './helpers/error-code.js'

const FIXTURES = resolve(import.meta.dirname, 'fixtures')
const GOLDEN_JSON = join(FIXTURES, 'golden.json')
const GOLDEN_PACK = join(FIXTURES, 'golden.pack')

await t.test(
  'regenerate the golden fixture',
  { skip: process.env.ARCA_REGEN_GOLDEN === '1' ? false : 'set ARCA_REGEN_GOLDEN=1 to rewrite test/fixtures/golden.*' },
  async (t) => {
    const { fixture, pack } = await buildGolden()
    // Short arrays of numbers (the padme table) on one line each.
    const json = JSON.stringify(fixture, null, 2).replace(/\[\s+(\d+),\s+(\d+)\s+\]/g, '[$1, $2]')
    writeFileSync(GOLDEN_JSON, json + '\n')
    writeFileSync(GOLDEN_PACK, pack)
    t.pass(`wrote ${GOLDEN_JSON} and ${GOLDEN_PACK} (${pack.length} bytes)`)
  },
)

const golden = JSON.parse(readFileSync(GOLDEN_JSON, 'utf8')) as GoldenFixture
const packFile = readFileSync(GOLDEN_PACK)
const hex = (h: string): Buffer => Buffer.from(h, 'hex')
/** `length` bytes counting up from `start`, written out here independently of the generator. */
const counting = (start: number, length: number): string => toHex(Uint8Array.from({ length }, (_, i) => (start + i) & 0xff))

const master = hex(golden.masterKeyHex)
const keys = deriveVaultKeys(master)
const [chunkA, chunkB] = golden.chunks
const emptyTreeIdHex = golden.emptyTree.idHex


t.test('fixture inputs', async (t) => {
  t.equal(golden.masterKeyHex, counting(0, 32))
  t.equal(golden.keySlot.saltHex, counting(0x60, 16))
  t.equal(golden.keySlot.slotIdHex, counting(0x40, 32))
  t.equal(golden.vaultConfig.vaultIdHex, counting(0x70, 16))
  t.equal(golden.snapshot.idHex, counting(0xc0, 32))
  t.strictSame(golden.seal.map((v) => [v.name, v.saltHex]), [
    ['empty', counting(0x10, 16)],
    ['tiny', counting(0x20, 16)],
    ['compressible', counting(0x30, 16)],
  ])
  t.equal(golden.pack.file, 'golden.pack')
})

t.test('vault keys: derived from the master key under fixed contexts', async (t) => {
  t.strictSame(KEY_CONTEXTS, {
    chunkIdKey: 'arca 2026-11-23 chunk id v1',
    treeIdKey: 'arca 2026-11-23 tree id v1',
    dataKey: 'arca 2026-11-23 data key v1',
    gearSeed: 'arca 2026-11-23 gear seed v1',
    planIdKey: 'arca 2026-11-23 plan id v1',
    configMacKey: 'arca 2026-11-23 config mac v1',
  })
  t.strictSame(golden.vaultKeys.contexts, KEY_CONTEXTS)
  const names = Object.keys(KEY_CONTEXTS) as (keyof VaultKeys)[]
  t.strictSame(Object.keys(keys).sort(), [...names].sort())
  for (const name of names) {
    t.equal(keys[name].length, 32, `${name} is 32 bytes`)
    t.equal(toHex(keys[name]), golden.vaultKeys[name], `${name} equals the golden value`)
  }
  const distinct = new Set([golden.masterKeyHex, ...names.map((n) => golden.vaultKeys[n])])
  t.equal(distinct.size, names.length + 1, 'every derived key differs from the others and from the master key')
})

t.test('padme: golden table', async (t) => {
  const expected: Array<[number, number]> = [
    [0, 0], [1, 1], [2, 2], [3, 3], [9, 10], [10, 10], [17, 18], [100, 104], [129, 144], [1000, 1024], [4096, 4096],
    [65537, 67584], [1048576, 1048576], [1048577, 1081344], [8388607, 8388608], [8388617, 8650752],
  ]
  t.strictSame(golden.padme, expected)
  for (const [length, padded] of expected) t.equal(padmeLength(length), padded, `padmeLength(${length})`)
})

t.test('sealed payloads: layout, opening and re-encoding', async (t) => {
  const expectations: Record<string, { alg: number; sealedBytes?: number }> = {
    empty: { alg: 0, sealedBytes: 16 + 10 + 16 },
    tiny: { alg: 0, sealedBytes: 16 + 20 + 16 },
    compressible: { alg: 1 },
  }
  t.strictSame(golden.seal.map((v) => v.name), Object.keys(expectations))
  for (const v of golden.seal) {
    const plain = hex(v.plainHex)
    const aad = hex(v.aadHex)
    const salt = hex(v.saltHex)
    const sealed = hex(v.sealedHex)
    const want = expectations[v.name]
    if (want.sealedBytes !== undefined) t.equal(sealed.length, want.sealedBytes, `${v.name}: sealed length`)
    t.equal(toHex(sealed.subarray(0, 16)), v.saltHex, `${v.name}: starts with its salt`)
    // Decrypt by the documented construction, not through open().
    const decipher = createDecipheriv('aes-256-gcm', keyedBlake3(keys.dataKey, salt), Buffer.alloc(12))
    decipher.setAAD(aad)
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    const inner = Buffer.concat([decipher.update(sealed.subarray(16, sealed.length - 16)), decipher.final()])
    const bodyLength = inner.readUInt32LE(5)
    t.equal(inner[0], want.alg, `${v.name}: compression byte`)
    t.equal(inner.readUInt32LE(1), plain.length, `${v.name}: rawLength`)
    if (want.alg === 0) t.equal(bodyLength, plain.length, `${v.name}: stored body is the plaintext`)
    else t.ok(bodyLength < plain.length, `${v.name}: body is compressed (${bodyLength} < ${plain.length})`)
    t.equal(inner.length, padmeLength(9 + bodyLength), `${v.name}: padded to padmeLength(9 + bodyLength)`)
    t.ok(inner.subarray(9 + bodyLength).every((b) => b === 0), `${v.name}: padding is zero`)
    t.ok(Buffer.from(decompressChunk(inner[0], inner.subarray(9, 9 + bodyLength), plain.length)).equals(plain), `${v.name}: body holds the plaintext`)
    t.ok(Buffer.from(open(keys.dataKey, sealed, aad)).equals(plain), `${v.name}: open() gives the plaintext`)
    t.equal(v.zstdLevel, 3, `${v.name}: zstd level`)
    t.equal(toHex(seal(keys.dataKey, plain, aad, { salt, level: v.zstdLevel }).sealed), v.sealedHex, `${v.name}: re-encodes to the golden bytes`)
  }
  t.equal(hex(golden.seal[1].plainHex).toString(), 'hello, arca')
})

t.test('key slot', async (t) => {
  const g = golden.keySlot
  const record = hex(g.recordHex)
  const slotId = hex(g.slotIdHex)
  t.equal(record.length, 5 + 16 + 8 + 1 + 9 + 32 + 16)
  t.equal(record[0], 1, 'version byte')
  t.equal(record[1], 1, 'kdf byte: scrypt')
  const slot = decodeKeySlot(record)
  t.strictSame(slot.kdf, { logN: 10, r: 8, p: 1 })
  t.equal(toHex(slot.salt), counting(0x60, 16))
  t.equal(slot.createdAt, 1767225600000)
  t.equal(slot.label, 'laptop ü')
  t.equal(toHex(slot.header), g.recordHex.slice(0, 2 * 39), 'header is the record up to the label')
  t.equal(toHex(slot.wrapped), g.recordHex.slice(2 * 39), 'wrapped key and tag follow')
  t.equal(slot.wrapped.length, 48)
  t.equal(g.passphrase, 'golden passphrase, twenty chars or more')
  t.strictSame(g.kdf, TEST_KDF)
  const opened = await openKeySlot(slotId, record, g.passphrase)
  t.equal(opened === undefined ? 'undefined' : toHex(opened), golden.masterKeyHex, 'opens to the master key')
  t.equal(await openKeySlot(hex(counting(0x41, 32)), record, g.passphrase), undefined, 'bound to its slot id')
  const again = await createKeySlot(slotId, master, g.passphrase, { kdf: g.kdf, createdAt: g.createdAt, label: g.label, salt: hex(g.saltHex) })
  t.equal(toHex(again), g.recordHex, 're-encodes to the golden bytes')
})

t.test('recovery key', async (t) => {
  const text = golden.recoveryKey.text
  const groups = ['00010203', '04050607', '08090a0b', '0c0d0e0f', '10111213', '14151617', '18191a1b', '1c1d1e1f']
  t.match(text, new RegExp(`^arca-rk1-${groups.join('-')}-[0-9a-f]{8}$`))
  t.equal(toHex(decodeRecoveryKey(text)), golden.masterKeyHex)
  t.equal(encodeRecoveryKey(master), text, 're-encodes to the golden text')
})

t.test('vault config', async (t) => {
  const g = golden.vaultConfig
  const record = hex(g.recordHex)
  t.equal(record.length, 1 + 16 + 8 + 24 + 1 + 32)
  t.equal(record[0], 1, 'version byte')
  const config = decodeVaultConfig(record)
  t.equal(toHex(config.vaultId), counting(0x70, 16))
  t.equal(config.createdAt, 1767225600000)
  t.strictSame(config.fileChunker, { minBytes: 524288, avgBytes: 1048576, maxBytes: 8388608 })
  t.strictSame(config.smallChunker, { minBytes: 16384, avgBytes: 65536, maxBytes: 524288 })
  t.equal(config.zstdLevel, 3)
  t.equal(toHex(record.subarray(50)), toHex(keyedBlake3(keys.configMacKey, record.subarray(0, 50))), 'mac = keyed BLAKE3 of the body')
  t.equal(verifyVaultConfig(record, keys.configMacKey), true)
  t.equal(verifyVaultConfig(record, keys.dataKey), false, 'another key does not verify')
  const altered = Buffer.from(record)
  altered[49] ^= 1
  t.equal(verifyVaultConfig(altered, keys.configMacKey), false, 'an altered body does not verify')
  const again = encodeVaultConfig({ ...g, vaultId: hex(g.vaultIdHex) }, keys.configMacKey)
  t.equal(toHex(again), g.recordHex, 're-encodes to the golden bytes')
})

/** A tree node with ids as hex, for literal comparison. */
function nodeView(n: TreeNode): Record<string, unknown> {
  const { content, subtree, xattrs, ...rest } = n
  return {
    ...rest,
    ...(xattrs !== undefined ? { xattrs: xattrs.map((x) => ({ name: x.name, valueHex: toHex(x.value) })) } : {}),
    ...(content !== undefined ? { content: content.map((c) => ({ id: toHex(c.id), length: c.length })) } : {}),
    ...(subtree !== undefined ? { subtree: toHex(subtree) } : {}),
  }
}

const goldenNodes = [
  {
    name: 'docs', type: 'dir', mode: 0o755, uid: 1000, gid: 1000, mtimeNs: 1767225600123456789n, ctimeNs: 1767225600223456789n,
    size: 4096, ino: 1099511627781n, dev: 2049n, nlink: 2, subtree: emptyTreeIdHex,
  },
  {
    name: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: -1000000001n, ctimeNs: 0n,
    size: 16, ino: 18446744073709551615n, dev: 0n, nlink: 1, linkTarget: 'docs/läsmig.txt',
  },
  {
    name: 'readme.txt', type: 'file', mode: 0o644, uid: 1000, gid: 100, mtimeNs: 1767225599000000001n, ctimeNs: 1767225599500000000n,
    size: 390, ino: 1234567n, dev: 2049n, nlink: 1,
    content: [{ id: chunkA.idHex, length: 15 }, { id: chunkB.idHex, length: 360 }, { id: chunkA.idHex, length: 15 }],
  },
]
const aclDefaultHex = '02000000' + '01000700ffffffff' + '04000500ffffffff' + '20000500ffffffff'
const urlHex = toHex(Buffer.from('https://example.org/readme.txt'))

t.test('tree record', async (t) => {
  const g = golden.tree
  t.equal(golden.emptyTree.plainHex, '0200000000', 'empty tree: version 2, count 0')
  t.equal(golden.emptyTree.headerHex, '010200000000', 'empty tree envelope header: version 1, kind 2, no refs')
  t.equal(toHex(treeId(keys, hex(golden.emptyTree.headerHex), hex(golden.emptyTree.plainHex))), emptyTreeIdHex)
  const plain = hex(g.plainHex)
  const xattrBytes = { docs: 2 + (1 + 24 + 4 + 28), link: 2, readme: 2 + (1 + 10 + 4) + (1 + 19 + 4 + 30) }
  t.equal(plain.length, 5 + (2 + 4 + 1 + 56 + xattrBytes.docs + 4) + (2 + 4 + 1 + 56 + xattrBytes.link + 2 + 16) + (2 + 10 + 1 + 56 + xattrBytes.readme + 4 + 3 * 8))
  t.strictSame(g.refsHex, [emptyTreeIdHex, chunkA.idHex, chunkB.idHex], 'refs in order of first use')
  const nodes = decodeTree(plain, g.refsHex.map(hex))
  t.strictSame(nodes.map(nodeView), [
    { ...goldenNodes[0], xattrs: [{ name: 'system.posix_acl_default', valueHex: aclDefaultHex }] },
    goldenNodes[1],
    { ...goldenNodes[2], xattrs: [{ name: 'user.empty', valueHex: '' }, { name: 'user.xdg.origin.url', valueHex: urlHex }] },
  ])
  // readme.txt: 2 xattrs, then its payload, 3 chunks as (refIndex, length): (1, 15), (2, 360), (1, 15).
  t.equal(g.plainHex.slice(-2 * (2 + 15 + 54) - 56, -56), '0200' + '0a' + toHex(Buffer.from('user.empty')) + '00000000' + '13' + toHex(Buffer.from('user.xdg.origin.url')) + '1e000000' + urlHex)
  t.equal(g.plainHex.slice(-56), '03000000' + '010000000f000000' + '0200000068010000' + '010000000f000000')
  const again = encodeTree(g.nodes.map(nodeFromJson))
  t.equal(toHex(again.plain), g.plainHex, 're-encodes to the golden bytes')
  t.strictSame(again.refs.map(toHex), g.refsHex)
})

t.test('tree record version 1 (no extended attributes) is still read', async (t) => {
  const v1 = JSON.parse(readFileSync(new URL('./fixtures/tree-v1.json', import.meta.url), 'utf8')) as { plainHex: string; refsHex: string[]; emptyPlainHex: string }
  t.equal(v1.emptyPlainHex, '0100000000')
  t.strictSame(decodeTree(hex(v1.emptyPlainHex), []), [])
  t.equal(hex(v1.plainHex).length, 5 + (2 + 4 + 1 + 56 + 4) + (2 + 4 + 1 + 56 + 2 + 16) + (2 + 10 + 1 + 56 + 4 + 3 * 8))
  const nodes = decodeTree(hex(v1.plainHex), v1.refsHex.map(hex))
  // ids of the v1 fixture are those of its own time; compare everything else
  t.strictSame(
    nodes.map((n) => ({ ...nodeView(n), subtree: undefined, content: n.content?.map((c) => c.length) })),
    goldenNodes.map((n) => ({ ...n, isXattrsUnknown: true, subtree: undefined, content: n.content?.map((c) => c.length) })),
    'same nodes, marked as not knowing their extended attributes',
  )
  t.ok(nodes.every((n) => n.xattrs === undefined), 'no xattrs in a version 1 tree')
  const bumped = hex(v1.plainHex)
  bumped[0] = 3
  t.throws(() => decodeTree(bumped, v1.refsHex.map(hex)), { code: 'UNSUPPORTED_VERSION' }, 'version 3 is refused')
})

t.test('stored objects: ids, envelopes, opening', async (t) => {
  t.equal(toHex(CHUNK_HEADER), '010100000000')
  t.strictSame(golden.chunks.map((c) => c.plain), ['golden chunk A\n', 'The quick brown fox jumps over the lazy dog. '.repeat(8)])
  for (const c of golden.chunks) {
    const plain = Buffer.from(c.plain, 'utf8')
    const id = hex(c.idHex)
    const envelope = hex(c.envelopeHex)
    t.equal(toHex(chunkId(keys, plain)), c.idHex, 'chunk id = keyed BLAKE3(chunkIdKey, plaintext)')
    t.equal(toHex(envelope.subarray(0, 6)), '010100000000', 'chunk envelope header')
    t.equal(toHex(envelope.subarray(6, 22)), c.saltHex, 'sealed part starts with its salt')
    const opened = openObject(keys, id, envelope, ObjectKind.CHUNK)
    t.equal(opened.kind, ObjectKind.CHUNK)
    t.equal(opened.refs.length, 0)
    t.equal(Buffer.from(opened.plain).toString('utf8'), c.plain)
    t.equal(c.zstdLevel, 3)
    const again = sealObject(keys, id, CHUNK_HEADER, plain, { salt: hex(c.saltHex), level: c.zstdLevel })
    t.equal(toHex(again.envelope), c.envelopeHex, 're-encodes to the golden bytes')
  }
  t.equal(hex(chunkA.envelopeHex).length, 6 + 16 + padmeLength(9 + 15) + 16, 'chunk A is stored uncompressed')
  t.ok(hex(chunkB.envelopeHex).length < 6 + 16 + padmeLength(9 + 360) + 16, 'chunk B is stored compressed')

  const g = golden.tree
  const header = hex(g.headerHex)
  t.equal(header.length, 6 + 3 * 32)
  t.equal(g.headerHex.slice(0, 12), '010203000000', 'tree envelope: version 1, kind 2, 3 refs')
  t.equal(toHex(envelopeHeader(ObjectKind.TREE, g.refsHex.map(hex))), g.headerHex)
  t.equal(toHex(treeId(keys, header, hex(g.plainHex))), g.idHex, 'tree id = keyed BLAKE3(treeIdKey, header | plaintext)')
  const opened = openObject(keys, hex(g.idHex), hex(g.envelopeHex), ObjectKind.TREE)
  t.equal(opened.kind, ObjectKind.TREE)
  t.strictSame(opened.refs.map(toHex), g.refsHex)
  t.equal(toHex(opened.plain), g.plainHex)
  const again = sealObject(keys, hex(g.idHex), header, hex(g.plainHex), { salt: hex(g.saltHex), level: g.zstdLevel })
  t.equal(toHex(again.envelope), g.envelopeHex, 're-encodes to the golden bytes')
})

t.test('object envelope', async (t) => {
  const g = golden.tree
  const envelope = hex(g.envelopeHex)
  const env = decodeEnvelope(envelope)
  t.equal(env.kind, 2)
  t.strictSame(env.refs.map(toHex), [emptyTreeIdHex, chunkA.idHex, chunkB.idHex])
  t.equal(toHex(env.header), g.headerHex)
  t.equal(env.sealed.length, envelope.length - 102)
  t.equal(toHex(env.sealed.subarray(0, 16)), counting(0xa0, 16))
  const chunk = decodeEnvelope(hex(chunkA.envelopeHex))
  t.equal(chunk.kind, 1)
  t.equal(chunk.refs.length, 0)
  t.equal(toHex(chunk.header), '010100000000')
  t.equal(toHex(chunk.sealed), chunkA.envelopeHex.slice(12))
})

t.test('snapshot record', async (t) => {
  const g = golden.snapshot
  const record = hex(g.recordHex)
  const id = hex(g.idHex)
  const { header, headerBytes, sealed } = decodeSnapshotRecord(record)
  t.equal(header.createdAt, 1767229200000)
  t.equal(header.mode, 'incremental')
  t.equal(toHex(header.rootTree), golden.tree.idHex)
  t.equal(g.plan, 'home')
  t.equal(toHex(header.planId), toHex(planId(keys, g.plan)), 'plan id = keyed BLAKE3(planIdKey, plan name), 16 bytes')
  t.equal(header.planId.length, 16)
  t.equal(header.fileCount, 1)
  t.equal(header.logicalBytes, 390)
  t.equal(header.addedBytes, 360)
  t.equal(header.deviceName, 'laptop')
  t.equal(headerBytes.length, 1 + 8 + 1 + 32 + 16 + 24 + 1 + 6)
  t.equal(toHex(headerBytes), g.headerHex)
  t.equal(record[0], 1, 'version byte')
  t.equal(record[9], 2, 'mode byte: incremental')
  t.equal(toHex(sealed.subarray(0, 16)), counting(0xb0, 16), 'sealed body starts with its salt')
  t.equal(sealed.length, record.length - headerBytes.length)

  const snapshot = decodeSnapshot(keys, id, record)
  t.equal(snapshot.idHex, counting(0xc0, 32))
  t.strictSame(snapshot.body, {
    version: 1,
    plan: 'home',
    paths: ['/home/ana'],
    hostname: 'laptop',
    username: 'ana',
    parent: counting(0xe0, 32),
    startedAt: 1767229140000,
    finishedAt: 1767229200000,
    stats: {
      filesNew: 1, filesChanged: 2, filesUnchanged: 3, filesDeleted: 4, filesSkipped: 5, dirs: 6, symlinks: 7,
      bytesRead: 8, logicalBytes: 9, chunksNew: 10, bytesNew: 11, bytesStored: 12, bytesCompressed: 13,
    },
    warnings: [{ path: '/home/ana/locked.db', reason: 'EACCES: permission denied' }],
    warningCount: 1,
  })
  t.strictSame(snapshot.body, g.body)
  t.equal(codeOf(() => decodeSnapshot(keys, hex(counting(0xc1, 32)), record)), 'INTEGRITY_ERROR', 'bound to its snapshot id')

  const h = g.header
  const input: SnapshotHeader = { ...h, rootTree: hex(h.rootTreeHex), planId: hex(h.planIdHex) }
  t.equal(toHex(encodeSnapshotHeader(input)), g.headerHex, 'header re-encodes to the golden bytes')
  t.equal(toHex(encodeSnapshot(keys, id, input, g.body, hex(g.saltHex))), g.recordHex, 'record re-encodes to the golden bytes')
})

t.test('pack file', async (t) => {
  const g = golden.pack
  t.equal(packFile.length, g.fileBytes)
  t.equal(packFile.subarray(0, 8).toString('latin1'), 'ARCAPACK')
  t.equal(packFile.readUInt32LE(8), 1, 'pack version')
  t.equal(packFile.readUInt32LE(12), 0x12345, 'pack number')
  t.equal(g.packNumber, 0x12345)
  const bodies = [hex(chunkB.envelopeHex), hex(golden.snapshot.recordHex)]
  const ids = [chunkB.idHex, golden.snapshot.idHex]
  t.strictSame(g.entries.map((e) => [e.type, e.idHex, e.bodyLength]), [
    [1, ids[0], bodies[0].length],
    [2, ids[1], bodies[1].length],
  ])
  t.equal(g.entries[0].offset, 16)
  t.equal(g.entries[1].offset, 16 + 37 + bodies[0].length + 4)
  t.equal(g.fileBytes, g.entries[1].offset + 37 + bodies[1].length + 4)
  for (const [i, e] of g.entries.entries()) {
    const at = e.offset
    t.equal(packFile.readUInt32LE(at), bodies[i].length, `entry ${i}: bodyLength`)
    t.equal(packFile[at + 4], e.type, `entry ${i}: type`)
    t.equal(toHex(packFile.subarray(at + 5, at + 37)), ids[i], `entry ${i}: id`)
    t.ok(packFile.subarray(at + 37, at + 37 + e.bodyLength).equals(bodies[i]), `entry ${i}: body`)
    const crc = packFile.readUInt32LE(at + 37 + e.bodyLength)
    t.equal(crc, crc32(packFile.subarray(at, at + 37 + e.bodyLength)), `entry ${i}: crc32 over bodyLength through body`)
    t.equal(toHex(packFile.subarray(at + 37 + e.bodyLength, at + 41 + e.bodyLength)), e.crc32Hex)
  }

  const parts: Buffer[] = [packHeader(0x12345)]
  for (const [i, type] of [EntryType.OBJECT, EntryType.SNAPSHOT].entries()) {
    const h = entryHeader(type, hex(ids[i]), bodies[i].length)
    t.equal(toHex(h), g.entries[i].headerHex)
    parts.push(h, bodies[i], entryTrailer(h, bodies[i]))
  }
  t.ok(Buffer.concat(parts).equals(packFile), 're-encodes to golden.pack')

  // Entries of an unknown type end the valid prefix even with a good CRC.
  const dir = tempDir(t, 'arca-golden-')
  for (const type of [0, 7]) {
    const body = Buffer.from('unknown entry type')
    const h = entryHeader(type as EntryType, hex(ids[0]), body.length)
    const path = join(dir, `type-${type}.pack`)
    writeFileSync(path, Buffer.concat([packFile, h, body, entryTrailer(h, body)]))
    const s = scanPack(path)
    t.strictSame([s.entries.length, s.validBytes], [2, g.fileBytes], `an entry of type ${type} is an orphan tail`)
  }

  const scan = scanPack(GOLDEN_PACK)
  t.equal(scan.packNumber, 0x12345)
  t.equal(scan.fileBytes, g.fileBytes)
  t.equal(scan.validBytes, g.fileBytes)
  t.strictSame(
    scan.entries.map((e) => ({ type: e.type, id: toHex(e.id), offset: e.offset, bodyLength: e.bodyLength, body: toHex(e.body) })),
    [
      { type: 1, id: ids[0], offset: 16, bodyLength: bodies[0].length, body: chunkB.envelopeHex },
      { type: 2, id: ids[1], offset: g.entries[1].offset, bodyLength: bodies[1].length, body: golden.snapshot.recordHex },
    ],
  )

  // Any single-byte change inside an entry ends the scan just before that entry; in the header it throws.
  const copy = join(dir, 'mutated.pack')
  const unexpected: string[] = []
  for (let at = 0; at < packFile.length; at++) {
    const bytes = Buffer.from(packFile)
    bytes[at] ^= at % 7 === 0 ? 0xff : 1 << (at % 8)
    writeFileSync(copy, bytes)
    let outcome: string
    let expected: string
    if (at < 16) {
      expected = at >= 8 && at < 12 ? 'UNSUPPORTED_VERSION' : at < 8 ? 'BAD_MESSAGE' : 'entries 2'
      try {
        const s = scanPack(copy)
        outcome = `entries ${s.entries.length}`
      } catch (err) {
        outcome = err instanceof ArcaError ? err.code : String(err)
      }
    } else {
      const s = scanPack(copy)
      const kept = g.entries.filter((e) => e.offset + 41 + e.bodyLength <= at).length
      expected = `entries ${kept}, valid ${g.entries[kept].offset}`
      outcome = `entries ${s.entries.length}, valid ${s.validBytes}`
    }
    if (outcome !== expected) unexpected.push(`byte ${at}: expected ${expected}, received ${outcome}`)
  }
  t.strictSame(unexpected, [], 'every single-byte change is caught at the right place')
})

t.test('store layout records', async (t) => {
  const g = golden.storeLayout
  t.strictSame(
    { pack: g.location.pack, offset: g.location.offset, bodyLength: g.location.bodyLength, kind: g.location.kind },
    { pack: 0x12345, offset: 16, bodyLength: hex(chunkB.envelopeHex).length, kind: 1 },
  )
  const location = hex(g.location.recordHex)
  t.equal(location.length, 14)
  t.equal(location[0], 1, 'location version byte')
  t.strictSame(decodeLocation(location), { pack: 0x12345, offset: 16, bodyLength: hex(chunkB.envelopeHex).length, kind: 1 })
  t.equal(toHex(encodeLocation(decodeLocation(location))), g.location.recordHex, 'location re-encodes to the golden bytes')
  const packRecord = hex(g.packRecord.recordHex)
  t.equal(packRecord.length, 13)
  t.equal(packRecord[0], 1, 'pack record version byte')
  t.strictSame(decodePackRecord(packRecord), { committedBytes: golden.pack.fileBytes, entryCount: 2 })
  t.strictSame([g.packRecord.committedBytes, g.packRecord.entryCount], [golden.pack.fileBytes, 2])
  t.equal(toHex(encodePackRecord(golden.pack.fileBytes, 2)), g.packRecord.recordHex, 'pack record re-encodes to the golden bytes')
  t.equal(g.packPath, '/store/packs/0048/00012345.pack')
  t.equal(packPath('/store', 0x12345), g.packPath)
  t.equal(toHex(packKey(0x12345)), '5000012345')
  t.equal(g.packKeyHex, '5000012345')
  t.equal(toHex(objectKey(hex(chunkB.idHex))), '4f' + chunkB.idHex)
  t.equal(g.objectKeyHex, '4f' + chunkB.idHex)
  t.equal(toHex(snapshotKey(hex(golden.snapshot.idHex))), '53' + golden.snapshot.idHex)
  t.equal(g.snapshotKeyHex, '53' + golden.snapshot.idHex)
})

t.test('the generator reproduces the fixture exactly', async (t) => {
  const { fixture, pack } = await buildGolden()
  t.strictSame(JSON.parse(JSON.stringify(fixture)), golden)
  t.ok(pack.equals(packFile), 'golden.pack')
})


const DECODER_CODES: readonly string[] = ['BAD_MESSAGE', 'UNSUPPORTED_VERSION', 'UNSAFE_PATH', 'INTEGRITY_ERROR']
const treeRefs = golden.tree.refsHex.map(hex)
const decoders: Array<{ name: string; bytes: Buffer; decode: (b: Uint8Array) => unknown }> = [
  { name: 'decodeEnvelope', bytes: hex(golden.tree.envelopeHex), decode: decodeEnvelope },
  { name: 'decodeSnapshotRecord', bytes: hex(golden.snapshot.recordHex), decode: decodeSnapshotRecord },
  { name: 'decodeTree', bytes: hex(golden.tree.plainHex), decode: (b) => decodeTree(b, treeRefs) },
  { name: 'decodeKeySlot', bytes: hex(golden.keySlot.recordHex), decode: decodeKeySlot },
  { name: 'decodeVaultConfig', bytes: hex(golden.vaultConfig.recordHex), decode: decodeVaultConfig },
  { name: 'openObject (tree)', bytes: hex(golden.tree.envelopeHex), decode: (b) => openObject(keys, hex(golden.tree.idHex), b) },
  { name: 'openObject (chunk)', bytes: hex(chunkB.envelopeHex), decode: (b) => openObject(keys, hex(chunkB.idHex), b) },
  { name: 'decodeSnapshot', bytes: hex(golden.snapshot.recordHex), decode: (b) => decodeSnapshot(keys, hex(golden.snapshot.idHex), b) },
]

t.test('decoders are total: truncations and seeded single-byte mutations', async (t) => {
  for (const [i, d] of decoders.entries()) {
    t.equal(codeOf(() => d.decode(d.bytes)), 'ok', `${d.name}: the golden bytes decode`)
    const tally: Record<string, number> = {}
    const unexpected: string[] = []
    const check = (bytes: Uint8Array, what: string): void => {
      const code = codeOf(() => d.decode(bytes))
      tally[code] = (tally[code] ?? 0) + 1
      if (code !== 'ok' && !DECODER_CODES.includes(code)) unexpected.push(`${what}: ${code}`)
    }
    for (let length = 0; length < d.bytes.length; length++) check(d.bytes.subarray(0, length), `truncated to ${length}`)
    const next = rng(0x5eed + i)
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.from(d.bytes)
      const at = next() % bytes.length
      const value = (bytes[at] + 1 + (next() % 255)) & 0xff
      bytes[at] = value
      check(bytes, `byte ${at} set to ${value}`)
    }
    t.strictSame(unexpected.slice(0, 10), [], `${d.name}: only coded errors (${JSON.stringify(tally)})`)
    t.ok((tally.BAD_MESSAGE ?? 0) + (tally.INTEGRITY_ERROR ?? 0) > 0, `${d.name}: the damage was noticed`)
  }
})

t.test('decoders reject trailing bytes and truncated reference lists', async (t) => {
  const extra = (h: string): Buffer => Buffer.concat([hex(h), Buffer.from([0])])
  t.equal(codeOf(() => decodeTree(extra(golden.tree.plainHex), treeRefs)), 'BAD_MESSAGE', 'tree record with a trailing byte')
  t.equal(codeOf(() => decodeKeySlot(extra(golden.keySlot.recordHex))), 'BAD_MESSAGE', 'key slot with a trailing byte')
  t.equal(codeOf(() => decodeVaultConfig(extra(golden.vaultConfig.recordHex))), 'BAD_MESSAGE', 'vault config with a trailing byte')
  const envelope = hex(golden.tree.envelopeHex)
  t.equal(codeOf(() => decodeEnvelope(envelope.subarray(0, 6 + 3 * 32 - 1))), 'BAD_MESSAGE', 'envelope cut inside its references')
  t.equal(codeOf(() => decodeEnvelope(envelope.subarray(0, 6 + 3 * 32))), 'ok', 'envelope cut right after its references')
  const record = hex(golden.snapshot.recordHex)
  t.equal(codeOf(() => decodeSnapshotRecord(record.subarray(0, 88))), 'BAD_MESSAGE', 'snapshot record cut inside its device name')
})

t.test('decoders reject an unknown version with UNSUPPORTED_VERSION', async (t) => {
  for (const d of decoders) {
    // trees are at version 2 (1 is still read); every other record is at version 1
    for (const version of d.name === 'decodeTree' ? [0, 3, 255] : [0, 2, 255]) {
      const bytes = Buffer.from(d.bytes)
      bytes[0] = version
      t.equal(codeOf(() => d.decode(bytes)), 'UNSUPPORTED_VERSION', `${d.name}: version ${version}`)
    }
  }
  // The snapshot body carries its own version inside the sealed part.
  const g = golden.snapshot
  const h = g.header
  const id = hex(g.idHex)
  const record = encodeSnapshot(keys, id, { ...h, rootTree: hex(h.rootTreeHex), planId: hex(h.planIdHex) }, { ...g.body, version: 2 })
  t.equal(codeOf(() => decodeSnapshot(keys, id, record)), 'UNSUPPORTED_VERSION', 'snapshot body version 2')
  // A pack with another version.
  const dir = tempDir(t, 'arca-golden-')
  const path = join(dir, 'v2.pack')
  const bytes = Buffer.from(packFile)
  bytes.writeUInt32LE(2, 8)
  writeFileSync(path, bytes)
  t.equal(codeOf(() => scanPack(path)), 'UNSUPPORTED_VERSION', 'pack version 2')
})
