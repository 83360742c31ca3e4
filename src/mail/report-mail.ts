/**
 * The email sent after every plan run: outcome first in the subject, then every number of the run report, the
 * error line if any, and the skipped paths with their reasons.
 */
import { formatBytes } from '../core/errors.js'
import {
  formatCount, formatDuration, formatRatio, formatSpeed, formatTime, type MailDoc, type MailTone, oneLine, plural,
  renderHtml, renderText,
} from './mail-doc.js'
import type { MailMessage } from './mail-message.js'

export type MailedOutcome = 'success' | 'warnings' | 'failed' | 'cut-short'

/**
 * The fields of agent/'s RunReport this email shows. Declared here because mail/ imports only core/; a RunReport is
 * assignable to it, so the agent passes its report as is.
 */
export interface MailedRunReport {
  id: string
  plan: string
  device: string
  destination: string
  trigger: 'schedule' | 'catch-up' | 'manual'
  startedAt: number
  finishedAt: number
  durationMs: number
  mode: string
  modeUsed?: string | undefined
  outcome: MailedOutcome
  error?: string
  snapshotId?: string
  files: { new: number; changed: number; unchanged: number; deleted: number; skipped: number }
  bytes: { read: number; new: number; stored: number }
  dedupRatio: number
  compressionRatio: number
  speedBytesPerSec: number
  warnings: { path: string; reason: string }[]
  warningCount: number
}

const MARKS: Record<MailedOutcome, string> = { success: '✔', warnings: '⚠', failed: '✖', 'cut-short': '⏸' }
const TONES: Record<MailedOutcome, MailTone> = { success: 'ok', warnings: 'warn', failed: 'bad', 'cut-short': 'warn' }
const OUTCOME_WORDS: Record<MailedOutcome, string> = { success: 'success', warnings: 'warnings', failed: 'failed', 'cut-short': 'cut short' }
const TRIGGER_WORDS: Record<MailedRunReport['trigger'], string> = {
  schedule: 'its schedule',
  'catch-up': 'catch-up of a slot missed while the device was off',
  manual: 'hand (arca run)',
}

/** Files in the snapshot the run made (or would have made): new, changed and unchanged. */
function filesKept(r: MailedRunReport): number {
  return r.files.new + r.files.changed + r.files.unchanged
}

export function runReportSubject(r: MailedRunReport): string {
  const where = `${oneLine(r.plan, 64)} on ${oneLine(r.device, 64)}`
  const volume = `${plural(filesKept(r), 'file')}, ${formatBytes(r.bytes.new)} new`
  const detail =
    r.outcome === 'success' ? `success, ${volume}`
    : r.outcome === 'warnings' ? `${plural(r.warningCount, 'warning')}, ${volume}`
    : r.outcome === 'cut-short' ? `cut short, ${volume}`
    : r.error !== undefined ? `failed: ${oneLine(r.error, 120)}`
    : 'failed'
  return `[Arca] ${MARKS[r.outcome]} ${where}: ${detail}`
}

/** The report email of one run; times are shown in `timeZone` (an IANA name, usually the device's). */
export function renderRunReport(report: MailedRunReport, timeZone: string): MailMessage {
  const r = report
  const intro: string[] = []
  if (r.outcome === 'success') intro.push(`Everything the plan covers was backed up${r.snapshotId !== undefined ? ` in snapshot ${r.snapshotId}` : ''}.`)
  if (r.outcome === 'warnings') {
    intro.push(`The backup finished, but ${plural(r.warningCount, 'file or folder', 'files or folders')} could not be read and ${r.warningCount === 1 ? 'is' : 'are'} not in this snapshot; the list is below.`)
  }
  if (r.outcome === 'failed') {
    intro.push(`The backup failed${r.error !== undefined ? `: ${oneLine(r.error, 1000)}` : '.'}`)
    if (r.snapshotId === undefined) intro.push('No snapshot was saved by this run; the previous snapshots are untouched.')
  }
  if (r.outcome === 'cut-short') {
    intro.push(`The backup was stopped before it finished${r.error !== undefined ? ` (${oneLine(r.error, 1000)})` : ''}. What was uploaded is kept, and the next run continues from there.`)
  }
  const modeText =
    r.modeUsed !== undefined && r.modeUsed !== r.mode ? `${r.mode} (ran as ${r.modeUsed}${r.modeUsed === 'full' ? ': no earlier snapshot to build on' : ''})` : r.mode
  const doc: MailDoc = {
    headline: `${MARKS[r.outcome]} Backup "${oneLine(r.plan, 64)}" on ${oneLine(r.device, 64)}: ${OUTCOME_WORDS[r.outcome]}`,
    tone: TONES[r.outcome],
    intro,
    fields: [
      { label: 'Outcome', value: OUTCOME_WORDS[r.outcome], isAlarming: r.outcome === 'failed' },
      ...(r.error !== undefined ? [{ label: r.outcome === 'failed' ? 'Error' : 'Reason', value: oneLine(r.error, 1000), isAlarming: r.outcome === 'failed' }] : []),
      { label: 'Plan', value: oneLine(r.plan) },
      { label: 'Device', value: oneLine(r.device) },
      { label: 'Destination', value: oneLine(r.destination) },
      { label: 'Started by', value: TRIGGER_WORDS[r.trigger] },
      { label: 'Start', value: formatTime(r.startedAt, timeZone) },
      { label: 'End', value: formatTime(r.finishedAt, timeZone) },
      { label: 'Duration', value: formatDuration(r.durationMs) },
      { label: 'Mode', value: modeText },
      { label: 'Snapshot', value: r.snapshotId ?? 'none' },
      {
        label: 'Files',
        value: `${formatCount(r.files.new)} new, ${formatCount(r.files.changed)} changed, ${formatCount(r.files.unchanged)} unchanged, ${formatCount(r.files.deleted)} deleted, ${formatCount(r.files.skipped)} skipped`,
      },
      { label: 'Read', value: formatBytes(r.bytes.read) },
      { label: 'New data', value: formatBytes(r.bytes.new) },
      { label: 'Stored', value: `${formatBytes(r.bytes.stored)} (compressed and encrypted)` },
      { label: 'Dedup ratio', value: formatRatio(r.dedupRatio) },
      { label: 'Compression', value: formatRatio(r.compressionRatio) },
      { label: 'Speed', value: formatSpeed(r.speedBytesPerSec) },
    ],
    outro: [],
    footer: `Report ${oneLine(r.id)} from Arca on ${oneLine(r.device)}. Times are in ${timeZone}.`,
  }
  if (r.warningCount > 0 || r.warnings.length > 0) {
    const count = Math.max(r.warningCount, r.warnings.length)
    const hidden = count - r.warnings.length
    doc.list = {
      title: `Not backed up, with reasons (${formatCount(count)})`,
      items: r.warnings.map((w) => ({ code: oneLine(w.path, 1000), text: oneLine(w.reason, 500) })),
      ...(hidden > 0 ? { more: `…and ${formatCount(hidden)} more` } : {}),
    }
  }
  return { subject: runReportSubject(r), text: renderText(doc), html: renderHtml(doc) }
}
