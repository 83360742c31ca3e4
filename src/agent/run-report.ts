/**
 * The report of one plan run: what the agent keeps in ARCA_HOME/reports/, prints with `arca report`, mails after
 * every run, and (without paths) tells the node. Built from the engine's BackupResult and the run's timing.
 */
import type { BackupMode } from '../protocol/snapshot-record.js'
import type { BackupStats } from '../repo/snapshot.js'

export const REPORT_VERSION = 1
/** Paths listed in a report's skipped and error lists at most (the counts stay exact). */
export const MAX_REPORT_PATHS = 100

export type RunOutcome = 'success' | 'warnings' | 'failed' | 'cut-short'
export type RunTrigger = 'schedule' | 'catch-up' | 'manual'

export interface ReportEntry {
  path: string
  reason: string
}

export interface RunReport {
  v: typeof REPORT_VERSION
  /** Unique per run: "<plan>-<startedAt in ms>". */
  id: string
  plan: string
  device: string
  /** Where the vault lives: `vault "x" on node "y"` or the --repo directory. */
  destination: string
  trigger: RunTrigger
  startedAt: number
  finishedAt: number
  durationMs: number
  /** The mode asked for, and the one used (an incremental without a base runs as full). */
  mode: BackupMode
  modeUsed: BackupMode | undefined
  outcome: RunOutcome
  /** Set when the run failed or was cut short: why, in one line. */
  error?: string
  snapshotId?: string
  files: { new: number; changed: number; unchanged: number; deleted: number; skipped: number }
  bytes: { read: number; new: number; stored: number; logical: number }
  /** Logical bytes per stored byte of new data: how much dedup and compression saved. */
  dedupRatio: number
  /** Raw bytes of new chunks per compressed byte. */
  compressionRatio: number
  /** Bytes read per second of run time. */
  speedBytesPerSec: number
  /** Skipped entries and errors with their reasons, at most MAX_REPORT_PATHS; `warningCount` is exact. */
  warnings: ReportEntry[]
  warningCount: number
}

export interface RunFacts {
  plan: string
  device: string
  destination: string
  trigger: RunTrigger
  mode: BackupMode
  startedAt: number
  finishedAt: number
  modeUsed?: BackupMode
  snapshotId?: string
  stats?: BackupStats
  warnings?: ReportEntry[]
  warningCount?: number
  error?: string
  isCutShort?: boolean
}

export function buildReport(f: RunFacts): RunReport {
  const s = f.stats
  const durationMs = Math.max(0, f.finishedAt - f.startedAt)
  const warningCount = f.warningCount ?? f.warnings?.length ?? 0
  const outcome: RunOutcome = f.isCutShort ? 'cut-short' : f.error !== undefined ? 'failed' : warningCount > 0 ? 'warnings' : 'success'
  return {
    v: REPORT_VERSION,
    id: `${f.plan}-${f.startedAt}`,
    plan: f.plan,
    device: f.device,
    destination: f.destination,
    trigger: f.trigger,
    startedAt: f.startedAt,
    finishedAt: f.finishedAt,
    durationMs,
    mode: f.mode,
    modeUsed: f.modeUsed,
    outcome,
    ...(f.error !== undefined ? { error: f.error } : {}),
    ...(f.snapshotId !== undefined ? { snapshotId: f.snapshotId } : {}),
    files: { new: s?.filesNew ?? 0, changed: s?.filesChanged ?? 0, unchanged: s?.filesUnchanged ?? 0, deleted: s?.filesDeleted ?? 0, skipped: s?.filesSkipped ?? 0 },
    bytes: { read: s?.bytesRead ?? 0, new: s?.bytesNew ?? 0, stored: s?.bytesStored ?? 0, logical: s?.logicalBytes ?? 0 },
    dedupRatio: s === undefined || s.bytesStored === 0 ? 0 : round2(s.logicalBytes / s.bytesStored),
    compressionRatio: s === undefined || s.bytesCompressed === 0 ? 0 : round2(s.bytesNew / s.bytesCompressed),
    speedBytesPerSec: s === undefined || durationMs === 0 ? 0 : Math.round((s.bytesRead * 1000) / durationMs),
    warnings: (f.warnings ?? []).slice(0, MAX_REPORT_PATHS),
    warningCount,
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100
}
