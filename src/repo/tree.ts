/**
 * Tree records: one per directory, listing its entries sorted by name (UTF-8 byte order). Chunk and subtree ids
 * live in the envelope's cleartext reference list; the sealed plaintext refers to them by index.
 *
 * plain = version u8 (2) | count u32 | node*
 * node  = nameLength u16 | name | type u8 | mode u32 | uid u32 | gid u32 | mtimeNs i64 | ctimeNs i64 | size u64
 *         | ino u64 | dev u64 | nlink u32 | xattrs | payload
 * xattrs = xattrCount u16 | (nameLength u8 | name (UTF-8) | valueLength u32 | value) x xattrCount, sorted by name
 * Version 1 (read, never written) is the same without the xattrs field.
 * file payload    = chunkCount u32 | (refIndex u32 | length u32) x chunkCount; the lengths sum to size
 * dir payload     = refIndex u32
 * symlink payload = targetLength u16 | target (UTF-8)
 * All integers little-endian. Decoding rejects unsafe names, unsorted or duplicate names and any out-of-range value.
 */
import { ArcaError } from '../core/errors.js'

export const TREE_VERSION = 2
/** Version 1 trees (no extended attributes) are still read. */
const OLDEST_TREE_VERSION = 1
export const MAX_NAME_BYTES = 1024
export const MAX_LINK_TARGET_BYTES = 4096
export const MAX_TREE_ENTRIES = 1 << 20
/** Linux bounds: names up to 255 bytes (XATTR_NAME_MAX), values up to 64 KiB (XATTR_SIZE_MAX), all names 64 KiB. */
export const MAX_XATTR_NAME_BYTES = 255
export const MAX_XATTR_VALUE_BYTES = 65536
export const MAX_XATTRS = 4096

export type NodeType = 'file' | 'dir' | 'symlink'
const TYPE_CODES: Record<NodeType, number> = { file: 1, dir: 2, symlink: 3 }
const TYPE_NAMES: Record<number, NodeType> = { 1: 'file', 2: 'dir', 3: 'symlink' }

/** An extended attribute (POSIX ACLs are the `system.posix_acl_access` and `system.posix_acl_default` ones). */
export interface Xattr {
  name: string
  value: Uint8Array
}

/** A chunk of a file: its id and plaintext length (so a restore can place chunks without decrypting first). */
export interface ChunkRef {
  id: Uint8Array
  length: number
}

export interface TreeNode {
  name: string
  type: NodeType
  mode: number
  uid: number
  gid: number
  mtimeNs: bigint
  ctimeNs: bigint
  size: number
  ino: bigint
  dev: bigint
  nlink: number
  /** Extended attributes sorted by the bytes of their names; absent or empty when there are none. */
  xattrs?: Xattr[]
  /** Set by the decoder on nodes of a version 1 tree, which did not record extended attributes (never encoded). */
  isXattrsUnknown?: boolean
  /** file: its chunks in order */
  content?: ChunkRef[]
  /** dir: id of its tree */
  subtree?: Uint8Array
  /** symlink: target as stored */
  linkTarget?: string
}

/** Throws UNSAFE_PATH unless `name` is a single, safe path component. */
export function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new ArcaError('UNSAFE_PATH', `Unsafe name in tree record: ${JSON.stringify(name)}`)
  }
}

export function encodeTree(nodes: readonly TreeNode[]): { refs: Uint8Array[]; plain: Buffer } {
  const refs: Uint8Array[] = []
  const refIndex = new Map<string, number>()
  const indexOf = (id: Uint8Array): number => {
    const key = Buffer.from(id).toString('hex')
    let i = refIndex.get(key)
    if (i === undefined) {
      i = refs.length
      refs.push(id)
      refIndex.set(key, i)
    }
    return i
  }
  const parts: Buffer[] = []
  const head = Buffer.alloc(5)
  head[0] = TREE_VERSION
  head.writeUInt32LE(nodes.length, 1)
  parts.push(head)
  let previous: Buffer | undefined
  for (const node of nodes) {
    checkName(node.name)
    const name = Buffer.from(node.name, 'utf8')
    if (previous !== undefined && Buffer.compare(previous, name) >= 0) {
      throw new Error(`Tree nodes must be sorted and unique: "${node.name}"`)
    }
    previous = name
    const fixed = Buffer.alloc(2 + name.length + 1 + 12 + 24 + 16 + 4 + 4)
    let at = fixed.writeUInt16LE(name.length, 0)
    at += name.copy(fixed, at)
    fixed[at++] = TYPE_CODES[node.type]
    at = fixed.writeUInt32LE(node.mode >>> 0, at)
    at = fixed.writeUInt32LE(node.uid >>> 0, at)
    at = fixed.writeUInt32LE(node.gid >>> 0, at)
    at = fixed.writeBigInt64LE(node.mtimeNs, at)
    at = fixed.writeBigInt64LE(node.ctimeNs, at)
    at = fixed.writeBigUInt64LE(BigInt(node.size), at)
    at = fixed.writeBigUInt64LE(node.ino, at)
    at = fixed.writeBigUInt64LE(node.dev, at)
    at = fixed.writeUInt32LE(node.nlink >>> 0, at)
    parts.push(fixed.subarray(0, at), encodeXattrs(node))
    const payloadAt = at
    if (node.type === 'file') {
      const content = node.content ?? []
      at = fixed.writeUInt32LE(content.length, at)
      parts.push(fixed.subarray(payloadAt, at))
      const idx = Buffer.alloc(8 * content.length)
      for (let i = 0; i < content.length; i++) {
        idx.writeUInt32LE(indexOf(content[i].id), 8 * i)
        idx.writeUInt32LE(content[i].length, 8 * i + 4)
      }
      parts.push(idx)
    } else if (node.type === 'dir') {
      if (node.subtree === undefined) throw new Error(`Directory node "${node.name}" has no subtree`)
      at = fixed.writeUInt32LE(indexOf(node.subtree), at)
      parts.push(fixed.subarray(payloadAt, at))
    } else {
      const target = Buffer.from(node.linkTarget ?? '', 'utf8')
      if (target.length > MAX_LINK_TARGET_BYTES) throw ArcaError.invalidArgument(`Symlink target too long: "${node.name}"`)
      at = fixed.writeUInt16LE(target.length, at)
      parts.push(fixed.subarray(payloadAt, at), target)
    }
  }
  return { refs, plain: Buffer.concat(parts) }
}

const NO_XATTRS = Buffer.alloc(2)

function encodeXattrs(node: TreeNode): Buffer {
  const xattrs = node.xattrs ?? []
  if (xattrs.length === 0) return NO_XATTRS
  if (xattrs.length > MAX_XATTRS) throw ArcaError.invalidArgument(`Too many extended attributes on "${node.name}": ${xattrs.length}, at most ${MAX_XATTRS}`)
  const parts: Buffer[] = [Buffer.alloc(2)]
  parts[0].writeUInt16LE(xattrs.length)
  let previous: Buffer | undefined
  for (const x of xattrs) {
    const name = Buffer.from(x.name, 'utf8')
    if (name.length === 0 || name.length > MAX_XATTR_NAME_BYTES || name.includes(0)) {
      throw ArcaError.invalidArgument(`Invalid extended attribute name on "${node.name}": ${JSON.stringify(x.name)}`)
    }
    if (x.value.length > MAX_XATTR_VALUE_BYTES) {
      throw ArcaError.invalidArgument(`Extended attribute "${x.name}" of "${node.name}" is ${x.value.length} bytes, at most ${MAX_XATTR_VALUE_BYTES}`)
    }
    if (previous !== undefined && Buffer.compare(previous, name) >= 0) throw new Error(`Extended attributes of "${node.name}" must be sorted and unique`)
    previous = name
    const head = Buffer.alloc(1 + name.length + 4)
    head[0] = name.length
    name.copy(head, 1)
    head.writeUInt32LE(x.value.length, 1 + name.length)
    parts.push(head, Buffer.from(x.value.buffer, x.value.byteOffset, x.value.byteLength))
  }
  return Buffer.concat(parts)
}

function decodeXattrs(r: Reader, nodeName: string): Xattr[] | undefined {
  const count = r.u16('xattr count')
  if (count > MAX_XATTRS) throw ArcaError.badMessage('tree record', `${count} extended attributes on ${JSON.stringify(nodeName)}`)
  if (count === 0) return undefined
  const xattrs: Xattr[] = []
  let previous: Buffer | undefined
  for (let i = 0; i < count; i++) {
    const nameBytes = r.bytes(r.u8('xattr name length'), 'xattr name')
    const name = nameBytes.toString('utf8')
    if (nameBytes.length === 0 || nameBytes.includes(0) || !Buffer.from(name, 'utf8').equals(nameBytes)) {
      throw ArcaError.badMessage('tree record', `invalid extended attribute name on ${JSON.stringify(nodeName)}`)
    }
    if (previous !== undefined && Buffer.compare(previous, nameBytes) >= 0) {
      throw ArcaError.badMessage('tree record', `extended attributes of ${JSON.stringify(nodeName)} not sorted or duplicated at ${JSON.stringify(name)}`)
    }
    previous = nameBytes
    const valueLength = r.u32('xattr value length')
    if (valueLength > MAX_XATTR_VALUE_BYTES) throw ArcaError.badMessage('tree record', `extended attribute value of ${valueLength} bytes`)
    xattrs.push({ name, value: Buffer.from(r.bytes(valueLength, 'xattr value')) })
  }
  return xattrs
}

class Reader {
  at = 0
  constructor(private readonly buf: Buffer) {}
  need(n: number, what: string): void {
    if (this.at + n > this.buf.length) throw ArcaError.badMessage('tree record', `truncated in ${what}`)
  }
  u8(what: string): number { this.need(1, what); return this.buf[this.at++] }
  u16(what: string): number { this.need(2, what); const v = this.buf.readUInt16LE(this.at); this.at += 2; return v }
  u32(what: string): number { this.need(4, what); const v = this.buf.readUInt32LE(this.at); this.at += 4; return v }
  i64(what: string): bigint { this.need(8, what); const v = this.buf.readBigInt64LE(this.at); this.at += 8; return v }
  u64(what: string): bigint { this.need(8, what); const v = this.buf.readBigUInt64LE(this.at); this.at += 8; return v }
  bytes(n: number, what: string): Buffer { this.need(n, what); const v = this.buf.subarray(this.at, this.at + n); this.at += n; return v }
  get done(): boolean { return this.at === this.buf.length }
}

export function decodeTree(plain: Uint8Array, refs: readonly Uint8Array[]): TreeNode[] {
  const r = new Reader(Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength))
  const version = r.u8('version')
  if (version < OLDEST_TREE_VERSION || version > TREE_VERSION) throw ArcaError.unsupportedVersion('tree record', version, TREE_VERSION)
  const count = r.u32('count')
  if (count > MAX_TREE_ENTRIES) throw ArcaError.badMessage('tree record', `${count} entries exceeds ${MAX_TREE_ENTRIES}`)
  const ref = (what: string): Uint8Array => {
    const i = r.u32(what)
    if (i >= refs.length) throw ArcaError.badMessage('tree record', `reference index ${i} out of range (${refs.length} refs)`)
    return refs[i]
  }
  const nodes: TreeNode[] = []
  let previous: Buffer | undefined
  for (let n = 0; n < count; n++) {
    const nameLength = r.u16('name length')
    if (nameLength > MAX_NAME_BYTES) throw ArcaError.badMessage('tree record', `name of ${nameLength} bytes`)
    const nameBytes = r.bytes(nameLength, 'name')
    const name = nameBytes.toString('utf8')
    if (!Buffer.from(name, 'utf8').equals(nameBytes)) throw ArcaError.badMessage('tree record', 'name is not valid UTF-8')
    checkName(name)
    if (previous !== undefined && Buffer.compare(previous, nameBytes) >= 0) {
      throw ArcaError.badMessage('tree record', `names not sorted or duplicated at ${JSON.stringify(name)}`)
    }
    previous = nameBytes
    const typeCode = r.u8('type')
    const type = TYPE_NAMES[typeCode]
    if (type === undefined) throw ArcaError.badMessage('tree record', `unknown node type ${typeCode}`)
    const mode = r.u32('mode')
    if (mode > 0o7777) throw ArcaError.badMessage('tree record', `mode ${mode.toString(8)} of ${JSON.stringify(name)} has bits outside 07777`)
    const node: TreeNode = {
      name, type, mode, uid: r.u32('uid'), gid: r.u32('gid'),
      mtimeNs: r.i64('mtime'), ctimeNs: r.i64('ctime'),
      size: 0, ino: 0n, dev: 0n, nlink: 0,
    }
    const size = r.u64('size')
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw ArcaError.badMessage('tree record', `size ${size} out of range`)
    node.size = Number(size)
    node.ino = r.u64('ino')
    node.dev = r.u64('dev')
    node.nlink = r.u32('nlink')
    if (version >= 2) {
      const xattrs = decodeXattrs(r, name)
      if (xattrs !== undefined) node.xattrs = xattrs
    } else node.isXattrsUnknown = true
    if (type === 'file') {
      const chunkCount = r.u32('chunk count')
      if (chunkCount > MAX_TREE_ENTRIES * 16) throw ArcaError.badMessage('tree record', `${chunkCount} chunks`)
      r.need(8 * chunkCount, 'chunk list')
      node.content = new Array(chunkCount)
      let total = 0
      for (let i = 0; i < chunkCount; i++) {
        const id = ref('chunk index')
        const length = r.u32('chunk length')
        total += length
        node.content[i] = { id, length }
      }
      if (total !== node.size) throw ArcaError.badMessage('tree record', `chunk lengths of ${JSON.stringify(name)} add up to ${total}, size is ${node.size}`)
    } else if (type === 'dir') {
      node.subtree = ref('subtree index')
    } else {
      const targetLength = r.u16('link target length')
      if (targetLength > MAX_LINK_TARGET_BYTES) throw ArcaError.badMessage('tree record', `link target of ${targetLength} bytes`)
      node.linkTarget = r.bytes(targetLength, 'link target').toString('utf8')
    }
    nodes.push(node)
  }
  if (!r.done) throw ArcaError.badMessage('tree record', 'trailing bytes after the last node')
  return nodes
}
