/**
 * Builds the golden vectors of every persisted format (test/fixtures/golden.json and golden.pack) from fixed
 * inputs: master key = bytes 0..31, fixed salts, ids and timestamps, a three-node tree, one snapshot. Nothing here
 * is random, so two runs give the same bytes. test/formats.test.ts rewrites the fixture with this when run with
 * ARCA_REGEN_GOLDEN=1; otherwise it only reads the fixture, and a format change fails until it is regenerated.
 */
import { toHex } from '../../src/core/hex.js'
import { FILE_CHUNKER, SMALL_CHUNKER } from '../../src/dedup/chunker.js'
import { createKeySlot, TEST_KDF } from '../../src/dedup/key-slot.js'
import { padmeLength } from '../../src/dedup/padme.js'
import { encodeRecoveryKey } from '../../src/dedup/recovery-key.js'
import { seal } from '../../src/dedup/seal.js'
import { deriveVaultKeys, KEY_CONTEXTS, type VaultKeys } from '../../src/dedup/vault-keys.js'
import { EntryType, entryHeader, entryTrailer, packHeader, PACK_HEADER_BYTES } from '../../src/node/pack-format.js'
import { encodeLocation, encodePackRecord, objectKey, packKey, packPath, snapshotKey } from '../../src/node/store-layout.js'
import { envelopeHeader, ObjectKind } from '../../src/protocol/object-envelope.js'
import { encodeSnapshotHeader, type SnapshotHeader } from '../../src/protocol/snapshot-record.js'
import { CHUNK_HEADER, chunkId, sealObject, treeId } from '../../src/repo/objects.js'
import { encodeSnapshot, planId, type SnapshotBody } from '../../src/repo/snapshot.js'
import { encodeTree, type TreeNode } from '../../src/repo/tree.js'
import { encodeVaultConfig } from '../../src/repo/vault-config.js'

/** `length` bytes counting up from `start` (mod 256). */
export function countingBytes(start: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (start + i) & 0xff))
}

export const MASTER_KEY = countingBytes(0x00, 32)
/** zstd level of every compressed vector, passed explicitly so a change of the default does not move them. */
export const GOLDEN_ZSTD_LEVEL = 3
export const PADME_LENGTHS = [0, 1, 2, 3, 9, 10, 17, 100, 129, 1000, 4096, 65537, 1048576, 1048577, 8388607, 8388608 + 9]

/** A tree node as stored in the fixture: bigints as decimal strings, ids as hex. */
export interface TreeNodeJson {
  name: string
  type: 'file' | 'dir' | 'symlink'
  mode: number
  uid: number
  gid: number
  mtimeNs: string
  ctimeNs: string
  size: number
  ino: string
  dev: string
  nlink: number
  content?: Array<{ idHex: string; length: number }>
  subtreeHex?: string
  linkTarget?: string
  xattrs?: Array<{ name: string; valueHex: string }>
}

export function nodeFromJson(n: TreeNodeJson): TreeNode {
  const node: TreeNode = {
    name: n.name, type: n.type, mode: n.mode, uid: n.uid, gid: n.gid,
    mtimeNs: BigInt(n.mtimeNs), ctimeNs: BigInt(n.ctimeNs), size: n.size, ino: BigInt(n.ino), dev: BigInt(n.dev), nlink: n.nlink,
  }
  if (n.content !== undefined) node.content = n.content.map((c) => ({ id: Buffer.from(c.idHex, 'hex'), length: c.length }))
  if (n.subtreeHex !== undefined) node.subtree = Buffer.from(n.subtreeHex, 'hex')
  if (n.linkTarget !== undefined) node.linkTarget = n.linkTarget
  if (n.xattrs !== undefined) node.xattrs = n.xattrs.map((x) => ({ name: x.name, value: Buffer.from(x.valueHex, 'hex') }))
  return node
}

export interface SealVector {
  name: string
  zstdLevel: number
  plainHex: string
  aadHex: string
  saltHex: string
  sealedHex: string
}

export interface GoldenFixture {
  description: string
  masterKeyHex: string
  vaultKeys: Record<keyof VaultKeys, string> & { contexts: Record<keyof VaultKeys, string> }
  padme: Array<[number, number]>
  seal: SealVector[]
  keySlot: {
    slotIdHex: string
    passphrase: string
    kdf: { logN: number; r: number; p: number }
    saltHex: string
    createdAt: number
    label: string
    recordHex: string
  }
  recoveryKey: { text: string }
  vaultConfig: {
    vaultIdHex: string
    createdAt: number
    fileChunker: { minBytes: number; avgBytes: number; maxBytes: number }
    smallChunker: { minBytes: number; avgBytes: number; maxBytes: number }
    zstdLevel: number
    recordHex: string
  }
  chunks: Array<{ plain: string; idHex: string; saltHex: string; zstdLevel: number; envelopeHex: string }>
  emptyTree: { plainHex: string; headerHex: string; idHex: string }
  tree: {
    nodes: TreeNodeJson[]
    plainHex: string
    refsHex: string[]
    headerHex: string
    idHex: string
    saltHex: string
    zstdLevel: number
    envelopeHex: string
  }
  snapshot: {
    idHex: string
    plan: string
    header: {
      createdAt: number
      mode: 'full' | 'incremental' | 'differential'
      rootTreeHex: string
      planIdHex: string
      fileCount: number
      logicalBytes: number
      addedBytes: number
      deviceName: string
    }
    headerHex: string
    body: SnapshotBody
    saltHex: string
    recordHex: string
  }
  pack: {
    file: string
    packNumber: number
    fileBytes: number
    entries: Array<{ type: number; idHex: string; offset: number; bodyLength: number; headerHex: string; crc32Hex: string }>
  }
  storeLayout: {
    location: { pack: number; offset: number; bodyLength: number; kind: number; recordHex: string }
    packRecord: { committedBytes: number; entryCount: number; recordHex: string }
    packPath: string
    packKeyHex: string
    objectKeyHex: string
    snapshotKeyHex: string
  }
}

const TIME = 1767225600000 // 2026-01-01T00:00:00.000Z

export async function buildGolden(): Promise<{ fixture: GoldenFixture; pack: Buffer }> {
  const keys = deriveVaultKeys(MASTER_KEY)
  const hexKeys = Object.fromEntries(Object.keys(KEY_CONTEXTS).map((k) => [k, toHex(keys[k as keyof VaultKeys])])) as Record<keyof VaultKeys, string>

  // Raw sealed payloads: empty, tiny (stored), compressible (zstd).
  const sealInputs: Array<{ name: string; plain: Buffer; aad: Buffer; salt: Buffer }> = [
    { name: 'empty', plain: Buffer.alloc(0), aad: Buffer.alloc(0), salt: countingBytes(0x10, 16) },
    { name: 'tiny', plain: Buffer.from('hello, arca'), aad: Buffer.from('golden aad'), salt: countingBytes(0x20, 16) },
    {
      name: 'compressible',
      plain: Buffer.from('arca golden vector, compressible line\n'.repeat(20)),
      aad: Buffer.from('golden aad 2'),
      salt: countingBytes(0x30, 16),
    },
  ]
  const sealVectors: SealVector[] = sealInputs.map((v) => ({
    name: v.name,
    zstdLevel: GOLDEN_ZSTD_LEVEL,
    plainHex: toHex(v.plain),
    aadHex: toHex(v.aad),
    saltHex: toHex(v.salt),
    sealedHex: toHex(seal(keys.dataKey, v.plain, v.aad, { salt: v.salt, level: GOLDEN_ZSTD_LEVEL }).sealed),
  }))

  const slotId = countingBytes(0x40, 32)
  const slotSalt = countingBytes(0x60, 16)
  const passphrase = 'golden passphrase, twenty chars or more'
  const slotRecord = await createKeySlot(slotId, MASTER_KEY, passphrase, { kdf: TEST_KDF, createdAt: TIME, label: 'laptop ü', salt: slotSalt })

  const vaultId = countingBytes(0x70, 16)
  const configRecord = encodeVaultConfig(
    { vaultId, createdAt: TIME, fileChunker: FILE_CHUNKER, smallChunker: SMALL_CHUNKER, zstdLevel: GOLDEN_ZSTD_LEVEL },
    keys.configMacKey,
  )

  // Chunks: A is too small to compress, B compresses.
  const chunkPlains = ['golden chunk A\n', 'The quick brown fox jumps over the lazy dog. '.repeat(8)]
  const chunkSalts = [countingBytes(0x80, 16), countingBytes(0x90, 16)]
  const chunks = chunkPlains.map((plain, i) => {
    const bytes = Buffer.from(plain, 'utf8')
    const id = chunkId(keys, bytes)
    const envelope = sealObject(keys, id, CHUNK_HEADER, bytes, { salt: chunkSalts[i], level: GOLDEN_ZSTD_LEVEL }).envelope
    return { plain, id, idHex: toHex(id), saltHex: toHex(chunkSalts[i]), envelope }
  })
  const [a, b] = chunks

  const empty = encodeTree([])
  const emptyHeader = envelopeHeader(ObjectKind.TREE, empty.refs)
  const emptyId = treeId(keys, emptyHeader, empty.plain)

  const fileSize = 2 * Buffer.byteLength(chunkPlains[0]) + Buffer.byteLength(chunkPlains[1])
  const nodesJson: TreeNodeJson[] = [
    {
      name: 'docs', type: 'dir', mode: 0o755, uid: 1000, gid: 1000, mtimeNs: '1767225600123456789',
      ctimeNs: '1767225600223456789', size: 4096, ino: '1099511627781', dev: '2049', nlink: 2, subtreeHex: toHex(emptyId),
      // a default ACL: user::rwx, group::r-x, other::r-x (the kernel's posix_acl_xattr layout, version 2)
      xattrs: [{ name: 'system.posix_acl_default', valueHex: '02000000' + '01000700ffffffff' + '04000500ffffffff' + '20000500ffffffff' }],
    },
    {
      name: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: '-1000000001', ctimeNs: '0',
      size: Buffer.byteLength('docs/läsmig.txt'), ino: '18446744073709551615', dev: '0', nlink: 1, linkTarget: 'docs/läsmig.txt',
    },
    {
      name: 'readme.txt', type: 'file', mode: 0o644, uid: 1000, gid: 100, mtimeNs: '1767225599000000001',
      ctimeNs: '1767225599500000000', size: fileSize, ino: '1234567', dev: '2049', nlink: 1,
      xattrs: [{ name: 'user.empty', valueHex: '' }, { name: 'user.xdg.origin.url', valueHex: toHex(Buffer.from('https://example.org/readme.txt')) }],
      content: [a, b, a].map((c) => ({ idHex: c.idHex, length: Buffer.byteLength(c.plain) })),
    },
  ]
  const tree = encodeTree(nodesJson.map(nodeFromJson))
  const treeHeader = envelopeHeader(ObjectKind.TREE, tree.refs)
  const rootId = treeId(keys, treeHeader, tree.plain)
  const treeSalt = countingBytes(0xa0, 16)
  const treeEnvelope = sealObject(keys, rootId, treeHeader, tree.plain, { salt: treeSalt, level: GOLDEN_ZSTD_LEVEL }).envelope

  const snapshotId = countingBytes(0xc0, 32)
  const plan = 'home'
  const snapshotHeader: SnapshotHeader = {
    createdAt: TIME + 3_600_000,
    mode: 'incremental',
    rootTree: rootId,
    planId: planId(keys, plan),
    fileCount: 1,
    logicalBytes: fileSize,
    addedBytes: Buffer.byteLength(chunkPlains[1]),
    deviceName: 'laptop',
  }
  const body: SnapshotBody = {
    version: 1,
    plan,
    paths: ['/home/ana'],
    hostname: 'laptop',
    username: 'ana',
    parent: toHex(countingBytes(0xe0, 32)),
    startedAt: TIME + 3_540_000,
    finishedAt: TIME + 3_600_000,
    stats: {
      filesNew: 1, filesChanged: 2, filesUnchanged: 3, filesDeleted: 4, filesSkipped: 5, dirs: 6, symlinks: 7,
      bytesRead: 8, logicalBytes: 9, chunksNew: 10, bytesNew: 11, bytesStored: 12, bytesCompressed: 13,
    },
    warnings: [{ path: '/home/ana/locked.db', reason: 'EACCES: permission denied' }],
    warningCount: 1,
  }
  const snapshotSalt = countingBytes(0xb0, 16)
  const snapshotRecord = encodeSnapshot(keys, snapshotId, snapshotHeader, body, snapshotSalt)

  // Pack: header, one OBJECT entry (chunk B), one SNAPSHOT entry.
  const packNumber = 0x12345
  const parts: Buffer[] = [packHeader(packNumber)]
  const entries: GoldenFixture['pack']['entries'] = []
  let offset = PACK_HEADER_BYTES
  for (const [type, id, entryBody] of [
    [EntryType.OBJECT, b.id, b.envelope],
    [EntryType.SNAPSHOT, snapshotId, snapshotRecord],
  ] as const) {
    const header = entryHeader(type, id, entryBody.length)
    const trailer = entryTrailer(header, entryBody)
    parts.push(header, entryBody, trailer)
    entries.push({ type, idHex: toHex(id), offset, bodyLength: entryBody.length, headerHex: toHex(header), crc32Hex: toHex(trailer) })
    offset += header.length + entryBody.length + trailer.length
  }
  const pack = Buffer.concat(parts)
  const location = { pack: packNumber, offset: entries[0].offset, bodyLength: entries[0].bodyLength, kind: ObjectKind.CHUNK }

  const fixture: GoldenFixture = {
    description:
      'Golden vectors of every persisted format, built by test/helpers/golden-gen.ts from the inputs stored here. ' +
      'A change to any of these bytes is a format change: bump the format version and the design doc with it, then ' +
      'regenerate with ARCA_REGEN_GOLDEN=1 npx tap test/formats.test.ts. Vectors with compression byte 1 also depend ' +
      'on the zstd encoder (sealed at the zstdLevel stored with them; the snapshot body at the default level of ' +
      'seal()): opening them must keep working whatever the zstd version or level.',
    masterKeyHex: toHex(MASTER_KEY),
    vaultKeys: { ...hexKeys, contexts: { ...KEY_CONTEXTS } },
    padme: PADME_LENGTHS.map((n) => [n, padmeLength(n)]),
    seal: sealVectors,
    keySlot: {
      slotIdHex: toHex(slotId), passphrase, kdf: { ...TEST_KDF }, saltHex: toHex(slotSalt), createdAt: TIME, label: 'laptop ü',
      recordHex: toHex(slotRecord),
    },
    recoveryKey: { text: encodeRecoveryKey(MASTER_KEY) },
    vaultConfig: {
      vaultIdHex: toHex(vaultId), createdAt: TIME, fileChunker: { ...FILE_CHUNKER }, smallChunker: { ...SMALL_CHUNKER }, zstdLevel: GOLDEN_ZSTD_LEVEL,
      recordHex: toHex(configRecord),
    },
    chunks: chunks.map((c) => ({ plain: c.plain, idHex: c.idHex, saltHex: c.saltHex, zstdLevel: GOLDEN_ZSTD_LEVEL, envelopeHex: toHex(c.envelope) })),
    emptyTree: { plainHex: toHex(empty.plain), headerHex: toHex(emptyHeader), idHex: toHex(emptyId) },
    tree: {
      nodes: nodesJson, plainHex: toHex(tree.plain), refsHex: tree.refs.map(toHex), headerHex: toHex(treeHeader),
      idHex: toHex(rootId), saltHex: toHex(treeSalt), zstdLevel: GOLDEN_ZSTD_LEVEL, envelopeHex: toHex(treeEnvelope),
    },
    snapshot: {
      idHex: toHex(snapshotId),
      plan,
      header: {
        createdAt: snapshotHeader.createdAt, mode: snapshotHeader.mode, rootTreeHex: toHex(rootId), planIdHex: toHex(snapshotHeader.planId),
        fileCount: snapshotHeader.fileCount, logicalBytes: snapshotHeader.logicalBytes, addedBytes: snapshotHeader.addedBytes,
        deviceName: snapshotHeader.deviceName,
      },
      headerHex: toHex(encodeSnapshotHeader(snapshotHeader)),
      body,
      saltHex: toHex(snapshotSalt),
      recordHex: toHex(snapshotRecord),
    },
    pack: { file: 'golden.pack', packNumber, fileBytes: pack.length, entries },
    storeLayout: {
      location: { ...location, recordHex: toHex(encodeLocation(location)) },
      packRecord: { committedBytes: pack.length, entryCount: entries.length, recordHex: toHex(encodePackRecord(pack.length, entries.length)) },
      packPath: packPath('/store', packNumber),
      packKeyHex: toHex(packKey(packNumber)),
      objectKeyHex: toHex(objectKey(b.id)),
      snapshotKeyHex: toHex(snapshotKey(snapshotId)),
    },
  }
  return { fixture, pack }
}
