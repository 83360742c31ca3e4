/**
 * The agent: plans managed through the CLI with precise errors; the daemon under a fake clock (catch-up after a
 * power-off runs one missed slot once, runs of a plan never overlap, a backup window cuts a run short and the
 * next run continues from there); reports whose numbers match a known tree.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { AgentDaemon } from '../src/agent/agent-daemon.js'
import { readAgentConfig, writeAgentConfig, type Plan } from '../src/agent/agent-config.js'
import { listReports, readAgentState, writeAgentState } from '../src/agent/agent-state.js'
import { lockPlan } from '../src/agent/plan-lock.js'
import { modeForRun } from '../src/agent/plan-runner.js'
import type { RunReport } from '../src/agent/run-report.js'
import { FakeClock } from '../src/core/clock.js'
import { LocalStore } from '../src/node/local-store.js'
import { Repository } from '../src/repo/repository.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { parseSchedule } from '../src/schedule/index.js'
import { PASSPHRASE, runCli, spawnCli, tempDir, TEST_KDF } from './helpers/env.js'
import { codeOf } from './helpers/error-code.js'
import { pseudoRandom } from './helpers/rng.js'

const MIB = 1024 * 1024
const at = (iso: string): number => Date.parse(iso)

t.test('plan add|edit|list|remove through the CLI, with precise errors', async (t) => {
  const home = tempDir(t)
  const env = { ARCA_HOME: home }
  const add = await runCli(['plan', 'add', 'office', '--path', '/srv/docs', '--include', '*.docx', '--include', '*.xlsx', '--schedule', 'weekly:mon,thu@22:00', '--json'], { env })
  t.equal(add.code, 0, add.stderr)
  const added = JSON.parse(add.stdout)
  t.same([added.name, added.paths, added.include, added.mode, added.schedule], ['office', ['/srv/docs'], ['*.docx', '*.xlsx'], 'incremental', 'weekly:mon,thu@22:00'])
  t.equal(typeof added.nextRunAt, 'number', 'the next run is computed')

  const cases: [string[], number, string][] = [
    [['plan', 'add', 'office', '--path', '/x', '--schedule', 'manual'], 10, 'A plan named "office" exists already: use arca plan edit office'],
    [['plan', 'add', 'p2', '--path', '/x', '--schedule', 'weekly:mon,xyz@22:00'], 2, 'Invalid schedule "weekly:mon,xyz@22:00": "xyz" is not a weekday (mon..sun)'],
    [['plan', 'add', 'p2', '--path', '/x', '--schedule', 'daily@22:00', '--mode', 'sometimes'], 2, 'Invalid --mode "sometimes" for plan "p2": expected incremental, differential or full'],
    [['plan', 'add', 'p2', '--schedule', 'daily@22:00'], 2, 'arca plan add p2 needs at least one --path'],
    [['plan', 'add', 'p2', '--path', '/x'], 2, 'arca plan add p2 needs --schedule SPEC (manual, daily@22:00, ...)'],
    [['plan', 'add', 'bad name', '--path', '/x', '--schedule', 'manual'], 2, 'Invalid plan "bad name": "name" must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit, received "bad name"'],
    [['plan', 'add', 'p2', '--path', '/x', '--schedule', 'manual', '--window', '25:00-06:00'], 2, 'Invalid window "25:00-06:00"'],
    [['plan', 'edit', 'ghost', '--mode', 'full'], 2, 'No plan named "ghost": the plans are "office"'],
    [['plan', 'remove'], 2, 'arca plan remove needs exactly one plan NAME, received 0'],
  ]
  for (const [args, code, message] of cases) {
    const r = await runCli(args, { env })
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`)
    t.match(r.stderr, message, `${args.join(' ')}: says what was wrong`)
  }

  const edit = await runCli(['plan', 'edit', 'office', '--mode', 'differential', '--full-every', '4', '--window', '21:00-06:00', '--upload-limit', '2MB', '--json'], { env })
  t.equal(edit.code, 0, edit.stderr)
  const edited = JSON.parse(edit.stdout)
  t.same([edited.mode, edited.fullEvery, edited.window, edited.uploadLimitBytesPerSec, edited.include], ['differential', 4, '21:00-06:00', 2_000_000, ['*.docx', '*.xlsx']], 'edit changes only what is given')
  const list = JSON.parse((await runCli(['plan', 'list', '--json'], { env })).stdout)
  t.same(list.map((p: { name: string }) => p.name), ['office'])
  t.equal((await runCli(['plan', 'remove', 'office'], { env })).code, 0)
  t.same(readAgentConfig(home).plans, [], 'removed')

  writeFileSync(join(home, 'agent.json'), JSON.stringify({ v: 1, timeZone: 'Europe/Paris', plans: [{ name: 'x', paths: ['/a'], mode: 'incremental', schedule: { kind: 'weekly', weekdays: [9], at: '22:00' }, createdAt: 0 }] }))
  const broken = await runCli(['plan', 'list'], { env })
  t.equal(broken.code, 2)
  t.match(broken.stderr, /Invalid plan "x": "schedule\.weekdays" must be weekdays 1-7/, 'a hand-edited config names the plan and the field')
})

t.test('modeForRun: a full every N runs', async (t) => {
  const plan = { mode: 'incremental', fullEvery: 3 } as Plan
  t.same([0, 1, 2, 3].map((n) => modeForRun(plan, n)), ['incremental', 'incremental', 'full', 'full'])
  t.equal(modeForRun({ mode: 'differential', fullEvery: 0 } as Plan, 50), 'differential')
  t.equal(modeForRun({ mode: 'full', fullEvery: 2 } as Plan, 0), 'full')
})

interface Fixture {
  home: string
  repo: string
  src: string
  clock: FakeClock
  daemon: AgentDaemon
  reports: RunReport[]
  opened: number
}

/** A daemon over a local vault, its plans written to agent.json, time from a fake clock. */
async function fixture(t: Test, plans: Omit<Plan, 'repo' | 'paths'>[], now: string, gate?: Promise<void>): Promise<Fixture> {
  const dir = tempDir(t)
  const home = join(dir, 'home')
  const repo = join(dir, 'repo')
  const src = join(dir, 'src')
  mkdirSync(src)
  const store = await LocalStore.open(repo, { create: true })
  await Repository.init(store, PASSPHRASE, { clock: new FakeClock(at(now)), kdf: TEST_KDF })
  await store.close()
  writeAgentConfig(home, { v: 1, timeZone: 'Europe/Paris', plans: plans.map((p) => ({ ...p, paths: [src], repo })) })
  const clock = new FakeClock(at(now))
  const f: Fixture = { home, repo, src, clock, reports: [], opened: 0, daemon: undefined as unknown as AgentDaemon }
  f.daemon = new AgentDaemon({
    home, clock, deviceName: 'laptop',
    withTarget: async (plan, fn) => {
      f.opened++
      await gate
      const s = await LocalStore.open(plan.repo!)
      try {
        const r = await Repository.open(s, { passphrase: PASSPHRASE })
        const pool = new SealPool(r.keys, { zstdLevel: r.config.zstdLevel })
        try {
          return await fn(r, pool, plan.repo!)
        } finally {
          await pool.close()
        }
      } finally {
        await s.close()
      }
    },
  })
  f.daemon.on('run-finished', (r) => f.reports.push(r))
  t.teardown(() => f.daemon.stop())
  return f
}

const basePlan = { include: [], exclude: [], mode: 'incremental' as const, fullEvery: 0, uploadLimitBytesPerSec: 0 }

t.test('catch-up after a power-off: one missed slot runs once, then the schedule goes on', async (t) => {
  const f = await fixture(t, [{ ...basePlan, name: 'daily', schedule: parseSchedule('daily@22:00'), createdAt: at('2026-03-01T08:00:00Z') }], '2026-03-01T21:00:30Z')
  writeFileSync(join(f.src, 'a.txt'), 'first day\n')
  // 2026-03-01 22:00 Paris = 21:00Z: the minute tick just after the slot
  await f.daemon.tick()
  await f.daemon.idle()
  t.same(f.reports.map((r) => [r.trigger, r.outcome]), [['schedule', 'success']], 'the due slot ran')
  t.equal(readAgentState(f.home).plans.daily.lastSlotAt, at('2026-03-01T21:00:00Z'), 'and is remembered')

  // the machine is off for five days
  f.clock.set(at('2026-03-07T09:00:00Z'))
  await f.daemon.tick()
  await f.daemon.idle()
  await f.daemon.tick()
  await f.daemon.idle()
  t.same(f.reports.map((r) => r.trigger), ['schedule', 'catch-up'], 'five missed slots give exactly one catch-up run')
  t.equal(readAgentState(f.home).plans.daily.lastSlotAt, at('2026-03-06T21:00:00Z'), 'for the latest missed slot')

  f.clock.set(at('2026-03-07T21:00:30Z'))
  await f.daemon.tick()
  await f.daemon.idle()
  t.same(f.reports.map((r) => r.trigger), ['schedule', 'catch-up', 'schedule'], 'the next slot runs on time')
  t.equal(listReports(f.home, 'daily').length, 3, 'every run left a report')

  // off again over two slots, but a run by hand (arca run) happened after them: nothing to catch up
  f.clock.set(at('2026-03-10T08:00:00Z'))
  const state = readAgentState(f.home)
  state.plans.daily.lastRunAt = at('2026-03-10T07:30:00Z')
  writeAgentState(f.home, state)
  await f.daemon.tick()
  await f.daemon.idle()
  t.equal(f.reports.length, 3, 'a run by hand after the missed slots covers them')
})

t.test('runs of one plan never overlap', async (t) => {
  let open!: () => void
  const gate = new Promise<void>((resolve) => (open = resolve))
  const f = await fixture(t, [{ ...basePlan, name: 'often', schedule: parseSchedule('every:30m'), createdAt: at('2026-03-02T08:00:00Z') }], '2026-03-02T09:01:00Z', gate)
  writeFileSync(join(f.src, 'a.txt'), 'x')
  await f.daemon.tick()
  t.same(f.daemon.runningPlans(), ['often'], 'a run started')
  f.clock.advance(31 * 60_000)
  await f.daemon.tick()
  f.clock.advance(31 * 60_000)
  await f.daemon.tick()
  t.equal(f.opened, 1, 'later slots did not start a second run while the first is going')
  open()
  await f.daemon.idle()
  t.equal(f.reports.length, 1)
  await f.daemon.tick()
  await f.daemon.idle()
  t.equal(f.reports.length, 2, 'after it ended, the due slot runs once')
})

t.test('a backup window cuts a run short; the next run continues from there; reports count a known tree', async (t) => {
  // 21:00-06:00 Paris; the clock says 05:59:59.8, so the window ends 200 ms after the run starts
  const plan = { ...basePlan, name: 'nightly', schedule: parseSchedule('every:1h'), window: { start: '21:00', end: '06:00' }, createdAt: at('2026-03-01T00:00:00Z') }
  const f = await fixture(t, [plan], '2026-03-03T04:59:59.800Z')
  for (let i = 0; i < 12; i++) writeFileSync(join(f.src, `big-${i}.bin`), pseudoRandom(i + 1, 8 * MIB))
  mkdirSync(join(f.src, 'docs'))
  for (let i = 0; i < 20; i++) writeFileSync(join(f.src, 'docs', `d${i}.txt`), `document ${i}\n`.repeat(100))
  const state = readAgentState(f.home)
  state.plans.nightly = { runCount: 0, runsSinceFull: 0, lastSlotAt: at('2026-03-03T02:00:00Z') }
  writeAgentState(f.home, state)

  let progressEvents = 0
  f.daemon.on('progress', (plan) => {
    if (plan === 'nightly') progressEvents++
  })
  await f.daemon.tick()
  await f.daemon.idle()
  t.equal(f.reports.length, 1)
  t.ok(progressEvents > 0, `the daemon emitted progress events (${progressEvents})`)
  const cut = f.reports[0]
  t.equal(cut.outcome, 'cut-short', 'the run was cut at the end of the window')
  t.match(cut.error, /backup window 21:00-06:00 ended; the next run continues from there/)
  t.equal(cut.snapshotId, undefined, 'no snapshot for a cut run')

  f.clock.set(at('2026-03-03T20:30:00Z')) // 21:30 Paris, inside the next window
  await f.daemon.tick()
  await f.daemon.idle()
  const done = f.reports[1]
  t.equal(done.outcome, 'success', 'the next run completes')
  const total = 12 * 8 * MIB + 20 * 'document 0\n'.length * 100 + 10 * 100 // d10..d19 have one more digit
  t.same(done.files, { new: 32, changed: 0, unchanged: 0, deleted: 0, skipped: 0 }, 'file counts of the known tree')
  t.equal(done.bytes.read, total, 'bytes read = the tree size')
  t.ok(done.bytes.new < 12 * 8 * MIB, `it sent only what the cut run had not (${(done.bytes.new / MIB).toFixed(1)} MiB new)`)
  t.equal(done.modeUsed, 'full', 'the first complete run is full')
  t.ok(done.compressionRatio >= 1 && done.dedupRatio > 0, 'ratios are filled in')
})

t.test('arca agent timezone and arca agent start: foreground, logs to stdout and agent.log, stops on SIGTERM', async (t) => {
  const home = tempDir(t)
  const env = { ARCA_HOME: home }
  const bad = await runCli(['agent', 'timezone', 'Mars/Base'], { env })
  t.equal(bad.code, 2)
  t.match(bad.stderr, 'Invalid time zone "Mars/Base"')
  t.equal((await runCli(['agent', 'timezone', 'Europe/Paris'], { env })).code, 0)
  t.equal((await runCli(['agent', 'timezone'], { env })).stdout.trim(), 'Europe/Paris')
  t.equal((await runCli(['plan', 'add', 'by-hand', '--path', home, '--schedule', 'manual'], { env })).code, 0)

  const child = spawnCli(['agent', 'start'], { env })
  let out = ''
  const started = new Promise<void>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('Plan "by-hand": next run none (manual)')) resolve()
    })
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await started
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops the agent with exit 0')
  t.match(out, /Agent started in .*, time zone Europe\/Paris, 1 plans/)
  t.match(out, /Stopped\n$/)
  t.equal(readFileSync(join(home, 'agent.log'), 'utf8'), out, 'agent.log holds the same lines as stdout')
})

t.test('a plan runs in one process at a time: a live owner blocks, a dead one is taken over', async (t) => {
  const home = tempDir(t)
  const other = spawn('sleep', ['30'])
  t.teardown(() => {
    other.kill('SIGKILL')
  })
  await new Promise((resolve) => other.once('spawn', resolve))
  mkdirSync(join(home, 'locks'))
  writeFileSync(join(home, 'locks', 'docs.lock'), `${other.pid}\n`)
  t.equal(codeOf(() => lockPlan(home, 'docs')), 'REPO_LOCKED', 'another live process holds the plan')
  t.throws(() => lockPlan(home, 'docs'), { message: `Plan "docs" is already running (process ${other.pid}): runs of one plan never overlap` })
  const exited = new Promise((resolve) => other.once('exit', resolve))
  other.kill('SIGKILL')
  await exited
  const release = lockPlan(home, 'docs')
  t.equal(readFileSync(join(home, 'locks', 'docs.lock'), 'utf8'), `${process.pid}\n`, 'a dead owner\'s lock is taken over')
  release()
  t.equal(codeOf(() => lockPlan(home, 'docs')()), 'ok', 'released, it can be taken again')
})
