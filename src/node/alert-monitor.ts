/**
 * Missed-backup alerts: devices register their plans' schedules (never their paths); the node expects each
 * scheduled plan's next backup at `nextRun(schedule, last success)` and raises an alert when none has arrived
 * `marginMs` after that ("equipment off, no connection"), or when a run reports failure. One alert per incident,
 * one recovery notice when the plan succeeds again. Incidents are kept in the registry; `check` is driven by the
 * daemon's timer and by tests with a fake clock.
 */
import { randomBytes } from 'node:crypto'
import type { Clock } from '../core/clock.js'
import { toHex } from '../core/hex.js'
import type { PlanRegistrations, RunSummary } from '../protocol/messages.js'
import { checkTimeZone, nextRun, parseSchedule } from '../schedule/index.js'
import type { DeviceRecord, NodeRegistry } from './node-registry.js'

export const DEFAULT_ALERT_MARGIN_MS = 60 * 60_000

export interface PlanWatch {
  v: 1
  device: string
  deviceName: string
  vault: string
  planId: string
  name: string
  schedule: string
  timeZone: string
  registeredAt: number
  lastSuccessAt?: number
  lastRunAt?: number
  lastOutcome?: RunSummary['outcome']
  /** The last run as the device reported it: counts and times, no paths. */
  lastRun?: Omit<RunSummary, 'planId'>
  /** The open incident's alert id. */
  openAlert?: string
}

export interface AlertRecord {
  v: 1
  id: string
  kind: 'missed' | 'failed'
  device: string
  deviceName: string
  vault: string
  plan: string
  openedAt: number
  /** The slot that did not arrive (missed) or the failed run's start. */
  expectedAt: number
  lastSuccessAt?: number
  closedAt?: number
}

export type AlertEvent = { type: 'alert'; alert: AlertRecord } | { type: 'recovery'; alert: AlertRecord }

export class AlertMonitor {
  constructor(
    private readonly registry: NodeRegistry,
    private readonly clock: Clock,
    private readonly notify: (event: AlertEvent) => Promise<void>,
    private readonly marginMs = DEFAULT_ALERT_MARGIN_MS,
  ) {}

  /** Replaces the device's registered plans (validating each schedule and the time zone). */
  async register(device: DeviceRecord, registrations: PlanRegistrations): Promise<void> {
    checkTimeZone(registrations.timeZone)
    const now = this.clock.now()
    const keep = new Set<string>()
    for (const p of registrations.plans) {
      parseSchedule(p.schedule)
      const planId = toHex(p.planId)
      keep.add(planId)
      const old = await this.registry.setting<PlanWatch>(watchKey(device.publicKey, planId))
      const watch: PlanWatch = {
        ...(old ?? { registeredAt: now }),
        v: 1, device: device.publicKey, deviceName: device.name, vault: device.vault, planId, name: p.name, schedule: p.schedule, timeZone: registrations.timeZone,
      }
      await this.registry.putSetting(watchKey(device.publicKey, planId), watch)
    }
    for (const w of await this.watches(device.publicKey)) {
      if (!keep.has(w.planId)) await this.registry.deleteSetting(watchKey(device.publicKey, w.planId))
    }
  }

  /** A snapshot of `planId` arrived: the plan succeeded at `at`. */
  async snapshotArrived(device: DeviceRecord, planId: Uint8Array, at: number): Promise<void> {
    await this.succeeded(device.publicKey, toHex(planId), at)
  }

  async runReported(device: DeviceRecord, run: RunSummary): Promise<void> {
    const key = watchKey(device.publicKey, toHex(run.planId))
    const watch = await this.registry.setting<PlanWatch>(key)
    if (watch === undefined) return
    watch.lastRunAt = run.startedAt
    watch.lastOutcome = run.outcome
    const { planId: _, ...counts } = run
    watch.lastRun = counts
    await this.registry.putSetting(key, watch)
    if (run.outcome === 'success' || run.outcome === 'warnings') await this.succeeded(device.publicKey, watch.planId, run.finishedAt)
    else if (run.outcome === 'failed' && watch.openAlert === undefined) await this.open(watch, 'failed', run.startedAt)
  }

  /** Opens an alert for every plan whose expected backup is overdue. */
  async check(): Promise<void> {
    const now = this.clock.now()
    for (const watch of await this.watches()) {
      if (watch.openAlert !== undefined) continue
      const device = await this.registry.device(watch.device)
      if (device === undefined || device.revokedAt !== undefined) continue
      const schedule = parseSchedule(watch.schedule)
      const due = nextRun(schedule, watch.lastSuccessAt ?? watch.registeredAt, watch.timeZone)
      if (due === undefined || now <= due + this.marginMs) continue
      await this.open(watch, 'missed', due)
    }
  }

  /** Alerts, newest first; only open ones unless `includeClosed`. */
  async alerts(includeClosed = false): Promise<AlertRecord[]> {
    const all = await this.registry.settings<AlertRecord>('alert:')
    return all.filter((a) => includeClosed || a.closedAt === undefined).sort((a, b) => b.openedAt - a.openedAt)
  }

  async watches(devicePublicKey?: string): Promise<PlanWatch[]> {
    return this.registry.settings<PlanWatch>(devicePublicKey === undefined ? 'watch:' : `watch:${devicePublicKey}:`)
  }

  private async succeeded(device: string, planId: string, at: number): Promise<void> {
    const key = watchKey(device, planId)
    const watch = await this.registry.setting<PlanWatch>(key)
    if (watch === undefined) return
    watch.lastSuccessAt = Math.max(watch.lastSuccessAt ?? 0, at)
    const alertId = watch.openAlert
    delete watch.openAlert
    await this.registry.putSetting(key, watch)
    if (alertId === undefined) return
    const alert = await this.registry.setting<AlertRecord>(`alert:${alertId}`)
    if (alert === undefined) return
    alert.closedAt = this.clock.now()
    alert.lastSuccessAt = watch.lastSuccessAt
    await this.registry.putSetting(`alert:${alertId}`, alert)
    await this.notify({ type: 'recovery', alert })
  }

  private async open(watch: PlanWatch, kind: AlertRecord['kind'], expectedAt: number): Promise<void> {
    const now = this.clock.now()
    const alert: AlertRecord = {
      v: 1, id: `${now}-${toHex(randomBytes(4))}`, kind, device: watch.device, deviceName: watch.deviceName, vault: watch.vault, plan: watch.name,
      openedAt: now, expectedAt, ...(watch.lastSuccessAt !== undefined ? { lastSuccessAt: watch.lastSuccessAt } : {}),
    }
    await this.registry.putSetting(`alert:${alert.id}`, alert)
    watch.openAlert = alert.id
    await this.registry.putSetting(watchKey(watch.device, watch.planId), watch)
    await this.notify({ type: 'alert', alert })
  }
}

function watchKey(device: string, planId: string): string {
  return `watch:${device}:${planId}`
}
