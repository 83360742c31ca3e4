/**
 * mail/: SMTP settings and their exact errors; the report, alert and recovery emails (exact subjects, times in a
 * given time zone, HTML escaping); and delivery against a real SMTP server (`smtp-server` on 127.0.0.1) — the main
 * address, the auxiliary one when the main recipient is refused, implicit TLS and STARTTLS with a test certificate,
 * the password file read at each send, and the outbox: kept with backoff on a fake clock while both addresses fail,
 * delivered exactly once later, quick and quiet with the server down or silent. No sleeps: every wait is on an event.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { buildReport, type RunFacts, type RunReport } from '../src/agent/run-report.js'
import { FakeClock } from '../src/core/clock.js'
import { ArcaError } from '../src/core/errors.js'
import {
  type BackupAlert, checkSmtpConfig, isServerFailure, Mailer, type MailerOptions, type MailMessage, Outbox,
  renderAlert, renderRecovery, renderRunReport, type SmtpConfig,
} from '../src/mail/index.js'
import { deadPort, parseMail, silentServer, startSmtp, TLS_CERT } from './helpers/test-smtp.js'

const PARIS = 'Europe/Paris'
const T0 = Date.UTC(2024, 2, 5, 21, 0, 0) // Tue 5 Mar 2024 22:00:00 in Paris

// ---- fixtures ----

function facts(overrides: Partial<RunFacts> = {}): RunFacts {
  return {
    plan: 'documents',
    device: 'ann-laptop',
    destination: 'vault "office" on node "nas"',
    trigger: 'schedule',
    mode: 'incremental',
    modeUsed: 'incremental',
    startedAt: T0,
    finishedAt: T0 + 754_500,
    snapshotId: '3fa9c2d1e0b4',
    stats: {
      filesNew: 34, filesChanged: 200, filesUnchanged: 1000, filesDeleted: 2, filesSkipped: 0, dirs: 10, symlinks: 0,
      bytesRead: 1_234_567_890, logicalBytes: 1_300_000_000, chunksNew: 100, bytesNew: 59_454_259, bytesStored: 30_000_000, bytesCompressed: 28_000_000,
    },
    ...overrides,
  }
}

const SCRIPT_PATH = '/home/ann/<script>alert("x")</script>&co.docx'

function warningsReport(): RunReport {
  return buildReport(
    facts({
      warnings: [
        { path: SCRIPT_PATH, reason: 'EACCES: permission denied' },
        { path: '/home/ann/locked.xlsx', reason: 'EBUSY: resource busy or locked' },
      ],
      warningCount: 5,
    }),
  )
}

function plainConfig(port: number, over: Partial<SmtpConfig> = {}): SmtpConfig {
  return checkSmtpConfig({ host: '127.0.0.1', port, security: 'none', from: 'Arca <arca@office.example>', ...over }, 'the test')
}

function mailer(t: Test, config: SmtpConfig, options: MailerOptions = {}): Mailer {
  const m = new Mailer(config, { timeoutMs: 2000, ...options })
  t.teardown(() => m.close())
  return m
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arca-mail-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function errorOf(p: Promise<unknown>): Promise<ArcaError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ArcaError) return err
    throw err
  }
  throw new Error('expected an ArcaError, the call succeeded')
}

const MESSAGE: MailMessage = { subject: '[Arca] test ✔', text: 'hello\n', html: '<p>hello</p>' }

// ---- settings ----

t.test('checkSmtpConfig accepts good settings and returns only known fields', async (t) => {
  t.same(checkSmtpConfig({ host: 'smtp.example.org', port: 587, security: 'starttls', user: 'arca', passwordFile: '/etc/arca/smtp.pass', from: 'arca@example.org' }, 'agent.json'), {
    host: 'smtp.example.org', port: 587, security: 'starttls', user: 'arca', passwordFile: '/etc/arca/smtp.pass', from: 'arca@example.org',
  })
  t.same(checkSmtpConfig({ host: 'mail.example.org', port: 465, security: 'tls', user: 'a', passwordFile: 'p', from: 'Arca backups <arca@example.org>' }, 'x').security, 'tls')
  t.same(checkSmtpConfig({ host: '192.168.1.10', port: 25, security: 'none', from: 'root@localhost' }, 'x'), { host: '192.168.1.10', port: 25, security: 'none', from: 'root@localhost' })
})

t.test('checkSmtpConfig errors say the file, the field and the value received', async (t) => {
  const base = { host: 'smtp.example.org', port: 587, security: 'starttls', from: 'arca@example.org' }
  const cases: [unknown, string][] = [
    [{ ...base, port: 0 }, '"smtp.port" must be 1-65535, received 0'],
    [{ ...base, port: 70000 }, '"smtp.port" must be 1-65535, received 70000'],
    [{ ...base, port: '587' }, '"smtp.port" must be 1-65535, received "587"'],
    [{ ...base, port: 25.5 }, '"smtp.port" must be 1-65535, received 25.5'],
    [{ ...base, security: 'ssl' }, '"smtp.security" must be "tls", "starttls" or "none", received "ssl"'],
    [{ ...base, security: undefined }, '"smtp.security" must be "tls", "starttls" or "none", received undefined'],
    [{ ...base, port: 465, security: 'starttls' }, '"smtp.security" must be "tls" with port 465 (TLS from the first byte), received "starttls"'],
    [{ ...base, port: 465, security: 'none' }, '"smtp.security" must be "tls" with port 465 (TLS from the first byte), received "none"'],
    [{ ...base, port: 587, security: 'tls' }, '"smtp.security" must be "starttls" or "none" with port 587 (TLS starts after the greeting), received "tls"'],
    [{ ...base, port: 25, security: 'tls' }, '"smtp.security" must be "starttls" or "none" with port 25 (TLS starts after the greeting), received "tls"'],
    [
      { ...base, port: 2525, security: 'none', user: 'arca', passwordFile: '/p' },
      '"smtp.security" must be "tls" or "starttls" when "smtp.user" is set (a password must not cross the network in clear), received "none"',
    ],
    [{ ...base, user: 'arca' }, '"smtp.passwordFile" is required with "smtp.user"'],
    [{ ...base, passwordFile: '/p' }, '"smtp.user" is required with "smtp.passwordFile"'],
    [{ ...base, user: '', passwordFile: '/p' }, '"smtp.user" must be a non-empty login name, received ""'],
    [{ ...base, host: '' }, '"smtp.host" must be a host name or IP address, received ""'],
    [{ ...base, host: 'smtp example.org' }, '"smtp.host" must be a host name or IP address, received "smtp example.org"'],
    [{ ...base, from: 'arca' }, '"smtp.from" must be an email address like "arca@example.org" or "Arca <arca@example.org>", received "arca"'],
    [{ ...base, pasword: 'x' }, '"smtp.pasword" is not a setting (known: host, port, security, user, passwordFile, from)'],
    [null, '"smtp" must be an object { host, port, security, from }, received null'],
    ['smtp://x', '"smtp" must be an object { host, port, security, from }, received "smtp://x"'],
  ]
  for (const [value, detail] of cases) {
    const err = (() => {
      try {
        checkSmtpConfig(value, 'agent.json')
      } catch (e) {
        return e as ArcaError
      }
      return undefined
    })()
    t.equal(err?.code, 'INVALID_ARGUMENT', detail)
    t.equal(err?.message, `Invalid mail settings in agent.json: ${detail}`)
  }
  t.throws(() => checkSmtpConfig({ ...base, port: 0 }, 'node.json', { key: 'mail.smtp' }), {
    message: 'Invalid mail settings in node.json: "mail.smtp.port" must be 1-65535, received 0',
  })
})

// ---- rendering ----

t.test('renderRunReport subjects: outcome first, exact for every outcome', async (t) => {
  const cases: [string, RunReport, string][] = [
    ['success', buildReport(facts()), '[Arca] ✔ documents on ann-laptop: success, 1,234 files, 56.7 MiB new'],
    ['warnings', warningsReport(), '[Arca] ⚠ documents on ann-laptop: 5 warnings, 1,234 files, 56.7 MiB new'],
    ['one warning', buildReport(facts({ warnings: [{ path: '/a', reason: 'gone' }] })), '[Arca] ⚠ documents on ann-laptop: 1 warning, 1,234 files, 56.7 MiB new'],
    [
      'failed',
      buildReport(facts({ stats: undefined, snapshotId: undefined, error: 'Node unreachable: connect ECONNREFUSED 192.168.1.5:7411' })),
      '[Arca] ✖ documents on ann-laptop: failed: Node unreachable: connect ECONNREFUSED 192.168.1.5:7411',
    ],
    ['cut short', buildReport(facts({ isCutShort: true, error: 'the backup window ended at 06:00' })), '[Arca] ⏸ documents on ann-laptop: cut short, 1,234 files, 56.7 MiB new'],
    ['an empty run', buildReport(facts({ stats: undefined })), '[Arca] ✔ documents on ann-laptop: success, 0 files, 0 B new'],
    ['a name with a newline', buildReport(facts({ device: 'ann\r\nBcc: x@evil.example' })), '[Arca] ✔ documents on ann Bcc: x@evil.example: success, 1,234 files, 56.7 MiB new'],
  ]
  for (const [name, report, subject] of cases) t.equal(renderRunReport(report, PARIS).subject, subject, name)
})

t.test('renderRunReport text: every number, times in the given zone, skipped paths and "…and N more"', async (t) => {
  const text = renderRunReport(warningsReport(), PARIS).text
  t.equal(
    text,
    [
      '⚠ Backup "documents" on ann-laptop: warnings',
      '============================================',
      '',
      'The backup finished, but 5 files or folders could not be read and are not in this snapshot; the list is below.',
      '',
      'Outcome:     warnings',
      'Plan:        documents',
      'Device:      ann-laptop',
      'Destination: vault "office" on node "nas"',
      'Started by:  its schedule',
      'Start:       Tue 5 Mar 2024 22:00:00 GMT+1',
      'End:         Tue 5 Mar 2024 22:12:34 GMT+1',
      'Duration:    12 min 34 s',
      'Mode:        incremental',
      'Snapshot:    3fa9c2d1e0b4',
      'Files:       34 new, 200 changed, 1,000 unchanged, 2 deleted, 0 skipped',
      'Read:        1.15 GiB',
      'New data:    56.7 MiB',
      'Stored:      28.6 MiB (compressed and encrypted)',
      'Dedup ratio: 43.33×',
      'Compression: 2.12×',
      'Speed:       1.56 MiB/s',
      '',
      'Not backed up, with reasons (5)',
      `  - ${SCRIPT_PATH}: EACCES: permission denied`,
      '  - /home/ann/locked.xlsx: EBUSY: resource busy or locked',
      '  …and 3 more',
      '',
      '-- ',
      'Report documents-1709672400000 from Arca on ann-laptop. Times are in Europe/Paris.',
      '',
    ].join('\n'),
  )
  const ny = renderRunReport(warningsReport(), 'America/New_York').text
  t.match(ny, /^Start: {7}Tue 5 Mar 2024 16:00:00 GMT-5$/m, 'another zone, same instant')
  const failed = renderRunReport(buildReport(facts({ stats: undefined, snapshotId: undefined, modeUsed: undefined, error: 'Quota of vault "office" exceeded' })), PARIS).text
  t.match(failed, /^The backup failed: Quota of vault "office" exceeded\n\nNo snapshot was saved by this run/m)
  t.match(failed, /^Error: {7}Quota of vault "office" exceeded$/m)
  t.match(failed, /^Snapshot: {4}none$/m)
  const full = renderRunReport(buildReport(facts({ modeUsed: 'full' })), PARIS).text
  t.match(full, /^Mode: {8}incremental \(ran as full: no earlier snapshot to build on\)$/m)
  const cut = renderRunReport(buildReport(facts({ isCutShort: true, error: 'the backup window ended at 06:00' })), PARIS).text
  t.match(cut, 'stopped before it finished (the backup window ended at 06:00). What was uploaded is kept, and the next run continues from there.')
  t.throws(() => renderRunReport(warningsReport(), 'Mars/Olympus'), {
    code: 'INVALID_ARGUMENT',
    message: 'Invalid time zone for the email: expected an IANA name like "Europe/Paris", received "Mars/Olympus"',
  })
})

t.test('renderRunReport HTML: every value escaped, inline styles only, nothing fetched', async (t) => {
  const html = renderRunReport(buildReport(facts({ device: 'ann<b>', warnings: [{ path: SCRIPT_PATH, reason: '<img src=x onerror=alert(1)>' }] })), PARIS).html
  t.ok(html.startsWith('<!DOCTYPE html>'))
  t.match(html, '/home/ann/&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;co.docx')
  t.match(html, '&#60;img src=x onerror=alert(1)&#62;')
  t.match(html, 'on ann&#60;b&#62;: warnings</div>')
  t.notMatch(html, /<script|<img|<b>|<link|<style|src=["']|href=|url\(|@import/i)
  t.match(html, '<td style="padding:3px 0;word-break:break-word">Tue 5 Mar 2024 22:00:00 GMT+1</td>')
})

const ALERT: BackupAlert = {
  nodeName: 'nas', device: 'ann-laptop', vault: 'office', plan: 'documents', expectedAt: T0, lastSnapshotAt: T0 - 86_400_000 + 180_000, reason: 'missed',
}

t.test('renderAlert and renderRecovery: exact subjects, the customer\'s words, times in the zone', async (t) => {
  const missed = renderAlert(ALERT, PARIS)
  t.equal(missed.subject, '[Arca] ALERT: ann-laptop missed its backup "documents"')
  t.match(missed.text, 'expected a backup of plan "documents" from ann-laptop at Tue 5 Mar 2024 22:00:00 GMT+1, and none has arrived.')
  t.match(missed.text, 'switched off or asleep at that time, or had no connection to the node')
  t.match(missed.text, /^Last snapshot: Mon 4 Mar 2024 22:03:00 GMT\+1$/m)
  t.match(missed.text, '"arca run documents"')
  const never = renderAlert({ ...ALERT, lastSnapshotAt: undefined }, PARIS)
  t.match(never.text, /^Last snapshot: none yet$/m)
  t.match(never.html, 'font-weight:600;word-break:break-word">none yet</td>', 'shown as alarming')
  const failed = renderAlert({ ...ALERT, reason: 'failed', detail: 'Quota of vault "office" exceeded' }, PARIS)
  t.equal(failed.subject, '[Arca] ALERT: ann-laptop\'s backup "documents" failed')
  t.match(failed.text, 'reached node "nas" but failed: Quota of vault "office" exceeded')
  t.match(failed.html, 'failed: Quota of vault &#34;office&#34; exceeded')
  const back = renderRecovery({ ...ALERT, recoveredAt: T0 + 2 * 86_400_000 - 3_600_000 + 30 * 60_000 }, PARIS)
  t.equal(back.subject, '[Arca] OK again: ann-laptop backed up "documents"')
  t.match(back.text, 'arrived on node "nas" at Thu 7 Mar 2024 21:30:00 GMT+1.')
  t.match(back.text, 'The alert for the backup due at Tue 5 Mar 2024 22:00:00 GMT+1 (missed) is closed.')
  t.match(back.text, /^Late by: {11}1 d 23 h 30 min$/m)
  t.equal(renderAlert({ ...ALERT, device: '<x>' }, 'UTC').html.includes('<x>'), false)
})

// ---- delivery against a real SMTP server ----

t.test('a report arrives at the main address with its subject, a text part and an escaped HTML part', async (t) => {
  const smtp = await startSmtp(t)
  const m = mailer(t, plainConfig(smtp.port))
  const message = renderRunReport(warningsReport(), PARIS)
  const delivery = await m.sendWithFallback(message, { to: 'ann@office.example', auxTo: 'it@office.example' })
  t.same(delivery, { deliveredTo: 'ann@office.example', isAuxiliary: false })
  t.equal(smtp.messages.length, 1)
  const got = smtp.messages[0]
  t.same([got.from, got.to], ['arca@office.example', ['ann@office.example']])
  const mail = parseMail(got.raw)
  t.equal(mail.subject, '[Arca] ⚠ documents on ann-laptop: 5 warnings, 1,234 files, 56.7 MiB new')
  t.equal(mail.headers.get('auto-submitted'), 'auto-generated')
  t.match(mail.headers.get('content-type') ?? '', /^multipart\/alternative/)
  t.equal(mail.text?.trimEnd(), message.text.trimEnd(), 'the text part, intact')
  t.equal(mail.html?.trimEnd(), message.html.trimEnd(), 'the HTML part, intact')
  t.match(mail.html ?? '', '&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;')
  t.notMatch(mail.html ?? '', '<script')
})

t.test('when the server refuses the main recipient, the auxiliary address gets the report', async (t) => {
  const smtp = await startSmtp(t)
  smtp.refused.add('ann@office.example')
  const m = mailer(t, plainConfig(smtp.port))
  const delivery = await m.sendWithFallback(renderRunReport(buildReport(facts()), PARIS), { to: 'ann@office.example', auxTo: 'it@office.example' })
  t.equal(delivery.deliveredTo, 'it@office.example')
  t.equal(delivery.isAuxiliary, true)
  t.match(delivery.mainError, /^ann@office\.example: .*550 5\.1\.1 <ann@office\.example>: mailbox unavailable/)
  t.same(smtp.messages.map((x) => x.to), [['it@office.example']], 'only the auxiliary address got it')
  t.equal(parseMail(smtp.messages[0].raw).subject, '[Arca] ✔ documents on ann-laptop: success, 1,234 files, 56.7 MiB new')
})

t.test('both addresses refused: IO_ERROR naming both; the outbox keeps it with backoff and delivers it once later', async (t) => {
  const smtp = await startSmtp(t)
  smtp.refused.add('ann@office.example').add('it@office.example')
  const m = mailer(t, plainConfig(smtp.port))
  const recipients = { to: 'ann@office.example', auxTo: 'it@office.example' }
  const err = await errorOf(m.sendWithFallback(MESSAGE, recipients))
  t.equal(err.code, 'IO_ERROR')
  t.match(err.message, /^Mail "\[Arca\] test ✔" not delivered via 127\.0\.0\.1:\d+: main address ann@office\.example: .*550.*; auxiliary address it@office\.example: .*550/)
  t.equal(isServerFailure(err), false, 'a refused recipient is not the server failing')

  const clock = new FakeClock(T0)
  const log: string[] = []
  const outbox = new Outbox(await tempDir(t), { clock, log: (l) => log.push(l) })
  const id = await outbox.enqueue(MESSAGE, recipients)
  t.match(id, /^001709672400000-[0-9a-f]{12}$/, 'named after its time, zero-padded to sort')

  t.same(await outbox.deliver(m), { delivered: 0, failed: 1, postponed: 0, expired: 0, pending: 1, nextAttemptAt: T0 + 60_000 })
  const [entry] = await outbox.list()
  t.same([entry.attempts, entry.nextAttemptAt], [1, T0 + 60_000])
  t.match(entry.lastError, /auxiliary address it@office\.example/)
  t.match(log.at(-1), /^Mail "\[Arca\] test ✔": attempt 1 failed, next in 1 min 00 s: Mail /)

  const rcptBefore = smtp.rcptCount
  t.same(await outbox.deliver(m), { delivered: 0, failed: 0, postponed: 1, expired: 0, pending: 1, nextAttemptAt: T0 + 60_000 }, 'not due: not tried')
  t.equal(smtp.rcptCount, rcptBefore, 'the server saw nothing')

  clock.advance(60_000)
  t.same((await outbox.deliver(m)).nextAttemptAt, T0 + 60_000 + 120_000, 'the second failure waits twice as long')
  t.equal((await outbox.list())[0].attempts, 2)

  clock.advance(120_000)
  smtp.refused.clear()
  t.same(await outbox.deliver(m), { delivered: 1, failed: 0, postponed: 0, expired: 0, pending: 0 })
  t.same(await outbox.list(), [])
  t.match(log.at(-1), 'Mail "[Arca] test ✔" delivered to ann@office.example')
  clock.advance(3_600_000)
  t.same(await outbox.deliver(m), { delivered: 0, failed: 0, postponed: 0, expired: 0, pending: 0 })
  t.same(smtp.messages.map((x) => x.to), [['ann@office.example']], 'delivered exactly once')
})

t.test('backoff is capped, and a message undelivered for too long is dropped with a log line', async (t) => {
  const smtp = await startSmtp(t)
  smtp.refused.add('ann@office.example')
  const m = mailer(t, plainConfig(smtp.port))
  const clock = new FakeClock(T0)
  const log: string[] = []
  const outbox = new Outbox(await tempDir(t), { clock, log: (l) => log.push(l), retryBaseMs: 1000, retryMaxMs: 5000, expireAfterMs: 20_000 })
  await outbox.enqueue(MESSAGE, { to: 'ann@office.example' })
  const waits: number[] = []
  for (let i = 0; i < 5; i++) {
    const s = await outbox.deliver(m)
    waits.push(s.nextAttemptAt! - clock.now())
    clock.set(s.nextAttemptAt!)
  }
  t.same(waits, [1000, 2000, 4000, 5000, 5000])
  clock.set(T0 + 20_000)
  t.same(await outbox.deliver(m), { delivered: 0, failed: 0, postponed: 0, expired: 1, pending: 0 })
  t.match(log.at(-1), /^Mail "\[Arca\] test ✔" dropped: not delivered in 20 s \(5 attempts\); last error: Mail .* \(no auxiliary address\)$/)
})

t.test('with the server down, deliver() returns at once, never throws, and holds the other messages back', async (t) => {
  const port = await deadPort()
  const m = mailer(t, plainConfig(port))
  const clock = new FakeClock(T0)
  const log: string[] = []
  const outbox = new Outbox(await tempDir(t), { clock, log: (l) => log.push(l) })
  await outbox.enqueue({ ...MESSAGE, subject: 'first' }, { to: 'ann@office.example', auxTo: 'it@office.example' })
  clock.advance(1)
  await outbox.enqueue({ ...MESSAGE, subject: 'second' }, { to: 'ann@office.example' })
  const started = performance.now()
  const summary = await outbox.deliver(m)
  const elapsedMs = performance.now() - started
  t.same(summary, { delivered: 0, failed: 1, postponed: 1, expired: 0, pending: 2, nextAttemptAt: T0 + 1 + 60_000 })
  t.ok(elapsedMs < 2000, `returned in ${Math.round(elapsedMs)} ms`)
  t.same((await outbox.list()).map((e) => [e.message.subject, e.attempts, e.nextAttemptAt]), [['first', 1, T0 + 1 + 60_000], ['second', 0, T0 + 1 + 60_000]])
  t.match(log[0], /ECONNREFUSED/)
  const err = await errorOf(m.sendWithFallback(MESSAGE, { to: 'ann@office.example' }))
  t.equal(isServerFailure(err), true)
})

t.test('a server that accepts and never answers cannot hang the caller: the short timeout ends the send', async (t) => {
  const port = await silentServer(t)
  const m = mailer(t, plainConfig(port), { timeoutMs: 200 })
  const outbox = new Outbox(await tempDir(t), { clock: new FakeClock(T0) })
  await outbox.enqueue(MESSAGE, { to: 'ann@office.example', auxTo: 'it@office.example' })
  const started = performance.now()
  const summary = await outbox.deliver(m)
  const elapsedMs = performance.now() - started
  t.same([summary.failed, summary.pending], [1, 1])
  t.ok(elapsedMs < 5000, `two attempts of 200 ms returned in ${Math.round(elapsedMs)} ms`)
  // which of nodemailer's timers fires first (greeting or socket) depends on the machine's load
  t.match((await outbox.list())[0].lastError, /main address ann@office\.example: .*(Greeting never received|Timeout).*auxiliary address/)
})

t.test('implicit TLS and STARTTLS are used as configured, and STARTTLS is never skipped', async (t) => {
  const tlsServer = await startSmtp(t, { secure: true })
  const tls = mailer(t, checkSmtpConfig({ host: '127.0.0.1', port: tlsServer.port, security: 'tls', from: 'arca@office.example' }, 'x'), { tls: { ca: TLS_CERT } })
  await tls.send(MESSAGE, 'ann@office.example')
  t.same(tlsServer.messages.map((x) => x.isSecure), [true], 'implicit TLS')

  const startTlsServer = await startSmtp(t)
  const startTls = mailer(t, checkSmtpConfig({ host: '127.0.0.1', port: startTlsServer.port, security: 'starttls', from: 'arca@office.example' }, 'x'), { tls: { ca: TLS_CERT } })
  await startTls.send(MESSAGE, 'ann@office.example')
  t.same(startTlsServer.messages.map((x) => x.isSecure), [true], 'upgraded with STARTTLS')

  const noStartTls = await startSmtp(t, { disabledCommands: ['STARTTLS'] })
  const refusing = mailer(t, checkSmtpConfig({ host: '127.0.0.1', port: noStartTls.port, security: 'starttls', from: 'arca@office.example' }, 'x'), { tls: { ca: TLS_CERT } })
  const err = await errorOf(refusing.send(MESSAGE, 'ann@office.example'))
  t.equal(err.code, 'IO_ERROR')
  t.match(err.message, /STARTTLS/)
  t.same(noStartTls.messages, [], 'nothing sent in clear')

  const untrusted = mailer(t, checkSmtpConfig({ host: '127.0.0.1', port: tlsServer.port, security: 'tls', from: 'arca@office.example' }, 'x'))
  const certErr = await errorOf(untrusted.send(MESSAGE, 'ann@office.example'))
  t.match(certErr.message, /self-signed certificate/, 'the certificate is checked')
  t.equal(tlsServer.messages.length, 1)
})

t.test('the password file is read at each send', async (t) => {
  let expected = 'first secret'
  const smtp = await startSmtp(t, {
    authOptional: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'arca' && auth.password === expected) return callback(null, { user: auth.username })
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }))
    },
  })
  const dir = await tempDir(t)
  const passwordFile = join(dir, 'smtp.pass')
  await writeFile(passwordFile, 'first secret\n')
  const config = checkSmtpConfig({ host: '127.0.0.1', port: smtp.port, security: 'starttls', user: 'arca', passwordFile, from: 'arca@office.example' }, 'x')
  const m = mailer(t, config, { tls: { ca: TLS_CERT } })
  await m.send(MESSAGE, 'ann@office.example')
  expected = 'second secret'
  await writeFile(passwordFile, 'second secret\r\n')
  await m.send(MESSAGE, 'ann@office.example')
  t.same(smtp.messages.map((x) => x.user), ['arca', 'arca'])
  expected = 'third secret'
  const wrong = await errorOf(m.sendWithFallback(MESSAGE, { to: 'ann@office.example' }))
  t.match(wrong.message, /535 Invalid username or password/)
  t.equal(isServerFailure(wrong), true, 'a refused login fails every message')
  await rm(passwordFile)
  const missing = await errorOf(m.sendWithFallback(MESSAGE, { to: 'ann@office.example' }))
  t.equal(missing.code, 'IO_ERROR')
  t.match(missing.message, `Cannot read the SMTP password file "${passwordFile}": ENOENT`)
  t.equal(isServerFailure(missing), true)
  t.equal(smtp.messages.length, 2)
})

t.test('outbox: files are atomic JSON, unreadable ones are set aside, bad recipients refused, passes do not overlap', async (t) => {
  const smtp = await startSmtp(t)
  const m = mailer(t, plainConfig(smtp.port))
  const dir = await tempDir(t)
  const log: string[] = []
  const outbox = new Outbox(join(dir, 'outbox'), { clock: new FakeClock(T0), log: (l) => log.push(l) })
  t.same(await outbox.deliver(m), { delivered: 0, failed: 0, postponed: 0, expired: 0, pending: 0 }, 'no directory yet: nothing to do')
  const id = await outbox.enqueue(MESSAGE, { to: 'ann@office.example' })
  t.same(await readdir(join(dir, 'outbox')), [`${id}.json`], 'no temporary file left')
  const stored = JSON.parse(await readFile(join(dir, 'outbox', `${id}.json`), 'utf8'))
  t.same(stored, { v: 1, id, createdAt: T0, recipients: { to: 'ann@office.example' }, message: MESSAGE, attempts: 0, nextAttemptAt: T0 })
  await writeFile(join(dir, 'outbox', '000000000000001-aaaaaaaaaaaa.json'), '{"v":1,')
  await writeFile(join(dir, 'outbox', 'notes.txt'), 'not mine')
  await t.rejects(outbox.enqueue(MESSAGE, { to: 'ann' }), { code: 'INVALID_ARGUMENT', message: 'Invalid mail recipient: "to" must be an email address, received "ann"' })
  const [a, b] = await Promise.all([outbox.deliver(m), outbox.deliver(m)])
  t.equal(a, b, 'the second call joins the running pass')
  t.same(a, { delivered: 1, failed: 0, postponed: 0, expired: 0, pending: 0 })
  t.equal(smtp.messages.length, 1)
  t.same((await readdir(join(dir, 'outbox'))).sort(), ['000000000000001-aaaaaaaaaaaa.json.bad', 'notes.txt'])
  t.match(log[0], /set aside as 000000000000001-aaaaaaaaaaaa\.json\.bad: /)
})
