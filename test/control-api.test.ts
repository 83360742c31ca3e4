/**
 * The node's admin API through Hono's app.request() (no socket), and the size and duration parsers of the node
 * commands.
 */
import t, { type Test } from 'tap'
import { systemClock } from '../src/core/clock.js'
import { createControlApp } from '../src/node/control-api.js'
import { initNode, NodeService } from '../src/node/node-service.js'
import { parseDuration, parseSize } from '../src/cli/units.js'
import { codeOf } from './helpers/error-code.js'
import { tempDir } from './helpers/env.js'

async function openService(t: Test): Promise<NodeService> {
  const dir = tempDir(t)
  await initNode(dir, 'api-node')
  const service = await NodeService.open(dir, systemClock, () => {})
  t.teardown(() => service.close())
  return service
}

t.test('admin routes: invites, vaults, quota, revoke, with coded errors', async (t) => {
  const service = await openService(t)
  const app = createControlApp(service)
  const post = (path: string, body: unknown) => app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })

  const created = await post('/v1/invites', { vault: 'finance', quotaBytes: 5_000_000, ttlMs: 3_600_000 })
  t.equal(created.status, 200)
  const invite = (await created.json()) as { invite: string; vault: { name: string; quotaBytes: number } }
  t.match(invite.invite, /^arca-invite1-[A-Za-z0-9_-]+$/)
  t.same([invite.vault.name, invite.vault.quotaBytes], ['finance', 5_000_000])

  const bad = await post('/v1/invites', { vault: '../etc' })
  t.equal(bad.status, 400)
  t.same(await bad.json(), { code: 'INVALID_ARGUMENT', message: 'Invalid vault name "../etc": use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' })

  const notJson = await app.request('/v1/quota', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } })
  t.equal(notJson.status, 400)
  t.match(((await notJson.json()) as { message: string }).message, /^Request body is not JSON/)

  const quota = await post('/v1/quota', { vault: 'finance', quotaBytes: 0 })
  t.equal(((await quota.json()) as { quotaBytes: number }).quotaBytes, 0, 'quota removed')
  const unknownVault = await post('/v1/quota', { vault: 'nope', quotaBytes: 1 })
  t.same([unknownVault.status, ((await unknownVault.json()) as { code: string }).code], [400, 'INVALID_ARGUMENT'])

  const vaults = (await (await app.request('/v1/vaults')).json()) as { name: string; usedBytes: number; deviceCount: number }[]
  t.same(vaults.map((v) => [v.name, v.usedBytes, v.deviceCount]), [['finance', 0, 0]])
  const revoke = await post('/v1/revoke', { ref: 'ghost' })
  t.same([revoke.status, ((await revoke.json()) as { message: string }).message], [400, 'No device "ghost" on this node'])
})

t.test('the web listener: read-only, bearer token required', async (t) => {
  const service = await openService(t)
  const app = createControlApp(service, { isReadOnly: true, token: 'sesame-0123456789' })
  t.equal((await app.request('/v1/status')).status, 401, 'no token')
  t.equal((await app.request('/v1/status', { headers: { authorization: 'Bearer wrong' } })).status, 401, 'wrong token')
  const ok = await app.request('/v1/status', { headers: { authorization: 'Bearer sesame-0123456789' } })
  t.equal(ok.status, 200)
  t.same(((await ok.json()) as { name: string; publicKey: string }).publicKey, service.publicKeyHex)
  const write = await app.request('/v1/invites', { method: 'POST', body: '{"vault":"x"}', headers: { authorization: 'Bearer sesame-0123456789' } })
  t.equal(write.status, 404, 'no write route on the web listener')
})

t.test('sizes and durations', async (t) => {
  const sizes: [string, number | string][] = [
    ['500MB', 500_000_000], ['10GiB', 10 * 1024 ** 3], ['1.5T', 1.5e12], ['0', 0], ['unlimited', 0], ['123', 123], ['2 kib', 2048],
    ['ten', 'INVALID_ARGUMENT'], ['5XB', 'INVALID_ARGUMENT'], ['-1MB', 'INVALID_ARGUMENT'], ['', 'INVALID_ARGUMENT'],
  ]
  for (const [text, expected] of sizes) {
    if (typeof expected === 'number') t.equal(parseSize(text, '--quota'), expected, text)
    else t.equal(codeOf(() => parseSize(text, '--quota')), expected, `"${text}" refused`)
  }
  const durations: [string, number | string][] = [
    ['30m', 1_800_000], ['12h', 43_200_000], ['7d', 604_800_000], ['2w', 1_209_600_000], ['45s', 45_000],
    ['0d', 'INVALID_ARGUMENT'], ['1y', 'INVALID_ARGUMENT'], ['h', 'INVALID_ARGUMENT'],
  ]
  for (const [text, expected] of durations) {
    if (typeof expected === 'number') t.equal(parseDuration(text, '--expires'), expected, text)
    else t.equal(codeOf(() => parseDuration(text, '--expires')), expected, `"${text}" refused`)
  }
})

t.test('mail settings, plans and alerts through the admin API', async (t) => {
  const service = await openService(t)
  const app = createControlApp(service)
  t.same(await (await app.request('/v1/mail')).json(), null, 'no mail settings at first')
  const settings = { smtp: { host: 'smtp.office.example', port: 587, security: 'starttls', from: 'arca@office.example' }, to: 'admin@office.example', auxTo: 'it@office.example' }
  const set = await app.request('/v1/mail', { method: 'POST', body: JSON.stringify(settings) })
  t.equal(set.status, 200)
  t.same(await set.json(), settings, 'stored and read back')
  const bad = await app.request('/v1/mail', { method: 'POST', body: JSON.stringify({ ...settings, to: 'nobody' }) })
  t.equal(bad.status, 400)
  t.match(((await bad.json()) as { message: string }).message, '"mail.to" must be an email address, received "nobody"')
  t.same(await service.mailSettings(), settings, 'a refused change leaves the settings as they were')
  t.same(await (await app.request('/v1/plans')).json(), [], 'no plan registered')
  t.same(await (await app.request('/v1/alerts?all=1')).json(), [], 'no alert')
})
