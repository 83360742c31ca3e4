/**
 * The running node: TCP + Noise on --listen, optionally the hyperswarm path (with its own DHT bootstrap for a
 * network without internet), and the admin API on DATA/control.sock. Every connection's remote key is checked
 * against the registry before a frame is read.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { createAdaptorServer } from '@hono/node-server'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import { ArcaError } from '../core/errors.js'
import { advertisedAddresses, formatHostPort, listenNoiseTcp, type HostPort } from '../transport/noise-tcp.js'
import { startSwarmServer, type SwarmServer } from '../transport/swarm.js'
import { createControlApp } from './control-api.js'
import type { NodeService } from './node-service.js'
import { serveConnection } from './node-session.js'

export const CONTROL_SOCKET = 'control.sock'
export const WEB_TOKEN_FILE = 'web-token'

/** The bearer token of the web API, created (0600) on first use. */
function webToken(dataDir: string): string {
  const path = join(dataDir, WEB_TOKEN_FILE)
  if (!existsSync(path)) writeFileSync(path, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 })
  return readFileSync(path, 'utf8').trim()
}

export interface DaemonOptions {
  listen: HostPort
  /** Join the swarm; without `bootstrap` the node runs its own DHT bootstrap on `dht`. */
  swarm?: { dht: HostPort; bootstrap?: string[] }
  /** Serve the read-only status API over HTTP, with the bearer token of DATA/web-token. */
  web?: HostPort
  /** How often overdue backups are looked for (default one minute). */
  alertCheckMs?: number
}

export interface RunningDaemon {
  addresses: string[]
  close(): Promise<void>
}

export async function startDaemon(service: NodeService, options: DaemonOptions): Promise<RunningDaemon> {
  const closers: (() => Promise<void>)[] = []
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch((err: Error) => service.log('error', `Shutdown step failed: ${err.message}`))
  }
  try {
    const onStream = (stream: NoiseSecretStream, peer: string): void => {
      const remote = stream.remotePublicKey
      if (remote === null) {
        stream.destroy()
        return
      }
      service.authorize(remote).then(
        (admission) => {
          if (admission === undefined) {
            service.log('warn', `Refused ${peer}: key ${Buffer.from(remote).toString('hex').slice(0, 16)} is not a paired device or a valid invite`)
            stream.destroy()
            return
          }
          serveConnection(service, stream, admission, peer)
        },
        (err: Error) => {
          service.log('error', `Authorising ${peer} failed: ${err.message}`)
          stream.destroy()
        },
      )
    }
    const tcp = await listenNoiseTcp(options.listen, service.keyPair, (s) => onStream(s, `tcp ${(s.rawStream as unknown as { remoteAddress?: string }).remoteAddress ?? '?'}`), (m) => service.log('warn', m))
    closers.push(() => tcp.close())
    const addresses = advertisedAddresses(tcp.address).map(formatHostPort)
    service.log('info', `Listening on ${formatHostPort(tcp.address)} (TCP + Noise), node key ${service.publicKeyHex}`)

    let swarm: SwarmServer | undefined
    if (options.swarm !== undefined) {
      swarm = await startSwarmServer({ keyPair: service.keyPair, dht: options.swarm.dht, bootstrap: options.swarm.bootstrap, onStream: (s) => onStream(s, 'swarm') })
      closers.push(() => swarm!.close())
      service.log('info', `Joined the swarm, DHT bootstrap ${swarm.bootstrap.join(', ')}`)
    }
    await service.advertise(addresses, swarm?.bootstrap ?? [])

    const socketPath = join(service.dataDir, CONTROL_SOCKET)
    if (existsSync(socketPath)) {
      if (await isSocketAlive(socketPath)) throw new ArcaError('REPO_LOCKED', `Another node daemon serves "${service.dataDir}" (${socketPath} answers)`)
      unlinkSync(socketPath)
    }
    const control = createAdaptorServer({ fetch: createControlApp(service).fetch })
    await new Promise<void>((resolve, reject) => {
      control.once('error', reject)
      control.listen(socketPath, () => resolve())
    })
    // the admin API creates invites: only the node's own user may reach it
    chmodSync(socketPath, 0o600)
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          control.close(() => resolve())
          ;(control as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
        }),
    )
    if (options.web !== undefined) {
      const token = webToken(service.dataDir)
      const web = createAdaptorServer({ fetch: createControlApp(service, { isReadOnly: true, token }).fetch })
      await new Promise<void>((resolve, reject) => {
        web.once('error', (err) => reject(ArcaError.ioError(`Cannot listen on ${formatHostPort(options.web!)}`, err)))
        web.listen(options.web!.port, options.web!.host, () => resolve())
      })
      closers.push(() => new Promise<void>((resolve) => web.close(() => resolve())))
      service.log('info', `Status API on http://${formatHostPort(options.web)}/v1/status (bearer token in ${join(service.dataDir, WEB_TOKEN_FILE)})`)
    }
    // missed-backup alerts: checked every minute, and once now
    const checkAlerts = (): void => {
      service.alerts.check().catch((err: Error) => service.log('error', `Checking for missed backups failed: ${err.message}`))
    }
    const alertTimer = setInterval(checkAlerts, options.alertCheckMs ?? 60_000)
    alertTimer.unref()
    checkAlerts()
    closers.push(async () => clearInterval(alertTimer))
    return { addresses, close }
  } catch (err) {
    await close()
    throw err
  }
}

export function isSocketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}
