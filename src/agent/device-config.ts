/**
 * The device's configuration in ARCA_HOME (default ~/.config/arca): its Noise key pair seed and the node it is
 * paired with (public key pinned at pairing, addresses, DHT bootstrap, vault). device.json is written 0600 and
 * replaced atomically.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ArcaError } from '../core/errors.js'

export const DEVICE_CONFIG_FILE = 'device.json'
export const TRANSPORTS = ['auto', 'tcp', 'swarm'] as const
export type Transport = (typeof TRANSPORTS)[number]

export interface PairedNode {
  publicKey: string
  name: string
  vault: string
  addresses: string[]
  bootstrap: string[]
  transport: Transport
}

export interface DeviceConfig {
  v: 1
  device: { name: string; seed: string }
  node: PairedNode
}

export function arcaHome(env: NodeJS.ProcessEnv): string {
  const home = env.ARCA_HOME
  return home !== undefined && home !== '' ? home : join(homedir(), '.config', 'arca')
}

export function readDeviceConfig(home: string): DeviceConfig | undefined {
  const path = join(home, DEVICE_CONFIG_FILE)
  if (!existsSync(path)) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw ArcaError.invalidArgument(`Cannot read device config "${path}": ${(err as Error).message}`)
  }
  const cfg = raw as DeviceConfig
  if (typeof cfg !== 'object' || cfg === null || cfg.v !== 1) throw ArcaError.unsupportedVersion(`device config "${path}"`, Number((cfg as { v?: unknown })?.v), 1)
  const bad = (field: string, value: unknown): never => {
    throw ArcaError.invalidArgument(`Invalid device config "${path}": "${field}" is wrong, received ${JSON.stringify(value)}`)
  }
  if (typeof cfg.device?.name !== 'string') bad('device.name', cfg.device?.name)
  if (!/^[0-9a-f]{64}$/.test(cfg.device?.seed ?? '')) bad('device.seed', '(hidden)')
  if (!/^[0-9a-f]{64}$/.test(cfg.node?.publicKey ?? '')) bad('node.publicKey', cfg.node?.publicKey)
  if (!Array.isArray(cfg.node.addresses)) bad('node.addresses', cfg.node.addresses)
  if (!Array.isArray(cfg.node.bootstrap)) bad('node.bootstrap', cfg.node.bootstrap)
  if (!TRANSPORTS.includes(cfg.node.transport)) bad('node.transport', cfg.node.transport)
  return cfg
}

export function writeDeviceConfig(home: string, config: DeviceConfig): void {
  mkdirSync(home, { recursive: true, mode: 0o700 })
  const path = join(home, DEVICE_CONFIG_FILE)
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, path)
}
