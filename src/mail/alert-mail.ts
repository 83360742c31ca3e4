/**
 * The node's missed-backup emails: one alert when a device's backup has not arrived in time or arrived failed, one
 * recovery email when the device is back. Written for the office admin, who thinks "equipment off, no connection",
 * not "slot overdue".
 */
import { formatDuration, formatTime, type MailDoc, type MailField, oneLine, renderHtml, renderText } from './mail-doc.js'
import type { MailMessage } from './mail-message.js'

export type AlertReason = 'missed' | 'failed'

export interface BackupAlert {
  /** The node raising the alert. */
  nodeName: string
  device: string
  vault: string
  plan: string
  /** When the backup was due (the slot, not the end of the grace period). */
  expectedAt: number
  /** The device's latest snapshot of this plan, if it ever made one. */
  lastSnapshotAt?: number
  reason: AlertReason
  /** For `failed`: the error line of the run. */
  detail?: string
}

export interface BackupRecovery extends BackupAlert {
  /** When the backup that ends the incident arrived. */
  recoveredAt: number
}

export function alertSubject(a: BackupAlert): string {
  const device = oneLine(a.device, 64)
  const plan = oneLine(a.plan, 64)
  return a.reason === 'missed' ? `[Arca] ALERT: ${device} missed its backup "${plan}"` : `[Arca] ALERT: ${device}'s backup "${plan}" failed`
}

export function recoverySubject(a: BackupRecovery): string {
  return `[Arca] OK again: ${oneLine(a.device, 64)} backed up "${oneLine(a.plan, 64)}"`
}

function commonFields(a: BackupAlert, timeZone: string): MailField[] {
  return [
    { label: 'Device', value: oneLine(a.device) },
    { label: 'Plan', value: oneLine(a.plan) },
    { label: 'Vault', value: oneLine(a.vault) },
    { label: 'Node', value: oneLine(a.nodeName) },
    { label: 'Due', value: formatTime(a.expectedAt, timeZone) },
  ]
}

/** The alert email; times are shown in `timeZone` (an IANA name, usually the node's). */
export function renderAlert(alert: BackupAlert, timeZone: string): MailMessage {
  const a = alert
  const device = oneLine(a.device)
  const plan = oneLine(a.plan)
  const due = formatTime(a.expectedAt, timeZone)
  const intro =
    a.reason === 'missed'
      ? [
          `Node "${oneLine(a.nodeName)}" expected a backup of plan "${plan}" from ${device} at ${due}, and none has arrived.`,
          'Most often the computer was switched off or asleep at that time, or had no connection to the node (network cable, Wi-Fi, VPN or internet down).',
        ]
      : [
          `The backup of plan "${plan}" from ${device}, due at ${due}, reached node "${oneLine(a.nodeName)}" but failed${a.detail !== undefined ? `: ${oneLine(a.detail, 1000)}` : '.'}`,
          'The device sends its own report with the details to its main address.',
        ]
  const doc: MailDoc = {
    headline: a.reason === 'missed' ? `⚠ ${device} missed its backup "${plan}"` : `✖ ${device}'s backup "${plan}" failed`,
    tone: 'bad',
    intro,
    fields: [
      ...commonFields(a, timeZone),
      { label: 'Last snapshot', value: a.lastSnapshotAt !== undefined ? formatTime(a.lastSnapshotAt, timeZone) : 'none yet', isAlarming: a.lastSnapshotAt === undefined },
      ...(a.detail !== undefined ? [{ label: a.reason === 'failed' ? 'Error' : 'Detail', value: oneLine(a.detail, 1000), isAlarming: a.reason === 'failed' }] : []),
    ],
    outro: [
      `What to do: check that the computer is on, awake and connected, then let the next scheduled run happen, or start one on the device with "arca run ${plan}".`,
      'No more alerts are sent for this incident; you will get one email when a backup from this device arrives again.',
    ],
    footer: `Alert from Arca node "${oneLine(a.nodeName)}". Times are in ${timeZone}.`,
  }
  return { subject: alertSubject(a), text: renderText(doc), html: renderHtml(doc) }
}

/** The recovery email that closes an alert. */
export function renderRecovery(recovery: BackupRecovery, timeZone: string): MailMessage {
  const a = recovery
  const device = oneLine(a.device)
  const plan = oneLine(a.plan)
  const doc: MailDoc = {
    headline: `✔ ${device} backed up "${plan}" again`,
    tone: 'ok',
    intro: [
      `A backup of plan "${plan}" from ${device} arrived on node "${oneLine(a.nodeName)}" at ${formatTime(a.recoveredAt, timeZone)}.`,
      `The alert for the backup due at ${formatTime(a.expectedAt, timeZone)} (${a.reason === 'missed' ? 'missed' : 'failed'}) is closed.`,
    ],
    fields: [
      ...commonFields(a, timeZone),
      { label: 'Back at', value: formatTime(a.recoveredAt, timeZone) },
      { label: 'Late by', value: formatDuration(a.recoveredAt - a.expectedAt) },
      { label: 'Previous snapshot', value: a.lastSnapshotAt !== undefined ? formatTime(a.lastSnapshotAt, timeZone) : 'none' },
    ],
    outro: [],
    footer: `From Arca node "${oneLine(a.nodeName)}". Times are in ${timeZone}.`,
  }
  return { subject: recoverySubject(a), text: renderText(doc), html: renderHtml(doc) }
}
