/**
 * Report and alert mails end to end, against a real SMTP server: `arca run` mails its report to the main address,
 * or to the auxiliary one when the main recipient is refused, and a failed run mails a failure report; the node
 * mails exactly one alert when a device misses its slot and one recovery mail when it is back.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { alertMailer } from '../src/cli/mail-setup.js'
import { FakeClock } from '../src/core/clock.js'
import { runCli, tempDir } from './helpers/env.js'
import { parseMail, startSmtp } from './helpers/test-smtp.js'
import { connectRemote, pairTestDevice, startTestNode } from './helpers/test-node.js'

const at = (iso: string): number => Date.parse(iso)

t.test('arca run mails its report; the auxiliary address when the main one is refused; a failure report', async (t) => {
  const smtp = await startSmtp(t)
  const dir = tempDir(t)
  const env = { ARCA_HOME: join(dir, 'home') }
  const repo = join(dir, 'repo')
  const src = join(dir, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'budget.xlsx'), 'numbers\n'.repeat(1000))
  t.equal((await runCli(['init', '--repo', repo])).code, 0)
  const set = await runCli(['mail', 'set', '--to', 'ann@office.example', '--aux-to', 'it@office.example', '--smtp', `127.0.0.1:${smtp.port}`, '--security', 'none', '--from', 'arca@office.example'], { env })
  t.equal(set.code, 0, set.stderr)
  t.equal((await runCli(['plan', 'add', 'docs', '--path', src, '--schedule', 'daily@22:00', '--plan-repo', repo], { env })).code, 0)

  const run = await runCli(['run', 'docs'], { env })
  t.equal(run.code, 0, run.stderr)
  t.equal(smtp.messages.length, 1, 'one report mail')
  const first = parseMail(smtp.messages[0].raw)
  t.same(smtp.messages[0].to, ['ann@office.example'], 'to the main address')
  t.match(first.subject, /^\[Arca\] ✔ docs on .*: success, 1 file/, `subject: ${first.subject}`)
  t.match(first.text, /budget\.xlsx|1 new/, 'the text part has the numbers')

  const last = await runCli(['report', 'last', '--plan', 'docs', '--json'], { env })
  const report = JSON.parse(last.stdout)
  t.same([report.plan, report.outcome, report.files.new, report.bytes.read], ['docs', 'success', 1, 8000], 'arca report last --json gives the run')

  smtp.refused.add('ann@office.example')
  writeFileSync(join(src, 'notes.txt'), 'more')
  t.equal((await runCli(['run', 'docs'], { env })).code, 0)
  t.equal(smtp.messages.length, 2)
  t.same(smtp.messages[1].to, ['it@office.example'], 'the auxiliary address got it when the main one was refused')

  t.equal((await runCli(['plan', 'edit', 'docs', '--plan-repo', join(dir, 'no-such-repo')], { env })).code, 0)
  const failed = await runCli(['run', 'docs'], { env })
  t.equal(failed.code, 1, 'a failed run exits 1')
  t.equal(smtp.messages.length, 3)
  t.match(parseMail(smtp.messages[2].raw).subject, /^\[Arca\] ✖ docs on .*: failed/, 'a failure report was mailed')
})

t.test('the node mails one alert for a missed slot and one recovery mail', async (t) => {
  const smtp = await startSmtp(t)
  const clock = new FakeClock(at('2026-03-02T10:00:00Z'))
  const node = await startTestNode(join(tempDir(t), 'node'), { clock })
  t.teardown(() => node.close())
  await node.service.setMailSettings({ smtp: { host: '127.0.0.1', port: smtp.port, security: 'none', from: 'arca-node@office.example' }, to: 'admin@office.example' })
  node.service.onAlert = alertMailer(node.service, join(node.service.dataDir, 'outbox'), { out: () => {}, err: () => {}, env: {}, clock }, () => {})
  const store = await connectRemote(await pairTestDevice(node, 'team', 'ann-laptop'))
  const planId = Buffer.alloc(16, 3)
  await store.registerPlans({ timeZone: 'Europe/Paris', plans: [{ planId, name: 'documents', schedule: 'daily@22:00' }] })

  for (const iso of ['2026-03-02T22:30:00Z', '2026-03-03T08:00:00Z', '2026-03-03T12:00:00Z']) {
    clock.set(at(iso))
    await node.service.alerts.check()
  }
  t.equal(smtp.messages.length, 1, 'exactly one alert mail for the incident')
  const alert = parseMail(smtp.messages[0].raw)
  t.same(smtp.messages[0].to, ['admin@office.example'])
  t.equal(alert.subject, '[Arca] ALERT: ann-laptop missed its backup "documents"')

  await store.reportRun({ planId, outcome: 'success', startedAt: clock.now(), finishedAt: clock.now() + 1000, filesNew: 1, filesChanged: 0, bytesRead: 1, bytesNew: 1, bytesStored: 1, warningCount: 0 })
  t.equal(smtp.messages.length, 2, 'one recovery mail')
  t.equal(parseMail(smtp.messages[1].raw).subject, '[Arca] OK again: ann-laptop backed up "documents"')
  await store.close()
})
