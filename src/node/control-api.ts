/**
 * The node's admin API (Hono): served on a unix socket in DATA for the `arca node` commands while the daemon
 * runs, and read-only with a bearer token on `--web HOST:PORT` (status, vaults, devices; the admin web UI of a
 * later release builds on it). JSON in and out; errors are `{ code, message }` with the HTTP status of their code.
 */
import { timingSafeEqual } from 'node:crypto'
import { Hono } from 'hono'
import { ArcaError, HTTP_STATUSES, isArcaError } from '../core/errors.js'
import type { MailSettings } from '../mail/index.js'
import type { NodeService } from './node-service.js'

export interface ControlAppOptions {
  /** Serve only the GET routes (status, vaults, devices): the --web listener. */
  isReadOnly?: boolean
  /** Require `Authorization: Bearer TOKEN` on every request. */
  token?: string
}

export function createControlApp(service: NodeService, options: ControlAppOptions = {}): Hono {
  const app = new Hono()
  if (options.token !== undefined) {
    const expected = Buffer.from(`Bearer ${options.token}`)
    app.use('*', async (c, next) => {
      const given = Buffer.from(c.req.header('authorization') ?? '')
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return c.json({ code: 'UNAUTHORIZED_PEER', message: 'Not authorised: send Authorization: Bearer TOKEN (the token is in DATA/web-token)' }, 401)
      }
      await next()
    })
  }
  app.onError((err, c) => {
    if (isArcaError(err)) return c.json({ code: err.code, message: err.message }, HTTP_STATUSES[err.code] as 400)
    service.log('error', `Control API: ${err.stack ?? err.message}`)
    return c.json({ code: 'IO_ERROR', message: err.message }, 500)
  })
  app.get('/v1/status', (c) => c.json({ name: service.name, publicKey: service.publicKeyHex, addresses: service.addresses, bootstrap: service.bootstrap }))
  app.get('/v1/vaults', async (c) => c.json(await service.listVaults()))
  app.get('/v1/devices', async (c) => c.json(await service.listDevices()))
  app.get('/v1/plans', async (c) => c.json(await service.alerts.watches()))
  app.get('/v1/alerts', async (c) => c.json(await service.alerts.alerts(c.req.query('all') === '1')))
  if (options.isReadOnly) return app
  app.post('/v1/invites', async (c) => {
    const body = await jsonBody<{ vault: string; quotaBytes?: number; ttlMs?: number }>(c.req.raw)
    return c.json(await service.createInvite(body))
  })
  app.post('/v1/revoke', async (c) => {
    const body = await jsonBody<{ ref: string; vault?: string }>(c.req.raw)
    return c.json(await service.revoke(body.ref, body.vault))
  })
  app.get('/v1/mail', async (c) => c.json((await service.mailSettings()) ?? null))
  app.post('/v1/mail', async (c) => {
    const body = await jsonBody<MailSettings | null>(c.req.raw)
    await service.setMailSettings(body ?? undefined)
    return c.json((await service.mailSettings()) ?? null)
  })
  app.post('/v1/quota', async (c) => {
    const body = await jsonBody<{ vault: string; quotaBytes: number }>(c.req.raw)
    return c.json(await service.setQuota(body.vault, body.quotaBytes))
  })
  return app
}

async function jsonBody<T>(req: Request): Promise<T> {
  try {
    return (await req.json()) as T
  } catch (err) {
    throw ArcaError.invalidArgument(`Request body is not JSON: ${(err as Error).message}`)
  }
}
