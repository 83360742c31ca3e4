/**
 * mail/: the emails of Arca and their delivery. Renders run reports (agent) and missed-backup alerts and
 * recoveries (node) as plain text and HTML, checks SMTP settings, sends with nodemailer with a fallback to an
 * auxiliary address, and keeps an outbox on disk so that SMTP trouble never fails or blocks a backup: callers
 * `enqueue` and let `deliver` retry with backoff on an injected clock. Imports only core/ and packages; knows
 * nothing of vaults, stores or the protocol (the report and alert shapes it reads are declared here).
 */
export { type AlertReason, alertSubject, type BackupAlert, type BackupRecovery, recoverySubject, renderAlert, renderRecovery } from './alert-mail.js'
export { escapeHtml, formatDuration, formatTime } from './mail-doc.js'
export type { MailMessage, MailRecipients } from './mail-message.js'
export { DEFAULT_MAIL_TIMEOUT_MS, DEFAULT_SEND_TIMEOUT_MS, type Delivery, isServerFailure, Mailer, type MailerOptions, type MailSender } from './mailer.js'
export { type DeliverySummary, Outbox, OUTBOX_VERSION, type OutboxEntry, type OutboxOptions } from './outbox.js'
export { type MailedOutcome, type MailedRunReport, renderRunReport, runReportSubject } from './report-mail.js'
export { checkSmtpConfig, type CheckSmtpConfigOptions, isEmailAddress, SMTP_SECURITIES, type SmtpConfig, type SmtpSecurity } from './smtp-config.js'
export { checkMailSettings, type MailSettings } from './mail-settings.js'
