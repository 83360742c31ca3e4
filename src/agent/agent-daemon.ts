/**
 * The agent daemon: runs each plan on its schedule. Every tick (each minute from node-cron, and at once after
 * start or wake) asks, per plan, whether a slot came due since the plan's last slot (`missedRun`): a slot missed
 * while the machine was off runs once, not once per missed slot. Runs of one plan never overlap; a slot outside
 * the plan's backup window is skipped. Progress and runs are emitted as events (for the web UI of a later release).
 */
import { EventEmitter } from 'node:events'
import cron from 'node-cron'
import type { Clock } from '../core/clock.js'
import type { BackupProgress } from '../repo/archiver.js'
import { isWithinWindow, missedRun } from '../schedule/index.js'
import { readAgentConfig, type Plan } from './agent-config.js'
import { planState, readAgentState, writeAgentState } from './agent-state.js'
import { runPlan, type RunContext } from './plan-runner.js'
import type { RunReport } from './run-report.js'

/** A slot older than this when it is run counts as a catch-up. */
const CATCH_UP_AFTER_MS = 2 * 60_000

export interface AgentEvents {
  'run-started': [plan: string, slotAt: number]
  progress: [plan: string, progress: BackupProgress]
  'run-finished': [report: RunReport]
  'slot-skipped': [plan: string, slotAt: number, reason: string]
}

export class AgentDaemon extends EventEmitter<AgentEvents> {
  private readonly running = new Map<string, Promise<RunReport | undefined>>()
  private readonly stopping = new AbortController()
  private task: ReturnType<typeof cron.schedule> | undefined
  private ticking: Promise<void> | undefined

  constructor(private readonly ctx: Omit<RunContext, 'timeZone' | 'onProgress'>) {
    super()
  }

  get clock(): Clock {
    return this.ctx.clock
  }

  /** Ticks now (catch-up after start), then every minute. */
  async start(): Promise<void> {
    this.task = cron.schedule('* * * * *', () => void this.tick(), { noOverlap: true, name: 'arca-agent' })
    await this.tick()
  }

  /** Checks every plan once; starts the runs that are due. Resolves when they are started, not finished. */
  tick(): Promise<void> {
    this.ticking ??= this.checkPlans()
      .catch((err: unknown) => this.ctx.log?.(`Checking the plans failed: ${(err as Error).message}`))
      .finally(() => (this.ticking = undefined))
    return this.ticking
  }

  /** Runs still going, by plan. */
  runningPlans(): string[] {
    return [...this.running.keys()]
  }

  /** Resolves when every started run has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()])
  }

  /** Stops ticking and cuts running runs short (their reports say so), waiting for them to end. */
  async stop(): Promise<void> {
    this.task?.destroy()
    this.stopping.abort()
    await this.ticking
    await this.idle()
  }

  private async checkPlans(): Promise<void> {
    if (this.stopping.signal.aborted) return
    let config
    try {
      config = readAgentConfig(this.ctx.home)
    } catch (err) {
      this.ctx.log?.(`Cannot read the agent config: ${(err as Error).message}`)
      return
    }
    const now = this.ctx.clock.now()
    const state = readAgentState(this.ctx.home)
    for (const plan of config.plans) {
      if (this.running.has(plan.name)) continue
      const ps = planState(state, plan.name)
      // any run, scheduled or by hand, backs up everything the plan covers: slots before it need no catch-up
      const since = Math.max(ps.lastSlotAt ?? 0, ps.lastRunAt ?? 0, plan.createdAt)
      const slotAt = missedRun(plan.schedule, since, now, config.timeZone)
      if (slotAt === undefined) continue
      if (plan.window !== undefined && !isWithinWindow(plan.window, now, config.timeZone)) {
        // the slot is spent: it would run outside the hours the user allowed
        ps.lastSlotAt = slotAt
        writeAgentState(this.ctx.home, state)
        this.emit('slot-skipped', plan.name, slotAt, `outside the backup window ${plan.window.start}-${plan.window.end}`)
        this.ctx.log?.(`Plan "${plan.name}": slot ${new Date(slotAt).toISOString()} skipped, outside its backup window`)
        continue
      }
      this.startRun(plan, slotAt, now - slotAt > CATCH_UP_AFTER_MS ? 'catch-up' : 'schedule', config.timeZone)
    }
  }

  private startRun(plan: Plan, slotAt: number, trigger: 'schedule' | 'catch-up', timeZone: string): void {
    this.emit('run-started', plan.name, slotAt)
    const run = runPlan(plan, trigger, { ...this.ctx, timeZone, onProgress: (name, p) => this.emit('progress', name, p) }, { signal: this.stopping.signal, slotAt })
      .then(
        (report) => {
          this.emit('run-finished', report)
          return report
        },
        (err: unknown) => {
          // only a plan locked by another process (arca run) gets here: the slot stays due for the next tick
          this.ctx.log?.(`Plan "${plan.name}": not started: ${(err as Error).message}`)
          this.emit('slot-skipped', plan.name, slotAt, (err as Error).message)
          return undefined
        },
      )
      .finally(() => this.running.delete(plan.name))
    this.running.set(plan.name, run)
  }
}
