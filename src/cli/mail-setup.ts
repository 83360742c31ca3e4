/**
 * Mail settings as both the agent (agent.json "mail") and the node (its registry) keep them, the flags that set
 * them, and sending through an outbox: a message is queued first, then delivered with short timeouts; what cannot
 * be delivered now stays queued for the daemon's next pass. Mail trouble is logged, never thrown at a backup.
 */
import { ArcaError } from '../core/errors.js'
import { checkSmtpConfig, isEmailAddress, Mailer, Outbox, renderAlert, renderRecovery, type MailMessage, type MailSettings } from '../mail/index.js'
import type { AlertEvent } from '../node/alert-monitor.js'
import type { NodeService } from '../node/node-service.js'
import { single, type ParsedArgs } from './args.js'
import type { Io } from './context.js'
import { parseHostPort } from '../transport/noise-tcp.js'

export const MAIL_OPTIONS = {
  to: { value: true }, 'aux-to': { value: true }, smtp: { value: true }, security: { value: true }, from: { value: true },
  user: { value: true }, 'password-file': { value: true },
} as const

export const MAIL_USAGE = `--to ADDR [--aux-to ADDR] --smtp HOST:PORT --security tls|starttls|none --from ADDR [--user NAME --password-file FILE]`

/** Mail settings from `set` flags; every field checked, errors name the flag. */
export function mailSettingsFromFlags(args: ParsedArgs, where: string): MailSettings {
  const need = (name: string): string => {
    const v = single(args, name)
    if (v === undefined || v === '') throw ArcaError.invalidArgument(`${where} needs --${name} (${MAIL_USAGE})`)
    return v
  }
  const to = need('to')
  if (!isEmailAddress(to)) throw ArcaError.invalidArgument(`Invalid --to: expected an email address, received "${to}"`)
  const auxTo = single(args, 'aux-to')
  if (auxTo !== undefined && !isEmailAddress(auxTo)) throw ArcaError.invalidArgument(`Invalid --aux-to: expected an email address, received "${auxTo}"`)
  const { host, port } = parseHostPort(need('smtp'), '--smtp')
  const user = single(args, 'user')
  const passwordFile = single(args, 'password-file')
  const smtp = checkSmtpConfig(
    { host, port, security: need('security'), from: need('from'), ...(user !== undefined ? { user } : {}), ...(passwordFile !== undefined ? { passwordFile } : {}) },
    where,
  )
  return { smtp, to, ...(auxTo !== undefined ? { auxTo } : {}) }
}

/** Queues `message` (if any) in `outboxDir`, then tries to deliver everything due. Never throws. */
export async function sendQueued(settings: MailSettings, outboxDir: string, message: MailMessage | undefined, io: Io, log: (line: string) => void, options: { timeoutMs?: number } = {}): Promise<void> {
  const outbox = new Outbox(outboxDir, { clock: io.clock, log })
  try {
    if (message !== undefined) await outbox.enqueue(message, { to: settings.to, auxTo: settings.auxTo })
    const mailer = new Mailer(settings.smtp, { timeoutMs: options.timeoutMs ?? 10_000, sendTimeoutMs: 60_000 })
    try {
      const summary = await outbox.deliver(mailer)
      if (summary.pending > 0) log(`Mail: ${summary.pending} message(s) wait in ${outboxDir} for the next attempt`)
    } finally {
      mailer.close()
    }
  } catch (err) {
    log(`Mail: ${(err as Error).message}`)
  }
}

export function describeMail(m: MailSettings): string {
  return `to ${m.to}${m.auxTo !== undefined ? ` (else ${m.auxTo})` : ''} through ${m.smtp.host}:${m.smtp.port} (${m.smtp.security}) from ${m.smtp.from}`
}

/** The node's alert handler: mails each alert and recovery to the node's admin address, if one is set. */
export function alertMailer(service: NodeService, outboxDir: string, io: Io, log: (line: string) => void): (event: AlertEvent) => Promise<void> {
  return async (event) => {
    const settings = await service.mailSettings()
    if (settings === undefined) return
    const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
    const a = event.alert
    const fields = {
      nodeName: service.name, device: a.deviceName, vault: a.vault, plan: a.plan, expectedAt: a.expectedAt, reason: a.kind,
      ...(a.lastSuccessAt !== undefined ? { lastSnapshotAt: a.lastSuccessAt } : {}),
    }
    const message = event.type === 'alert' ? renderAlert(fields, timeZone) : renderRecovery({ ...fields, recoveredAt: a.closedAt ?? io.clock.now() }, timeZone)
    await sendQueued(settings, outboxDir, message, io, log)
  }
}
