/**
 * What the agent remembers between runs, in ARCA_HOME: per plan the last run (for catch-up after the machine was
 * off, and for "a full every N runs"), and the reports of past runs (ARCA_HOME/reports/<id>.json, the newest
 * MAX_KEPT_REPORTS kept). Files are replaced atomically.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ArcaError } from '../core/errors.js'
import type { RunReport } from './run-report.js'

export const STATE_FILE = 'state.json'
export const REPORTS_DIR = 'reports'
export const MAX_KEPT_REPORTS = 500

export interface PlanState {
  /** When the last run started (whatever its outcome). */
  lastRunAt?: number
  /** The schedule slot the last scheduled run was for. */
  lastSlotAt?: number
  runCount: number
  /** Runs since the last full one, for fullEvery. */
  runsSinceFull: number
  lastOutcome?: RunReport['outcome']
}

export interface AgentState {
  v: 1
  plans: Record<string, PlanState>
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text, { mode: 0o600 })
  renameSync(tmp, path)
}

export function readAgentState(home: string): AgentState {
  const path = join(home, STATE_FILE)
  if (!existsSync(path)) return { v: 1, plans: {} }
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as AgentState
    if (state.v !== 1 || typeof state.plans !== 'object' || state.plans === null) throw new Error('unknown layout')
    return state
  } catch (err) {
    throw ArcaError.invalidArgument(`Cannot read agent state ${path}: ${(err as Error).message} (delete it to start afresh; only catch-up information is lost)`)
  }
}

export function planState(state: AgentState, plan: string): PlanState {
  return (state.plans[plan] ??= { runCount: 0, runsSinceFull: 0 })
}

export function writeAgentState(home: string, state: AgentState): void {
  mkdirSync(home, { recursive: true, mode: 0o700 })
  writeAtomic(join(home, STATE_FILE), JSON.stringify(state, null, 2) + '\n')
}

export function saveReport(home: string, report: RunReport): void {
  const dir = join(home, REPORTS_DIR)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writeAtomic(join(dir, `${report.startedAt}-${report.plan}.json`), JSON.stringify(report, null, 2) + '\n')
  const files = reportFiles(dir)
  for (const old of files.slice(0, Math.max(0, files.length - MAX_KEPT_REPORTS))) unlinkSync(join(dir, old))
}

/** Report file names, oldest first (names start with the start time in ms). */
function reportFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => /^\d+-.+\.json$/.test(f))
    .sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]) || a.localeCompare(b))
}

/** Reports, newest first, optionally of one plan. */
export function listReports(home: string, plan?: string): RunReport[] {
  const dir = join(home, REPORTS_DIR)
  const out: RunReport[] = []
  for (const f of reportFiles(dir).reverse()) {
    const report = JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunReport
    if (plan === undefined || report.plan === plan) out.push(report)
  }
  return out
}
