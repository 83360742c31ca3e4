/**
 * The `arca node` admin commands talk to the running daemon over DATA/control.sock, or open the node's data
 * directly when no daemon runs (LevelDB allows one process at a time).
 */
import { request } from 'node:http'
import { join } from 'node:path'
import { ArcaError, ERROR_CODES, type ErrorCode } from '../core/errors.js'
import type { MailSettings } from '../mail/index.js'
import type { AlertRecord, PlanWatch } from '../node/alert-monitor.js'
import type { DeviceRecord, VaultRecord } from '../node/node-registry.js'
import { CONTROL_SOCKET, isSocketAlive } from '../node/node-daemon.js'
import { NodeService, type DeviceView, type VaultView } from '../node/node-service.js'
import type { Io } from './context.js'

export interface NodeAdmin {
  status(): Promise<{ name: string; publicKey: string; addresses: string[]; bootstrap: string[] }>
  createInvite(options: { vault: string; quotaBytes?: number; ttlMs?: number }): Promise<{ invite: string; expiresAt: number; vault: VaultRecord }>
  listDevices(): Promise<DeviceView[]>
  listVaults(): Promise<VaultView[]>
  revoke(ref: string, vault?: string): Promise<DeviceRecord>
  setQuota(vault: string, quotaBytes: number): Promise<VaultRecord>
  alerts(includeClosed: boolean): Promise<AlertRecord[]>
  plans(): Promise<PlanWatch[]>
  mail(): Promise<MailSettings | undefined>
  setMail(settings: MailSettings | undefined): Promise<void>
}

export async function withNodeAdmin<T>(dataDir: string, io: Io, fn: (admin: NodeAdmin) => Promise<T>): Promise<T> {
  const socketPath = join(dataDir, CONTROL_SOCKET)
  if (await isSocketAlive(socketPath)) return fn(httpAdmin(socketPath))
  const service = await NodeService.open(dataDir, io.clock, (level, message) => io.err(`arca node: ${level}: ${message}`))
  try {
    return await fn({
      status: async () => ({ name: service.name, publicKey: service.publicKeyHex, addresses: service.addresses, bootstrap: service.bootstrap }),
      createInvite: (o) => service.createInvite(o),
      listDevices: () => service.listDevices(),
      listVaults: () => service.listVaults(),
      revoke: (ref, vault) => service.revoke(ref, vault),
      setQuota: (vault, q) => service.setQuota(vault, q),
      alerts: (all) => service.alerts.alerts(all),
      plans: () => service.alerts.watches(),
      mail: () => service.mailSettings(),
      setMail: (m) => service.setMailSettings(m),
    })
  } finally {
    await service.close()
  }
}

function httpAdmin(socketPath: string): NodeAdmin {
  const call = <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body)
      const req = request({ socketPath, path, method, headers: payload === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8')
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            reject(ArcaError.badMessage('answer of the node daemon', text.slice(0, 200)))
            return
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = json as { code?: string; message?: string }
            const code = ERROR_CODES.includes(e.code as ErrorCode) ? (e.code as ErrorCode) : 'IO_ERROR'
            reject(new ArcaError(code, e.message ?? text))
          } else resolve(json as T)
        })
      })
      req.on('error', (err) => reject(ArcaError.ioError(`Cannot talk to the node daemon at ${socketPath}`, err)))
      req.end(payload)
    })
  return {
    status: () => call('GET', '/v1/status'),
    createInvite: (o) => call('POST', '/v1/invites', o),
    listDevices: () => call('GET', '/v1/devices'),
    listVaults: () => call('GET', '/v1/vaults'),
    revoke: (ref, vault) => call('POST', '/v1/revoke', { ref, vault }),
    setQuota: (vault, quotaBytes) => call('POST', '/v1/quota', { vault, quotaBytes }),
    alerts: (all) => call('GET', `/v1/alerts${all ? '?all=1' : ''}`),
    plans: () => call('GET', '/v1/plans'),
    mail: async () => (await call<MailSettings | null>('GET', '/v1/mail')) ?? undefined,
    setMail: async (m) => {
      await call('POST', '/v1/mail', m ?? null)
    },
  }
}
