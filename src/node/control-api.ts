/**
 * The node's admin API (Hono): served on a unix socket in DATA for the `arca node` commands while the daemon
 * runs. JSON in and out; errors are `{ code, message }` with the HTTP status of their code.
 */
import { Hono } from 'hono'
import { ArcaError, HTTP_STATUSES, isArcaError } from '../core/errors.js'
import type { NodeService } from './node-service.js'

export function createControlApp(service: NodeService): Hono {
  const app = new Hono()
  app.onError((err, c) => {
    if (isArcaError(err)) return c.json({ code: err.code, message: err.message }, HTTP_STATUSES[err.code] as 400)
    service.log('error', `Control API: ${err.stack ?? err.message}`)
    return c.json({ code: 'IO_ERROR', message: err.message }, 500)
  })
  app.get('/v1/status', (c) => c.json({ name: service.name, publicKey: service.publicKeyHex, addresses: service.addresses, bootstrap: service.bootstrap }))
  app.get('/v1/vaults', async (c) => c.json(await service.listVaults()))
  app.get('/v1/devices', async (c) => c.json(await service.listDevices()))
  app.post('/v1/invites', async (c) => {
    const body = await jsonBody<{ vault: string; quotaBytes?: number; ttlMs?: number }>(c.req.raw)
    return c.json(await service.createInvite(body))
  })
  app.post('/v1/revoke', async (c) => {
    const body = await jsonBody<{ ref: string; vault?: string }>(c.req.raw)
    return c.json(await service.revoke(body.ref, body.vault))
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
