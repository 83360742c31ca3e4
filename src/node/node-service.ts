/**
 * The storage node's state: its identity, its registry (vaults, devices, invites) and one open LocalStore per
 * vault, shared by every session of that vault. Decides who may connect (`authorize`), enforces quotas and keeps
 * per-device usage. Knows nothing of keys or plaintext: it sees sealed envelopes, ids, sizes and public keys.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import type { KeyPair } from '@hyperswarm/secret-stream'
import type { Clock } from '../core/clock.js'
import { ArcaError } from '../core/errors.js'
import { toHex } from '../core/hex.js'
import { encodeInvite } from '../protocol/invite.js'
import { checkMailSettings, type MailSettings } from '../mail/index.js'
import { AlertMonitor, type AlertEvent } from './alert-monitor.js'
import { LocalStore } from './local-store.js'
import { checkName, DEVICE_NAME_PATTERN, NodeRegistry, type DeviceRecord, type InviteRecord, type VaultRecord } from './node-registry.js'

export const NODE_MARKER = 'ARCA-NODE'
const NODE_MARKER_TEXT = 'arca storage node, format 1\n'
export const DEFAULT_INVITE_TTL_MS = 7 * 24 * 3600 * 1000

export type Log = (level: 'info' | 'warn' | 'error', message: string) => void

export interface VaultHandle {
  record: VaultRecord
  store: LocalStore
  /** Bytes admitted by quota checks whose puts have not yet reached the store's counter. */
  reservedBytes: number
}

export type Admission =
  | { kind: 'device'; device: DeviceRecord }
  | { kind: 'invite'; invite: InviteRecord }

export interface DeviceView extends DeviceRecord {
  isOnline: boolean
}

export interface VaultView extends VaultRecord {
  usedBytes: number
  deviceCount: number
}

/** Creates DATA with a fresh identity and an empty registry; REPO_EXISTS if DATA already holds a node. */
export async function initNode(dataDir: string, name: string): Promise<{ publicKey: string }> {
  if (existsSync(join(dataDir, NODE_MARKER))) throw new ArcaError('REPO_EXISTS', `"${dataDir}" already holds an Arca node`)
  checkName(name, DEVICE_NAME_PATTERN, 'node name')
  mkdirSync(join(dataDir, 'vaults'), { recursive: true })
  // the data directory holds the node key and the admin socket: the node's own user only
  chmodSync(dataDir, 0o700)
  const seed = randomBytes(32)
  writeFileSync(join(dataDir, 'node.key'), JSON.stringify({ v: 1, seed: toHex(seed), name }) + '\n', { mode: 0o600 })
  const registry = await NodeRegistry.open(join(dataDir, 'registry'))
  await registry.close()
  writeFileSync(join(dataDir, NODE_MARKER), NODE_MARKER_TEXT)
  return { publicKey: toHex(NoiseSecretStream.keyPair(seed).publicKey) }
}

function readIdentity(dataDir: string): { keyPair: KeyPair; name: string } {
  const marker = join(dataDir, NODE_MARKER)
  if (!existsSync(marker)) throw new ArcaError('REPO_NOT_FOUND', `No Arca node at "${dataDir}": run arca node init --data ${dataDir}`)
  if (readFileSync(marker, 'utf8') !== NODE_MARKER_TEXT) throw ArcaError.unsupportedVersion(`node marker in "${dataDir}"`, Number.NaN, 1)
  const raw = JSON.parse(readFileSync(join(dataDir, 'node.key'), 'utf8')) as { v: number; seed: string; name: string }
  if (raw.v !== 1) throw ArcaError.unsupportedVersion('node key file', raw.v, 1)
  return { keyPair: NoiseSecretStream.keyPair(Buffer.from(raw.seed, 'hex')), name: raw.name }
}

export class NodeService {
  readonly bootId = randomBytes(16)
  private readonly vaultHandles = new Map<string, Promise<VaultHandle>>()
  /** Live sessions by device public key hex, so a revocation can cut them. */
  private readonly liveSessions = new Map<string, Set<() => void>>()
  /** Addresses the running node listens on, advertised in invites. */
  addresses: string[] = []
  bootstrap: string[] = []
  private deviceWrites: Promise<void> = Promise.resolve()
  /** Missed-backup alerts; notifications go to `onAlert` (the daemon mails them). */
  readonly alerts: AlertMonitor
  onAlert: (event: AlertEvent) => Promise<void> = async () => {}

  private constructor(
    readonly dataDir: string,
    readonly keyPair: KeyPair,
    readonly name: string,
    readonly registry: NodeRegistry,
    readonly clock: Clock,
    readonly log: Log,
    alertMarginMs?: number,
  ) {
    this.alerts = new AlertMonitor(registry, clock, (event) => this.notifyAlert(event), alertMarginMs)
  }

  private async notifyAlert(event: AlertEvent): Promise<void> {
    const a = event.alert
    if (event.type === 'alert') {
      this.log('warn', `ALERT: device "${a.deviceName}" (vault "${a.vault}") ${a.kind === 'missed' ? `missed its backup "${a.plan}" due ${new Date(a.expectedAt).toISOString()}` : `reported a failed backup "${a.plan}"`}`)
    } else this.log('info', `Recovered: device "${a.deviceName}" (vault "${a.vault}") backed up "${a.plan}" again`)
    try {
      await this.onAlert(event)
    } catch (err) {
      this.log('error', `Alert notification failed: ${(err as Error).message}`)
    }
  }

  static async open(dataDir: string, clock: Clock, log: Log, options: { alertMarginMs?: number } = {}): Promise<NodeService> {
    const { keyPair, name } = readIdentity(dataDir)
    const registry = await NodeRegistry.open(join(dataDir, 'registry'))
    const service = new NodeService(dataDir, keyPair, name, registry, clock, log, options.alertMarginMs)
    service.addresses = (await registry.setting<string[]>('addresses')) ?? []
    service.bootstrap = (await registry.setting<string[]>('bootstrap')) ?? []
    return service
  }

  get publicKeyHex(): string {
    return toHex(this.keyPair.publicKey)
  }

  async advertise(addresses: string[], bootstrap: string[]): Promise<void> {
    this.addresses = addresses
    this.bootstrap = bootstrap
    await this.registry.putSetting('addresses', addresses)
    await this.registry.putSetting('bootstrap', bootstrap)
  }

  /** Who a remote key is: a paired device, a pending invite, or nobody (undefined). */
  async authorize(remotePublicKey: Uint8Array): Promise<Admission | undefined> {
    const hex = toHex(remotePublicKey)
    const device = await this.registry.device(hex)
    if (device !== undefined) return device.revokedAt === undefined ? { kind: 'device', device } : undefined
    const invite = await this.registry.invite(hex)
    if (invite !== undefined && invite.usedAt === undefined && invite.expiresAt > this.clock.now()) return { kind: 'invite', invite }
    return undefined
  }

  vault(name: string): Promise<VaultHandle> {
    let handle = this.vaultHandles.get(name)
    if (handle === undefined) {
      handle = (async () => {
        const record = await this.registry.vault(name)
        if (record === undefined) throw ArcaError.invalidArgument(`No vault named "${name}" on this node`)
        const dir = join(this.dataDir, 'vaults', record.storeId)
        const store = await LocalStore.open(dir, { create: !existsSync(dir), log: (m) => this.log('warn', `vault ${name}: ${m}`) })
        return { record, store, reservedBytes: 0 }
      })()
      handle.catch(() => this.vaultHandles.delete(name))
      this.vaultHandles.set(name, handle)
    }
    return handle
  }

  /** Refuses with QUOTA_EXCEEDED unless `bytes` more fit; otherwise reserves them until `release`. */
  admit(vault: VaultHandle, bytes: number): void {
    const quota = vault.record.quotaBytes
    const used = vault.store.usedBytes + vault.reservedBytes
    if (quota > 0 && used + bytes > quota) throw ArcaError.quotaExceeded(vault.record.name, used, bytes, quota)
    vault.reservedBytes += bytes
  }

  // ---- pairing and devices ----

  async createInvite(options: { vault: string; quotaBytes?: number; ttlMs?: number }): Promise<{ invite: string; expiresAt: number; vault: VaultRecord }> {
    const now = this.clock.now()
    const vault = await this.registry.ensureVault(options.vault, now, options.quotaBytes)
    const live = this.vaultHandles.get(vault.name)
    if (live !== undefined) (await live).record = vault
    const secret = randomBytes(32)
    const inviteKey = NoiseSecretStream.keyPair(secret)
    const expiresAt = now + (options.ttlMs ?? DEFAULT_INVITE_TTL_MS)
    await this.registry.putInvite({ v: 1, publicKey: toHex(inviteKey.publicKey), vault: vault.name, createdAt: now, expiresAt })
    if (this.addresses.length === 0) this.log('warn', 'This invite names no address: start the node (arca node start --listen HOST:PORT) before creating invites')
    const invite = encodeInvite({ nodePublicKey: this.keyPair.publicKey, secret, addresses: this.addresses, bootstrap: this.bootstrap })
    return { invite, expiresAt, vault }
  }

  /** Turns an invite into a device; the invite is spent. */
  async pair(invite: InviteRecord, deviceName: string, devicePublicKey: Uint8Array): Promise<DeviceRecord> {
    checkName(deviceName, DEVICE_NAME_PATTERN, 'device name')
    const current = await this.registry.invite(invite.publicKey)
    if (current === undefined || current.usedAt !== undefined) throw ArcaError.unauthorizedPeer('this invite was already used')
    const hex = toHex(devicePublicKey)
    const existing = await this.registry.device(hex)
    if (existing !== undefined) throw new ArcaError('ALREADY_EXISTS', `This device key is already paired as "${existing.name}" in vault "${existing.vault}"`)
    const sameName = (await this.registry.devices()).find((d) => d.vault === invite.vault && d.name === deviceName && d.revokedAt === undefined)
    if (sameName !== undefined) throw new ArcaError('ALREADY_EXISTS', `Vault "${invite.vault}" already has a device named "${deviceName}": choose another --name`)
    const now = this.clock.now()
    const device: DeviceRecord = { v: 1, publicKey: hex, name: deviceName, vault: invite.vault, pairedAt: now, bytesIntroduced: 0, logicalBytes: 0, snapshotCount: 0 }
    await this.registry.putDevice(device)
    await this.registry.putInvite({ ...current, usedAt: now, usedBy: hex })
    this.log('info', `Paired device "${deviceName}" (${hex.slice(0, 16)}) into vault "${invite.vault}"`)
    return device
  }

  async revoke(ref: string, vault?: string): Promise<DeviceRecord> {
    const device = await this.registry.findDevice(ref, vault)
    if (device.revokedAt === undefined) {
      device.revokedAt = this.clock.now()
      await this.registry.putDevice(device)
    }
    this.disconnect(device.publicKey)
    this.log('info', `Revoked device "${device.name}" (${device.publicKey.slice(0, 16)}) of vault "${device.vault}"`)
    return device
  }

  /** Closes every live connection of a device; returns how many there were. */
  disconnect(publicKeyHex: string): number {
    const cuts = [...(this.liveSessions.get(publicKeyHex) ?? [])]
    for (const cut of cuts) cut()
    return cuts.length
  }

  async listDevices(): Promise<DeviceView[]> {
    return (await this.registry.devices()).map((d) => ({ ...d, isOnline: (this.liveSessions.get(d.publicKey)?.size ?? 0) > 0 }))
  }

  async listVaults(): Promise<VaultView[]> {
    const devices = await this.registry.devices()
    const out: VaultView[] = []
    for (const v of await this.registry.vaults()) {
      const handle = this.vaultHandles.get(v.name)
      const usedBytes = handle !== undefined ? (await handle).store.usedBytes : await this.storedBytesOffline(v)
      out.push({ ...v, usedBytes, deviceCount: devices.filter((d) => d.vault === v.name && d.revokedAt === undefined).length })
    }
    return out
  }

  /** Where alert mails go (the node admin), or undefined. */
  async mailSettings(): Promise<MailSettings | undefined> {
    const raw = await this.registry.setting<unknown>('mail')
    return raw === undefined || raw === null ? undefined : checkMailSettings(raw, 'the node registry')
  }

  async setMailSettings(settings: MailSettings | undefined): Promise<void> {
    if (settings === undefined) await this.registry.deleteSetting('mail')
    else await this.registry.putSetting('mail', checkMailSettings(settings, 'the new mail settings'))
  }

  async setQuota(vault: string, quotaBytes: number): Promise<VaultRecord> {
    const record = await this.registry.setQuota(vault, quotaBytes)
    const live = this.vaultHandles.get(vault)
    if (live !== undefined) (await live).record = record
    return record
  }

  private async storedBytesOffline(v: VaultRecord): Promise<number> {
    const dir = join(this.dataDir, 'vaults', v.storeId)
    if (!existsSync(dir)) return 0
    const store = await LocalStore.open(dir)
    try {
      return store.usedBytes
    } finally {
      await store.close()
    }
  }

  // ---- sessions ----

  /** Registers a live session of a device; returns the function that unregisters it. */
  sessionStarted(publicKeyHex: string, cut: () => void): () => void {
    let set = this.liveSessions.get(publicKeyHex)
    if (set === undefined) this.liveSessions.set(publicKeyHex, (set = new Set()))
    set.add(cut)
    return () => {
      set.delete(cut)
      if (set.size === 0) this.liveSessions.delete(publicKeyHex)
    }
  }

  /** Applies usage deltas to a device record (read-modify-write, so concurrent sessions of one device add up). */
  updateDevice(publicKeyHex: string, update: (d: DeviceRecord) => void): Promise<void> {
    const next = this.deviceWrites.then(async () => {
      const d = await this.registry.device(publicKeyHex)
      if (d === undefined) return
      update(d)
      await this.registry.putDevice(d)
    })
    this.deviceWrites = next.catch((err) => this.log('error', `Updating device ${publicKeyHex.slice(0, 16)} failed: ${(err as Error).message}`))
    return next
  }

  async close(): Promise<void> {
    for (const set of this.liveSessions.values()) for (const cut of set) cut()
    await new Promise((resolve) => setImmediate(resolve))
    await this.deviceWrites
    for (const handle of this.vaultHandles.values()) {
      try {
        await (await handle).store.close()
      } catch (err) {
        this.log('error', `Closing a vault store failed: ${(err as Error).message}`)
      }
    }
    this.vaultHandles.clear()
    await this.registry.close()
  }
}
