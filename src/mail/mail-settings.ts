/**
 * Where mails go: SMTP settings plus a main and an auxiliary address. The agent keeps them in agent.json ("mail"),
 * the node in its registry; both check them with `checkMailSettings`.
 */
import { ArcaError } from '../core/errors.js'
import { checkSmtpConfig, isEmailAddress, type SmtpConfig } from './smtp-config.js'

export interface MailSettings {
  smtp: SmtpConfig
  to: string
  auxTo?: string
}

export function checkMailSettings(raw: unknown, where: string): MailSettings {
  const m = raw as { smtp?: unknown; to?: unknown; auxTo?: unknown }
  if (typeof m !== 'object' || m === null) throw ArcaError.invalidArgument(`Invalid mail settings in ${where}: expected an object`)
  if (!isEmailAddress(m.to)) throw ArcaError.invalidArgument(`Invalid mail settings in ${where}: "mail.to" must be an email address, received ${JSON.stringify(m.to)}`)
  if (m.auxTo !== undefined && !isEmailAddress(m.auxTo)) throw ArcaError.invalidArgument(`Invalid mail settings in ${where}: "mail.auxTo" must be an email address, received ${JSON.stringify(m.auxTo)}`)
  const smtp = checkSmtpConfig(m.smtp, where, { key: 'mail.smtp' })
  return { smtp, to: m.to, ...(m.auxTo !== undefined ? { auxTo: m.auxTo as string } : {}) }
}

