/**
 * The node's own records, in LevelDB under DATA/registry: vaults (name, quota), devices (public key, name, vault,
 * usage), one-time invites and the addresses the node last listened on. Values are versioned JSON; nothing here is
 * secret or plaintext of a vault: only names, public keys, sizes, times and ids.
 */
import { randomBytes } from 'node:crypto'
import { Level } from 'level'
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'

export const VAULT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
export const DEVICE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/

export interface VaultRecord {
  v: 1
  name: string
  /** Directory name of its store under DATA/vaults/: random, never derived from the name. */
  storeId: string
  /** 0: unlimited */
  quotaBytes: number
  createdAt: number
}

export interface DeviceRecord {
  v: 1
  publicKey: string
  name: string
  vault: string
  pairedAt: number
  revokedAt?: number
  lastSeenAt?: number
  /** Sealed bytes this device sent that the vault did not hold yet. */
  bytesIntroduced: number
  /** Logical size of the last snapshot it committed. */
  logicalBytes: number
  lastSnapshotAt?: number
  snapshotCount: number
}

export interface InviteRecord {
  v: 1
  /** Hex of the invite's public key (derived from the secret in the invite text). */
  publicKey: string
  vault: string
  createdAt: number
  expiresAt: number
  usedAt?: number
  usedBy?: string
}

type Db = Level<string, string>

export class NodeRegistry {
  private constructor(private readonly db: Db) {}

  static async open(path: string): Promise<NodeRegistry> {
    const db: Db = new Level<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED') throw new ArcaError('REPO_LOCKED', `Node registry "${path}" is in use by another process`, { cause: err })
      throw ArcaError.ioError(`Cannot open node registry "${path}"`, err)
    }
    return new NodeRegistry(db)
  }

  close(): Promise<void> {
    return this.db.close()
  }

  // ---- vaults ----

  async vault(name: string): Promise<VaultRecord | undefined> {
    return this.read<VaultRecord>(`vault:${name}`)
  }

  async vaults(): Promise<VaultRecord[]> {
    return this.list<VaultRecord>('vault:')
  }

  /** The vault `name`, created with `quotaBytes` if new; an existing vault's quota changes only when given. */
  async ensureVault(name: string, createdAt: number, quotaBytes?: number): Promise<VaultRecord> {
    checkName(name, VAULT_NAME_PATTERN, 'vault name')
    const existing = await this.vault(name)
    if (existing !== undefined) {
      if (quotaBytes !== undefined && quotaBytes !== existing.quotaBytes) return this.setQuota(name, quotaBytes)
      return existing
    }
    const record: VaultRecord = { v: 1, name, storeId: toHex(randomBytes(8)), quotaBytes: quotaBytes ?? 0, createdAt }
    await this.db.put(`vault:${name}`, JSON.stringify(record))
    return record
  }

  async setQuota(name: string, quotaBytes: number): Promise<VaultRecord> {
    const record = await this.vault(name)
    if (record === undefined) throw ArcaError.invalidArgument(`No vault named "${name}" on this node`)
    record.quotaBytes = quotaBytes
    await this.db.put(`vault:${name}`, JSON.stringify(record))
    return record
  }

  // ---- devices ----

  async device(publicKeyHex: string): Promise<DeviceRecord | undefined> {
    return this.read<DeviceRecord>(`device:${publicKeyHex}`)
  }

  async devices(): Promise<DeviceRecord[]> {
    return this.list<DeviceRecord>('device:')
  }

  async putDevice(record: DeviceRecord): Promise<void> {
    await this.db.put(`device:${record.publicKey}`, JSON.stringify(record))
  }

  /** Finds a device by name (within `vault` when given) or by public key hex or a unique prefix of it. */
  async findDevice(ref: string, vault?: string): Promise<DeviceRecord> {
    const all = (await this.devices()).filter((d) => vault === undefined || d.vault === vault)
    const byName = all.filter((d) => d.name === ref)
    const matches = byName.length > 0 ? byName : ref.length >= 8 ? all.filter((d) => d.publicKey.startsWith(ref.toLowerCase())) : []
    if (matches.length === 0) throw ArcaError.invalidArgument(`No device "${ref}" on this node${vault === undefined ? '' : ` in vault "${vault}"`}`)
    if (matches.length > 1) {
      throw ArcaError.invalidArgument(`Device "${ref}" is ambiguous: ${matches.map((d) => `${d.name} (${d.vault}, ${d.publicKey.slice(0, 16)})`).join(', ')}; give --vault or the key`)
    }
    return matches[0]
  }

  // ---- invites ----

  async invite(publicKeyHex: string): Promise<InviteRecord | undefined> {
    return this.read<InviteRecord>(`invite:${publicKeyHex}`)
  }

  async putInvite(record: InviteRecord): Promise<void> {
    await this.db.put(`invite:${record.publicKey}`, JSON.stringify(record))
  }

  // ---- settings ----

  async setting<T>(name: string): Promise<T | undefined> {
    return this.read<T>(`setting:${name}`)
  }

  async putSetting(name: string, value: unknown): Promise<void> {
    await this.db.put(`setting:${name}`, JSON.stringify(value))
  }

  async deleteSetting(name: string): Promise<void> {
    await this.db.del(`setting:${name}`)
  }

  /** Every setting whose name starts with `prefix`. */
  async settings<T>(prefix: string): Promise<T[]> {
    return this.list<T>(`setting:${prefix}`)
  }

  private async read<T>(key: string): Promise<T | undefined> {
    const raw = await this.db.get(key)
    return raw === undefined ? undefined : (JSON.parse(raw) as T)
  }

  private async list<T>(prefix: string): Promise<T[]> {
    const out: T[] = []
    for await (const value of this.db.values({ gte: prefix, lt: prefix + '\xff' })) out.push(JSON.parse(value) as T)
    return out
  }
}

export function checkName(name: string, pattern: RegExp, what: string): void {
  if (!pattern.test(name)) {
    throw ArcaError.invalidArgument(`Invalid ${what} "${name}": use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`)
  }
}
