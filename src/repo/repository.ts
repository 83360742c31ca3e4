/**
 * A vault opened with its keys over a Store: key slots, config, snapshots, and typed access to trees.
 */
import { randomBytes } from 'node:crypto'
import { ArcaError } from '../core/errors.js'
import type { Clock } from '../core/clock.js'
import { toHex } from '../core/hex.js'
import { blake3SelfTest } from '../dedup/blake3.js'
import { createChunker, FILE_CHUNKER, type Chunker, type ChunkerParams } from '../dedup/chunker.js'
import { gearTable } from '../dedup/gear.js'
import { createKeySlot, decodeKeySlot, openKeySlot, type KdfParams } from '../dedup/key-slot.js'
import { decodeRecoveryKey, encodeRecoveryKey } from '../dedup/recovery-key.js'
import { deriveVaultKeys, newMasterKey, type VaultKeys } from '../dedup/vault-keys.js'
import { ObjectKind } from '../protocol/object-envelope.js'
import type { Store } from '../protocol/store.js'
import { openObject } from './objects.js'
import { decodeSnapshot, sortSnapshots, type Snapshot } from './snapshot.js'
import { decodeTree, type TreeNode } from './tree.js'
import { decodeVaultConfig, encodeVaultConfig, verifyVaultConfig, type VaultConfig } from './vault-config.js'

/** For databases, mail stores and disk images, which are rewritten in place. */
export const IN_PLACE_CHUNKER: ChunkerParams = { minBytes: 8 * 1024, avgBytes: 32 * 1024, maxBytes: 256 * 1024 }
export const DEFAULT_ZSTD_LEVEL = 3

export interface Credentials {
  passphrase?: string
  recoveryKey?: string
}

export interface KeySlotInfo {
  id: string
  label: string
  createdAt: number
  kdf: KdfParams
}

const TREE_CACHE_ENTRIES = 256

export class Repository {
  readonly fileChunker: Chunker
  readonly inPlaceChunker: Chunker
  private readonly treeCache = new Map<string, TreeNode[]>()

  private constructor(
    readonly store: Store,
    readonly keys: VaultKeys,
    private readonly masterKey: Uint8Array,
    readonly config: VaultConfig,
  ) {
    const gear = gearTable(keys.gearSeed)
    this.fileChunker = createChunker(gear, config.fileChunker)
    this.inPlaceChunker = createChunker(gear, config.smallChunker)
  }

  static async init(store: Store, passphrase: string, options: { clock: Clock; kdf?: KdfParams; label?: string }): Promise<Repository> {
    blake3SelfTest()
    if ((await store.readConfig()) !== undefined) throw new ArcaError('REPO_EXISTS', 'The store already holds a vault')
    const masterKey = newMasterKey()
    const keys = deriveVaultKeys(masterKey)
    const config: VaultConfig = {
      vaultId: randomBytes(16),
      createdAt: options.clock.now(),
      fileChunker: FILE_CHUNKER,
      smallChunker: IN_PLACE_CHUNKER,
      zstdLevel: DEFAULT_ZSTD_LEVEL,
    }
    const slotId = randomBytes(32)
    const slot = await createKeySlot(slotId, masterKey, passphrase, { kdf: options.kdf, createdAt: options.clock.now(), label: options.label ?? 'initial' })
    await store.writeConfig(encodeVaultConfig(config, keys.configMacKey))
    await store.putKeySlot(slotId, slot)
    return new Repository(store, keys, masterKey, config)
  }

  static async open(store: Store, credentials: Credentials): Promise<Repository> {
    blake3SelfTest()
    const configRecord = await store.readConfig()
    if (configRecord === undefined) throw new ArcaError('REPO_NOT_FOUND', 'The store holds no vault yet (run arca init)')
    const config = decodeVaultConfig(configRecord)
    let masterKey: Uint8Array | undefined
    if (credentials.recoveryKey !== undefined) {
      masterKey = decodeRecoveryKey(credentials.recoveryKey)
    } else if (credentials.passphrase !== undefined) {
      const slots = await store.listKeySlots()
      const opened = await Promise.all(slots.map((s) => openKeySlot(s.id, s.record, credentials.passphrase!)))
      masterKey = opened.find((k) => k !== undefined)
      if (masterKey === undefined) throw ArcaError.wrongPassphrase()
    } else {
      throw ArcaError.invalidArgument('No passphrase given: set ARCA_PASSPHRASE or pass --passphrase-file FILE')
    }
    const keys = deriveVaultKeys(masterKey)
    if (!verifyVaultConfig(configRecord, keys.configMacKey)) {
      if (credentials.recoveryKey !== undefined) throw new ArcaError('WRONG_PASSPHRASE', 'The recovery key does not belong to this vault')
      throw ArcaError.integrity('the vault config record does not match the vault key (tampered config)')
    }
    return new Repository(store, keys, masterKey, config)
  }

  get vaultIdHex(): string {
    return toHex(this.config.vaultId)
  }

  recoveryKey(): string {
    return encodeRecoveryKey(this.masterKey)
  }

  // ---- key slots ----

  async listKeySlots(): Promise<KeySlotInfo[]> {
    const slots = await this.store.listKeySlots()
    return slots
      .map(({ id, record }) => {
        const s = decodeKeySlot(record)
        return { id: toHex(id), label: s.label, createdAt: s.createdAt, kdf: s.kdf }
      })
      .sort((a, b) => a.createdAt - b.createdAt)
  }

  async addKeySlot(passphrase: string, options: { clock: Clock; kdf?: KdfParams; label?: string }): Promise<string> {
    const slotId = randomBytes(32)
    const record = await createKeySlot(slotId, this.masterKey, passphrase, { kdf: options.kdf, createdAt: options.clock.now(), label: options.label ?? '' })
    await this.store.putKeySlot(slotId, record)
    return toHex(slotId)
  }

  /** Removes the slot whose id starts with `prefix`. */
  async removeKeySlot(prefix: string): Promise<string> {
    const slots = await this.listKeySlots()
    const matches = slots.filter((s) => s.id.startsWith(prefix.toLowerCase()))
    if (prefix.length < 4 || matches.length === 0) throw ArcaError.invalidArgument(`No key slot matches "${prefix}" (give at least 4 hex digits of its id)`)
    if (matches.length > 1) throw ArcaError.invalidArgument(`Key slot reference "${prefix}" is ambiguous`)
    await this.store.removeKeySlot(Buffer.from(matches[0].id, 'hex'))
    return matches[0].id
  }

  /** The id of the slot that `passphrase` opens, if any. */
  async slotOpenedBy(passphrase: string): Promise<string | undefined> {
    for (const { id, record } of await this.store.listKeySlots()) {
      if ((await openKeySlot(id, record, passphrase)) !== undefined) return toHex(id)
    }
    return undefined
  }

  // ---- snapshots and trees ----

  async listSnapshots(): Promise<Snapshot[]> {
    const records = await this.store.listSnapshots()
    return sortSnapshots(records.map(({ id, record }) => decodeSnapshot(this.keys, id, record)))
  }

  /** The tree `id` as stored: its reference list and sealed plaintext, opened and verified but not decoded. */
  async loadTreeRecord(id: Uint8Array): Promise<{ refs: Uint8Array[]; plain: Uint8Array }> {
    const { refs, plain } = openObject(this.keys, id, await this.store.get(id), ObjectKind.TREE)
    return { refs, plain }
  }

  async loadTree(id: Uint8Array): Promise<TreeNode[]> {
    const hex = toHex(id)
    const cached = this.treeCache.get(hex)
    if (cached !== undefined) return cached
    const envelope = await this.store.get(id)
    const { refs, plain } = openObject(this.keys, id, envelope, ObjectKind.TREE)
    const nodes = decodeTree(plain, refs)
    if (this.treeCache.size >= TREE_CACHE_ENTRIES) this.treeCache.delete(this.treeCache.keys().next().value as string)
    this.treeCache.set(hex, nodes)
    return nodes
  }
}
