/**
 * Missed-backup alerts on the node, under a fake clock, with a real node and a device over TCP + Noise: a device
 * that misses its slot raises exactly one alert; a failed run raises one; a success closes the incident with one
 * recovery notice. Only schedules are registered, never paths.
 */
import { join } from 'node:path'
import t from 'tap'
import type { AlertEvent } from '../src/node/alert-monitor.js'
import { FakeClock } from '../src/core/clock.js'
import { tempDir } from './helpers/env.js'
import { connectRemote, pairTestDevice, startTestNode } from './helpers/test-node.js'

const at = (iso: string): number => Date.parse(iso)
const PLAN_ID = Buffer.alloc(16, 7)

t.test('a missed slot raises one alert, a success one recovery, a failure one alert', async (t) => {
  const clock = new FakeClock(at('2026-03-02T10:00:00Z'))
  const node = await startTestNode(join(tempDir(t), 'node'), { clock })
  t.teardown(() => node.close())
  const events: AlertEvent[] = []
  node.service.onAlert = async (e) => {
    events.push(e)
  }
  const device = await pairTestDevice(node, 'team', 'ann-laptop')
  const store = await connectRemote(device)

  await store.registerPlans({ timeZone: 'Europe/Paris', plans: [{ planId: PLAN_ID, name: 'documents', schedule: 'daily@22:00' }] })
  const watches = await node.service.alerts.watches()
  t.same(watches.map((w) => [w.name, w.schedule, w.timeZone, w.deviceName]), [['documents', 'daily@22:00', 'Europe/Paris', 'ann-laptop']], 'the node knows the schedule, nothing else')

  // due 2026-03-02 22:00 Paris = 21:00Z, alert after the one-hour margin
  clock.set(at('2026-03-02T21:59:00Z'))
  await node.service.alerts.check()
  t.same(events, [], 'no alert within the margin')
  clock.set(at('2026-03-02T22:01:00Z'))
  await node.service.alerts.check()
  clock.set(at('2026-03-03T09:00:00Z'))
  await node.service.alerts.check()
  t.same(events.map((e) => [e.type, e.alert.kind, e.alert.plan, e.alert.expectedAt]), [['alert', 'missed', 'documents', at('2026-03-02T21:00:00Z')]], 'exactly one alert for the incident')
  t.equal((await node.service.alerts.alerts()).length, 1, 'stored as open')

  const run = { planId: PLAN_ID, startedAt: clock.now(), finishedAt: clock.now() + 60_000, filesNew: 3, filesChanged: 0, bytesRead: 100, bytesNew: 100, bytesStored: 150, warningCount: 0 }
  await store.reportRun({ ...run, outcome: 'success' })
  t.same(events.map((e) => e.type), ['alert', 'recovery'], 'the device is back: one recovery notice')
  const [watch] = await node.service.alerts.watches()
  t.same([watch.lastOutcome, watch.lastRun?.filesNew, watch.lastRun?.bytesStored], ['success', 3, 150], 'the node keeps the run summary for the admin')
  t.same(await node.service.alerts.alerts(), [], 'no open alert')
  t.equal((await node.service.alerts.alerts(true)).length, 1, 'the closed incident is kept')

  clock.set(at('2026-03-03T21:30:00Z'))
  await store.reportRun({ ...run, startedAt: clock.now(), finishedAt: clock.now(), outcome: 'failed' })
  await store.reportRun({ ...run, startedAt: clock.now(), finishedAt: clock.now(), outcome: 'failed' })
  t.same(events.map((e) => [e.type, e.alert.kind]), [['alert', 'missed'], ['recovery', 'missed'], ['alert', 'failed']], 'a failed run raises one alert, not one per failure')

  await store.close()
  await node.service.revoke('ann-laptop')
  clock.set(at('2026-03-10T00:00:00Z'))
  await node.service.alerts.check()
  t.equal(events.length, 3, 'a revoked device raises no new alert')
})

t.test('registering a bad schedule or time zone is refused with a clear error', async (t) => {
  const node = await startTestNode(join(tempDir(t), 'node'))
  const store = await connectRemote(await pairTestDevice(node, 'team', 'd'))
  t.teardown(async () => {
    await store.close()
    await node.close()
  })
  await t.rejects(store.registerPlans({ timeZone: 'Mars/Base', plans: [] }), { code: 'INVALID_ARGUMENT', message: /Invalid time zone "Mars\/Base"/ })
  await t.rejects(store.registerPlans({ timeZone: 'UTC', plans: [{ planId: PLAN_ID, name: 'p', schedule: 'weekly:xyz@22:00' }] }), { code: 'INVALID_ARGUMENT', message: /"xyz" is not a weekday/ })
  t.same(await node.service.alerts.watches(), [], 'nothing registered')
})
