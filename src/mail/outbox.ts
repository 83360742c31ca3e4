/**
 * The outbox: emails waiting to be sent, one JSON file each in a directory, so SMTP trouble never fails or blocks a
 * backup. Callers enqueue (a local atomic write) and let `deliver` run in the background; a failed message stays
 * with its attempt count and next-attempt time (exponential backoff on the injected clock). Delivery is at least
 * once: a crash between the server's acceptance and the file's removal sends that message again. One process owns
 * a directory at a time; within it, passes do not overlap.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Clock } from '../core/clock.js'
import { ArcaError } from '../core/errors.js'
import { formatDuration, oneLine } from './mail-doc.js'
import type { MailMessage, MailRecipients } from './mail-message.js'
import { isServerFailure, type MailSender } from './mailer.js'
import { isEmailAddress } from './smtp-config.js'

export const OUTBOX_VERSION = 1

export interface OutboxEntry {
  v: typeof OUTBOX_VERSION
  /** "<createdAt, 15 digits>-<12 hex>": file names sort in queue order. */
  id: string
  createdAt: number
  recipients: MailRecipients
  message: MailMessage
  /** Failed attempts so far. */
  attempts: number
  nextAttemptAt: number
  lastError?: string
}

export interface OutboxOptions {
  clock: Clock
  /** Receives one line per delivery, failure, drop or unreadable file. Default: nothing. */
  log?: (line: string) => void
  /** Wait after the first failed attempt; doubles with each further one. Default 60000 (1 min). */
  retryBaseMs?: number
  /** Longest wait between attempts. Default 3600000 (1 h). */
  retryMaxMs?: number
  /** A message still not delivered this long after it was queued is dropped, with a log line. Default 7 days. */
  expireAfterMs?: number
}

export interface DeliverySummary {
  delivered: number
  failed: number
  /** Not tried in this pass: not due yet, or held back because the server had just failed. */
  postponed: number
  expired: number
  /** Messages left in the outbox. */
  pending: number
  /** The earliest next attempt among them. */
  nextAttemptAt?: number
}

const ENTRY_FILE = /^\d{15}-[0-9a-f]{12}\.json$/

export class Outbox {
  readonly dir: string
  readonly #clock: Clock
  readonly #log: (line: string) => void
  readonly #retryBaseMs: number
  readonly #retryMaxMs: number
  readonly #expireAfterMs: number
  #pass: Promise<DeliverySummary> | undefined

  constructor(dir: string, options: OutboxOptions) {
    this.dir = dir
    this.#clock = options.clock
    this.#log = options.log ?? (() => {})
    this.#retryBaseMs = options.retryBaseMs ?? 60_000
    this.#retryMaxMs = options.retryMaxMs ?? 3_600_000
    this.#expireAfterMs = options.expireAfterMs ?? 7 * 86_400_000
  }

  /** Queues a message, due now. Returns its id. Throws INVALID_ARGUMENT for a bad address, IO_ERROR if the disk fails. */
  async enqueue(message: MailMessage, recipients: MailRecipients): Promise<string> {
    if (!isEmailAddress(recipients.to)) throw ArcaError.invalidArgument(`Invalid mail recipient: "to" must be an email address, received ${JSON.stringify(recipients.to)}`)
    if (recipients.auxTo !== undefined && !isEmailAddress(recipients.auxTo)) {
      throw ArcaError.invalidArgument(`Invalid mail recipient: "auxTo" must be an email address, received ${JSON.stringify(recipients.auxTo)}`)
    }
    const createdAt = this.#clock.now()
    const id = `${String(createdAt).padStart(15, '0')}-${randomBytes(6).toString('hex')}`
    const entry: OutboxEntry = {
      v: OUTBOX_VERSION,
      id,
      createdAt,
      recipients: { to: recipients.to, ...(recipients.auxTo !== undefined ? { auxTo: recipients.auxTo } : {}) },
      message: { subject: message.subject, text: message.text, html: message.html },
      attempts: 0,
      nextAttemptAt: createdAt,
    }
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      await this.#write(entry)
    } catch (err) {
      throw ArcaError.ioError(`Cannot queue mail ${JSON.stringify(oneLine(message.subject))} in ${this.dir}`, err)
    }
    return id
  }

  /** The queued messages, oldest first; unreadable files are skipped. */
  async list(): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = []
    for (const name of await this.#names()) {
      const entry = await this.#read(name)
      if (entry !== undefined) out.push(entry)
    }
    return out
  }

  /**
   * Tries every due message once, oldest first; removes the delivered ones, reschedules the failed ones. After a
   * failure of the server itself (unreachable, timeout, login refused) the other due messages are held back to the
   * same next-attempt time instead of each waiting out its own timeout. Never throws for a delivery failure; a
   * pass already running is joined, not doubled.
   */
  deliver(mailer: MailSender): Promise<DeliverySummary> {
    if (this.#pass === undefined) {
      this.#pass = this.#deliverPass(mailer).finally(() => {
        this.#pass = undefined
      })
    }
    return this.#pass
  }

  async #deliverPass(mailer: MailSender): Promise<DeliverySummary> {
    const summary: DeliverySummary = { delivered: 0, failed: 0, postponed: 0, expired: 0, pending: 0 }
    let heldUntil: number | undefined
    const keep = (entry: OutboxEntry) => {
      summary.pending++
      if (summary.nextAttemptAt === undefined || entry.nextAttemptAt < summary.nextAttemptAt) summary.nextAttemptAt = entry.nextAttemptAt
    }
    for (const name of await this.#names()) {
      const entry = await this.#read(name)
      if (entry === undefined) continue
      const subject = JSON.stringify(oneLine(entry.message.subject, 120))
      const now = this.#clock.now()
      if (now - entry.createdAt >= this.#expireAfterMs) {
        await this.#remove(entry)
        summary.expired++
        this.#log(`Mail ${subject} dropped: not delivered in ${formatDuration(now - entry.createdAt)} (${entry.attempts} attempts); last error: ${entry.lastError ?? 'none'}`)
        continue
      }
      if (entry.nextAttemptAt > now) {
        summary.postponed++
        keep(entry)
        continue
      }
      if (heldUntil !== undefined) {
        summary.postponed++
        keep(await this.#update({ ...entry, nextAttemptAt: heldUntil }))
        continue
      }
      try {
        const delivery = await mailer.sendWithFallback(entry.message, entry.recipients)
        await this.#remove(entry)
        summary.delivered++
        this.#log(
          delivery.isAuxiliary
            ? `Mail ${subject} delivered to the auxiliary address ${delivery.deliveredTo}; the main address failed: ${delivery.mainError ?? 'unknown error'}`
            : `Mail ${subject} delivered to ${delivery.deliveredTo}`,
        )
      } catch (err) {
        const attempts = entry.attempts + 1
        const failedAt = this.#clock.now()
        const nextAttemptAt = failedAt + Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** Math.min(attempts - 1, 40))
        const lastError = err instanceof Error ? err.message : String(err)
        summary.failed++
        keep(await this.#update({ ...entry, attempts, nextAttemptAt, lastError }))
        this.#log(`Mail ${subject}: attempt ${attempts} failed, next in ${formatDuration(nextAttemptAt - failedAt)}: ${lastError}`)
        if (isServerFailure(err)) heldUntil = nextAttemptAt
      }
    }
    return summary
  }

  async #names(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => ENTRY_FILE.test(n)).sort()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw ArcaError.ioError(`Cannot list the mail outbox ${this.dir}`, err)
    }
  }

  /** The entry in `name`, or undefined: a file that is not an outbox entry is set aside as `.bad`, with a log line. */
  async #read(name: string): Promise<OutboxEntry | undefined> {
    const path = join(this.dir, name)
    let problem: string | undefined
    try {
      const entry = checkEntry(JSON.parse(await readFile(path, 'utf8')), name)
      if (typeof entry !== 'string') return entry
      problem = entry
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      problem = (err as Error).message
    }
    try {
      await rename(path, `${path}.bad`)
      this.#log(`Outbox file ${path} set aside as ${name}.bad: ${problem}`)
    } catch (err) {
      this.#log(`Outbox file ${path} is unreadable (${problem}) and could not be set aside: ${(err as Error).message}`)
    }
    return undefined
  }

  /** Rewrites an entry; a disk failure is logged, not thrown (the entry is then retried earlier than planned). */
  async #update(entry: OutboxEntry): Promise<OutboxEntry> {
    try {
      await this.#write(entry)
    } catch (err) {
      this.#log(`Cannot update outbox entry ${entry.id}: ${(err as Error).message}`)
    }
    return entry
  }

  async #remove(entry: OutboxEntry): Promise<void> {
    try {
      await unlink(join(this.dir, `${entry.id}.json`))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log(`Cannot remove outbox entry ${entry.id}, it may be sent again: ${(err as Error).message}`)
    }
  }

  /** Write to a temporary file, flush, rename over the entry, flush the directory. */
  async #write(entry: OutboxEntry): Promise<void> {
    const path = join(this.dir, `${entry.id}.json`)
    const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`
    const file = await open(tmp, 'wx', 0o600)
    try {
      await file.writeFile(JSON.stringify(entry) + '\n')
      await file.sync()
    } finally {
      await file.close()
    }
    try {
      await rename(tmp, path)
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw err
    }
    const dir = await open(this.dir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  }
}

/** The entry, or what is wrong with it. */
function checkEntry(raw: unknown, name: string): OutboxEntry | string {
  if (typeof raw !== 'object' || raw === null) return 'not a JSON object'
  const e = raw as Record<string, unknown>
  if (e.v !== OUTBOX_VERSION) return `unsupported outbox entry version ${JSON.stringify(e.v)}, expected ${OUTBOX_VERSION}`
  if (typeof e.id !== 'string' || `${e.id}.json` !== name) return `"id" must match the file name, received ${JSON.stringify(e.id)}`
  const isTime = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (!isTime(e.createdAt)) return `"createdAt" must be a time in ms, received ${JSON.stringify(e.createdAt)}`
  if (!isTime(e.nextAttemptAt)) return `"nextAttemptAt" must be a time in ms, received ${JSON.stringify(e.nextAttemptAt)}`
  if (!isTime(e.attempts)) return `"attempts" must be a count, received ${JSON.stringify(e.attempts)}`
  const r = e.recipients as Record<string, unknown> | null
  if (typeof r !== 'object' || r === null || !isEmailAddress(r.to) || (r.auxTo !== undefined && !isEmailAddress(r.auxTo))) return '"recipients" must be { to, auxTo? } email addresses'
  const m = e.message as Record<string, unknown> | null
  if (typeof m !== 'object' || m === null || typeof m.subject !== 'string' || typeof m.text !== 'string' || typeof m.html !== 'string') {
    return '"message" must be { subject, text, html } strings'
  }
  if (e.lastError !== undefined && typeof e.lastError !== 'string') return `"lastError" must be a string, received ${JSON.stringify(e.lastError)}`
  return {
    v: OUTBOX_VERSION,
    id: e.id,
    createdAt: e.createdAt as number,
    recipients: { to: r.to as string, ...(r.auxTo !== undefined ? { auxTo: r.auxTo as string } : {}) },
    message: { subject: m.subject, text: m.text, html: m.html },
    attempts: e.attempts as number,
    nextAttemptAt: e.nextAttemptAt as number,
    ...(e.lastError !== undefined ? { lastError: e.lastError as string } : {}),
  }
}
