/**
 * One run of a plan: picks the mode (a full every N runs), cuts the run at the end of its backup window (what was
 * uploaded is kept; the next run sends only what is still missing), and whatever happens writes a report and the
 * plan's state. Report delivery (mail, node) is the caller's `onReport`, whose failures are logged, never fatal.
 */
import type { Clock } from '../core/clock.js'
import { isArcaError } from '../core/errors.js'
import type { BackupMode } from '../protocol/snapshot-record.js'
import { backup, startScanning, type BackupProgress, type BackupResult } from '../repo/archiver.js'
import type { Repository } from '../repo/repository.js'
import type { SealPool } from '../repo/seal-pool.js'
import { isWithinWindow, windowEnd } from '../schedule/index.js'
import type { Plan } from './agent-config.js'
import { planState, readAgentState, saveReport, writeAgentState } from './agent-state.js'
import { lockPlan } from './plan-lock.js'
import { buildReport, type ReportEntry, type RunReport, type RunTrigger } from './run-report.js'

export interface NodeLink {
  reportRun(report: RunReport): Promise<void>
}

export interface RunContext {
  home: string
  clock: Clock
  timeZone: string
  deviceName: string
  /**
   * Opens the plan's vault (store, repository, seal pool), runs `fn`, closes everything. `node` is there when the
   * vault is on a node: the run's outcome is reported to it (for its missed-backup alerts).
   */
  withTarget<T>(plan: Plan, fn: (repo: Repository, pool: SealPool, destination: string, node?: NodeLink) => Promise<T>): Promise<T>
  onProgress?: (plan: string, p: BackupProgress) => void
  onReport?: (report: RunReport) => Promise<void>
  log?: (message: string) => void
  /** The device's directory cache (see repo/dir-cache.ts); none when undefined. */
  cacheDir?: string
}

/** The mode of the next run: the plan's, or full when `fullEvery` says this run is the Nth. */
export function modeForRun(plan: Plan, runsSinceFull: number): BackupMode {
  if (plan.mode !== 'full' && plan.fullEvery > 0 && runsSinceFull + 1 >= plan.fullEvery) return 'full'
  return plan.mode
}

/** Runs `plan` once; REPO_LOCKED (and no report) if another process runs it now. */
export async function runPlan(plan: Plan, trigger: RunTrigger, ctx: RunContext, options: { signal?: AbortSignal; slotAt?: number } = {}): Promise<RunReport> {
  const unlock = lockPlan(ctx.home, plan.name)
  try {
    return await runLocked(plan, trigger, ctx, options)
  } finally {
    unlock()
  }
}

async function runLocked(plan: Plan, trigger: RunTrigger, ctx: RunContext, options: { signal?: AbortSignal; slotAt?: number }): Promise<RunReport> {
  const { clock } = ctx
  const startedAt = clock.now()
  const state = readAgentState(ctx.home)
  const ps = planState(state, plan.name)
  const mode = modeForRun(plan, ps.runsSinceFull)

  const abort = new AbortController()
  let cutReason: string | undefined
  const onExternalAbort = (): void => {
    cutReason ??= 'stopped: the agent is shutting down'
    abort.abort()
  }
  options.signal?.addEventListener('abort', onExternalAbort, { once: true })
  if (options.signal?.aborted) onExternalAbort()
  let windowTimer: NodeJS.Timeout | undefined
  if (plan.window !== undefined && isWithinWindow(plan.window, startedAt, ctx.timeZone)) {
    const endsAt = windowEnd(plan.window, startedAt, ctx.timeZone)
    windowTimer = setTimeout(() => {
      cutReason ??= `cut short: the backup window ${plan.window!.start}-${plan.window!.end} ended; the next run continues from there`
      abort.abort()
    }, Math.max(0, endsAt - startedAt))
  }

  let result: BackupResult | undefined
  let error: string | undefined
  let destination = plan.repo ?? 'the paired node'
  const warnings: ReportEntry[] = []
  let warningCount = 0
  ctx.log?.(`Plan "${plan.name}": ${trigger} run started (${mode})`)
  let node: NodeLink | undefined
  let report: RunReport | undefined
  const makeReport = (): RunReport => {
    const isCutShort = cutReason !== undefined && result === undefined
    return buildReport({
      plan: plan.name, device: ctx.deviceName, destination, trigger, mode, startedAt, finishedAt: clock.now(),
      modeUsed: result?.mode, snapshotId: result?.snapshot.idHex, stats: result?.stats,
      warnings, warningCount: result !== undefined ? Math.max(warningCount, result.snapshot.body.warningCount) : warningCount,
      error: isCutShort ? cutReason : error, isCutShort,
    })
  }
  const rules = { excludes: plan.exclude, includes: plan.include, skipPaths: plan.repo !== undefined ? [plan.repo] : [] }
  // the directories are scanned while the store is reached and the vault unlocked
  const scanner = startScanning(plan.paths, rules)
  try {
    result = await ctx.withTarget(plan, async (repo, pool, dest, link) => {
      destination = dest
      node = link
      try {
        result = await backup(repo, {
          plan: plan.name, paths: plan.paths, mode, ...rules, deviceName: ctx.deviceName, clock, pool, signal: abort.signal, scanner,
          cacheDir: ctx.cacheDir, log: ctx.log,
          onProgress: (p) => ctx.onProgress?.(plan.name, p),
          onWarning: (w) => {
            warningCount++
            if (warnings.length < 100) warnings.push(w)
          },
        })
        return result
      } catch (err) {
        error = isArcaError(err) ? err.message : `unexpected error: ${(err as Error).message ?? String(err)}`
        throw err
      } finally {
        // told to the node while the connection is open; a failure to tell it must not change the run's outcome
        report = makeReport()
        await node?.reportRun(report).catch((e: Error) => ctx.log?.(`Plan "${plan.name}": telling the node failed: ${e.message}`))
      }
    })
  } catch (err) {
    error ??= isArcaError(err) ? err.message : `unexpected error: ${(err as Error).message ?? String(err)}`
    // the vault could not be opened (no report yet) or the run failed: make the report with this error; a failure
    // to close after a committed snapshot leaves the success report as it is
    if (result === undefined) report = undefined
  } finally {
    scanner.stop()
    clearTimeout(windowTimer)
    options.signal?.removeEventListener('abort', onExternalAbort)
  }
  report ??= makeReport()

  const fresh = readAgentState(ctx.home)
  const fps = planState(fresh, plan.name)
  fps.lastRunAt = startedAt
  if (options.slotAt !== undefined) fps.lastSlotAt = options.slotAt
  fps.runCount++
  if (result !== undefined) fps.runsSinceFull = result.mode === 'full' ? 0 : fps.runsSinceFull + 1
  fps.lastOutcome = report.outcome
  writeAgentState(ctx.home, fresh)
  saveReport(ctx.home, report)
  ctx.log?.(`Plan "${plan.name}": ${report.outcome}${report.error !== undefined ? ` (${report.error})` : ''}`)
  if (ctx.onReport !== undefined) {
    try {
      await ctx.onReport(report)
    } catch (err) {
      ctx.log?.(`Plan "${plan.name}": delivering the report failed: ${(err as Error).message}`)
    }
  }
  return report
}
