/**
 * Sends Arca's emails over SMTP with nodemailer: one transport built from the checked settings, the password read
 * from its file at each send, short timeouts so a dead server cannot hang the caller, and a fallback to the
 * auxiliary address when the main one fails.
 */
import { readFile } from 'node:fs/promises'
import type { ConnectionOptions } from 'node:tls'
import nodemailer, { type SMTPSentMessageInfo, type SMTPTransportOptions, type Transporter } from 'nodemailer'
import { ArcaError } from '../core/errors.js'
import { oneLine } from './mail-doc.js'
import type { MailMessage, MailRecipients } from './mail-message.js'
import type { SmtpConfig } from './smtp-config.js'

export interface MailerOptions {
  /** Longest wait to connect, for the greeting, and for any one reply of the server. Default 10000. */
  timeoutMs?: number
  /** Longest time one send may take, from connecting to the server's last reply. Default 60000. */
  sendTimeoutMs?: number
  /** Extra TLS settings, e.g. `ca` for a relay with a private certificate. */
  tls?: ConnectionOptions
}

export interface Delivery {
  /** The address that got the message. */
  deliveredTo: string
  isAuxiliary: boolean
  /** Why the main address failed, when the auxiliary one got the message. */
  mainError?: string
}

/** What the outbox needs of a mailer. */
export interface MailSender {
  sendWithFallback(message: MailMessage, recipients: MailRecipients): Promise<Delivery>
}

export const DEFAULT_MAIL_TIMEOUT_MS = 10_000
export const DEFAULT_SEND_TIMEOUT_MS = 60_000

/**
 * Codes of failures that are the server's or the connection's, not one message's or one recipient's: the next
 * message would fail the same way. nodemailer's codes and the socket's.
 */
const SERVER_FAILURE_CODES = new Set([
  'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EAUTH', 'ENOAUTH', 'EABORT',
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND',
])
/** Errors of the settings themselves (the password file), which fail every message alike. */
const settingsFailures = new WeakSet<Error>()

function settingsFailure(err: ArcaError): ArcaError {
  settingsFailures.add(err)
  return err
}

/** nodemailer's message, with the server's reply when it has one and the message does not already carry it. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const response = (err as { response?: unknown }).response
  const text = typeof response === 'string' && response !== '' && !err.message.includes(response) ? `${err.message}: ${response}` : err.message
  return oneLine(text, 500)
}

/**
 * True when `err` (a Mailer error or its cause) says no message can be sent now: the server is unreachable, slow,
 * refuses the login, or the password file cannot be read.
 */
export function isServerFailure(err: unknown): boolean {
  if (err instanceof Error && settingsFailures.has(err)) return true
  let e: unknown = err
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && SERVER_FAILURE_CODES.has(code)) return true
  }
  return false
}

export class Mailer implements MailSender {
  readonly config: SmtpConfig
  readonly #transport: Transporter<SMTPSentMessageInfo, SMTPTransportOptions>
  readonly #sendTimeoutMs: number

  /** `config` as checkSmtpConfig returns it. Opens no connection: each send connects, sends and quits. */
  constructor(config: SmtpConfig, options: MailerOptions = {}) {
    this.config = config
    const timeoutMs = options.timeoutMs ?? DEFAULT_MAIL_TIMEOUT_MS
    this.#sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS
    this.#transport = nodemailer.createTransport({
      host: config.host,
      port: config.port,
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      tls: { minVersion: 'TLSv1.2', ...options.tls },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      socketCloseTimeout: Math.min(timeoutMs, 2000),
      disableFileAccess: true,
      disableUrlAccess: true,
    })
  }

  /** Sends to one address. Throws IO_ERROR naming the address, with nodemailer's error as the cause. */
  async send(message: MailMessage, to: string): Promise<void> {
    const pass = await this.#readPassword()
    try {
      await this.#sendTo(message, to, pass)
    } catch (err) {
      throw new ArcaError('IO_ERROR', `Mail ${JSON.stringify(oneLine(message.subject))} not delivered via ${this.#server()}: ${to}: ${describe(err)}`, { cause: err })
    }
  }

  /**
   * Sends to the main address and, if that fails for any reason (no connection, recipient refused), to the
   * auxiliary one. Returns the address that got it; throws IO_ERROR naming both failures, with the last of
   * nodemailer's errors as the cause.
   */
  async sendWithFallback(message: MailMessage, recipients: MailRecipients): Promise<Delivery> {
    const pass = await this.#readPassword()
    const failed = (detail: string, cause: unknown) =>
      new ArcaError('IO_ERROR', `Mail ${JSON.stringify(oneLine(message.subject))} not delivered via ${this.#server()}: ${detail}`, { cause })
    let mainError: unknown
    try {
      await this.#sendTo(message, recipients.to, pass)
      return { deliveredTo: recipients.to, isAuxiliary: false }
    } catch (err) {
      mainError = err
    }
    if (recipients.auxTo === undefined) {
      throw failed(`main address ${recipients.to}: ${describe(mainError)} (no auxiliary address)`, mainError)
    }
    try {
      await this.#sendTo(message, recipients.auxTo, pass)
      return { deliveredTo: recipients.auxTo, isAuxiliary: true, mainError: `${recipients.to}: ${describe(mainError)}` }
    } catch (auxError) {
      throw failed(`main address ${recipients.to}: ${describe(mainError)}; auxiliary address ${recipients.auxTo}: ${describe(auxError)}`, auxError)
    }
  }

  /** Releases the transport. Sends already started finish or time out on their own. */
  close(): void {
    this.#transport.close()
  }

  #server(): string {
    return `${this.config.host}:${this.config.port}`
  }

  async #sendTo(message: MailMessage, to: string, pass: string | undefined): Promise<void> {
    await this.#transport.sendMail({
      from: this.config.from,
      to,
      subject: message.subject,
      text: message.text,
      html: message.html,
      headers: { 'Auto-Submitted': 'auto-generated' },
      ...(this.config.user !== undefined ? { auth: { user: this.config.user, pass } } : {}),
      signal: AbortSignal.timeout(this.#sendTimeoutMs),
    })
  }

  async #readPassword(): Promise<string | undefined> {
    const file = this.config.passwordFile
    if (file === undefined) return undefined
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      throw settingsFailure(ArcaError.ioError(`Cannot read the SMTP password file "${file}"`, err))
    }
    const pass = text.split(/\r?\n/)[0]
    if (pass === '') throw settingsFailure(new ArcaError('IO_ERROR', `The SMTP password file "${file}" is empty`))
    return pass
  }
}
