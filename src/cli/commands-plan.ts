/**
 * arca plan add|edit|list|remove, arca run PLAN, arca report last|list.
 */
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { checkPlan, findPlan, readAgentConfig, writeAgentConfig, PLAN_MODES, type Plan } from '../agent/agent-config.js'
import { arcaHome } from '../agent/device-config.js'
import { listReports } from '../agent/agent-state.js'
import { runPlan } from '../agent/plan-runner.js'
import type { RunReport } from '../agent/run-report.js'
import { ArcaError, formatBytes } from '../core/errors.js'
import type { BackupMode } from '../protocol/snapshot-record.js'
import { checkTimeZone, formatSchedule, formatTimeWindow, nextRun, parseSchedule, parseTimeWindow } from '../schedule/index.js'
import { all, parseArgs, single, type ParsedArgs } from './args.js'
import { cacheDir, defaultDeviceName, REPO_OPTIONS, withPlanTarget, type Io } from './context.js'
import { ProgressLine, formatDuration } from './progress.js'
import { deliverReport } from './report-delivery.js'
import { parseSize } from './units.js'

const PLAN_OPTIONS = {
  path: { value: true, repeat: true }, include: { value: true, repeat: true }, exclude: { value: true, repeat: true },
  mode: { value: true }, 'full-every': { value: true }, schedule: { value: true }, window: { value: true },
  'upload-limit': { value: true }, 'plan-repo': { value: true }, 'no-window': {}, json: {},
} as const

const PLAN_USAGE = `Usage: arca plan add NAME --path P [--path P]... --schedule SPEC [options]
       arca plan edit NAME [options]          (a given --path, --include or --exclude list replaces the old one)
       arca plan list [--json]
       arca plan remove NAME
Options: --include GLOB... --exclude GLOB... --mode incremental|differential|full --full-every N
         --window HH:MM-HH:MM (--no-window) --upload-limit RATE (e.g. 2MB: bytes per second) --plan-repo DIR
SPEC: manual, daily@22:00, weekly:mon,thu@22:00, monthly:1,15@03:00, monthly:1,15/jan,apr,jul,oct@03:00,
      every:30m, every:4h, every:2h/08:00-20:00, cron:EXPR`

function applyPlanOptions(base: Plan, args: ParsedArgs): Plan {
  const plan: Plan = { ...base }
  const paths = all(args, 'path')
  if (paths.length > 0) plan.paths = paths.map((p) => resolve(p))
  if (args.options.has('include')) plan.include = all(args, 'include')
  if (args.options.has('exclude')) plan.exclude = all(args, 'exclude')
  const mode = single(args, 'mode')
  if (mode !== undefined) {
    if (!PLAN_MODES.includes(mode as BackupMode)) throw ArcaError.invalidArgument(`Invalid --mode "${mode}" for plan "${plan.name}": expected incremental, differential or full`)
    plan.mode = mode as BackupMode
  }
  const fullEvery = single(args, 'full-every')
  if (fullEvery !== undefined) {
    if (!/^\d{1,5}$/.test(fullEvery)) throw ArcaError.invalidArgument(`Invalid --full-every "${fullEvery}" for plan "${plan.name}": expected a whole number of runs (0: never)`)
    plan.fullEvery = Number(fullEvery)
  }
  const schedule = single(args, 'schedule')
  if (schedule !== undefined) plan.schedule = parseSchedule(schedule)
  const window = single(args, 'window')
  if (window !== undefined) plan.window = parseTimeWindow(window)
  if (args.flags.has('no-window')) delete plan.window
  const limit = single(args, 'upload-limit')
  if (limit !== undefined) plan.uploadLimitBytesPerSec = parseSize(limit.replace(/\/s$/, ''), '--upload-limit')
  const repo = single(args, 'plan-repo')
  if (repo !== undefined) plan.repo = resolve(repo)
  return checkPlan(plan, `plan "${plan.name}"`)
}

function planJson(plan: Plan, next: number | undefined): Record<string, unknown> {
  return { ...plan, schedule: formatSchedule(plan.schedule), window: plan.window === undefined ? undefined : formatTimeWindow(plan.window), nextRunAt: next }
}

export async function planCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv
  const home = arcaHome(io.env)
  const args = parseArgs(`plan ${sub ?? ''}`.trim(), rest, PLAN_OPTIONS)
  switch (sub) {
    case 'add': {
      const name = onlyName(args, 'plan add')
      const config = readAgentConfig(home)
      if (config.plans.some((p) => p.name === name)) throw new ArcaError('ALREADY_EXISTS', `A plan named "${name}" exists already: use arca plan edit ${name}`)
      if (all(args, 'path').length === 0) throw ArcaError.invalidArgument(`arca plan add ${name} needs at least one --path`)
      if (single(args, 'schedule') === undefined) throw ArcaError.invalidArgument(`arca plan add ${name} needs --schedule SPEC (manual, daily@22:00, ...)`)
      const plan = applyPlanOptions({ name, paths: [], include: [], exclude: [], mode: 'incremental', fullEvery: 0, schedule: { kind: 'manual' }, uploadLimitBytesPerSec: 0, createdAt: io.clock.now() }, args)
      config.plans.push(plan)
      writeAgentConfig(home, config)
      io.out(args.flags.has('json') ? JSON.stringify(planJson(plan, nextRun(plan.schedule, io.clock.now(), config.timeZone))) : `Added plan "${name}" (${describe(plan, config.timeZone, io)})`)
      return 0
    }
    case 'edit': {
      const name = onlyName(args, 'plan edit')
      const config = readAgentConfig(home)
      const old = findPlan(config, name)
      const plan = applyPlanOptions(old, args)
      config.plans = config.plans.map((p) => (p.name === name ? plan : p))
      writeAgentConfig(home, config)
      io.out(args.flags.has('json') ? JSON.stringify(planJson(plan, nextRun(plan.schedule, io.clock.now(), config.timeZone))) : `Changed plan "${name}" (${describe(plan, config.timeZone, io)})`)
      return 0
    }
    case 'list': {
      const config = readAgentConfig(home)
      if (args.flags.has('json')) io.out(JSON.stringify(config.plans.map((p) => planJson(p, nextRun(p.schedule, io.clock.now(), config.timeZone)))))
      else {
        if (config.plans.length === 0) io.out('No plans yet: arca plan add NAME --path P --schedule SPEC')
        for (const p of config.plans) io.out(`${p.name}: ${describe(p, config.timeZone, io)}; paths ${p.paths.join(', ')}`)
      }
      return 0
    }
    case 'remove': {
      const name = onlyName(args, 'plan remove')
      const config = readAgentConfig(home)
      findPlan(config, name)
      config.plans = config.plans.filter((p) => p.name !== name)
      writeAgentConfig(home, config)
      io.out(`Removed plan "${name}" (its snapshots stay in the vault)`)
      return 0
    }
    case undefined: case 'help': case '--help':
      io.out(PLAN_USAGE)
      return sub === undefined ? 2 : 0
    default:
      throw ArcaError.invalidArgument(`Unknown command "arca plan ${sub}": expected add, edit, list or remove`)
  }
}

function onlyName(args: ParsedArgs, command: string): string {
  if (args.positionals.length !== 1) throw ArcaError.invalidArgument(`arca ${command} needs exactly one plan NAME, received ${args.positionals.length}`)
  return args.positionals[0]
}

function describe(p: Plan, timeZone: string, io: Io): string {
  const next = nextRun(p.schedule, io.clock.now(), timeZone)
  const parts = [formatSchedule(p.schedule), p.mode + (p.fullEvery > 0 ? `, full every ${p.fullEvery} runs` : '')]
  if (p.window !== undefined) parts.push(`window ${formatTimeWindow(p.window)}`)
  if (p.uploadLimitBytesPerSec > 0) parts.push(`upload limit ${formatBytes(p.uploadLimitBytesPerSec)}/s`)
  if (next !== undefined) parts.push(`next run ${new Date(next).toISOString()}`)
  return parts.join(', ')
}

export async function runCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const args = parseArgs('run', argv, { ...REPO_OPTIONS, json: {}, 'no-cache': {} })
  const name = onlyName(args, 'run')
  const home = arcaHome(io.env)
  const config = readAgentConfig(home)
  const plan = findPlan(config, name)
  const progress = new ProgressLine(io.clock)
  const report = await runPlan(plan, 'manual', {
    home, clock: io.clock, timeZone: checkTimeZone(config.timeZone), deviceName: defaultDeviceName(args, io) ?? hostname(),
    cacheDir: cacheDir(args, io), log: (line) => io.err(`arca: ${line}`),
    withTarget: (p, fn) => withPlanTarget(p, args, io, fn),
    onProgress: (_, p) => progress.update('backup', p.files, p.logicalBytes, p.estimatedBytes),
    onReport: (r) => deliverReport(r, home, io, (line) => io.err(`arca: ${line}`)),
  }, { signal }).finally(() => progress.done())
  printReport(report, args.flags.has('json'), io)
  return report.outcome === 'failed' ? 1 : report.outcome === 'cut-short' ? 130 : 0
}

export async function reportCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv
  const args = parseArgs(`report ${sub ?? ''}`.trim(), rest, { plan: { value: true }, json: {} })
  const home = arcaHome(io.env)
  const reports = listReports(home, single(args, 'plan'))
  switch (sub) {
    case 'last': {
      if (reports.length === 0) throw ArcaError.invalidArgument(`No report yet${single(args, 'plan') === undefined ? '' : ` for plan "${single(args, 'plan')}"`}: run a plan first (arca run PLAN)`)
      printReport(reports[0], args.flags.has('json'), io)
      return 0
    }
    case 'list':
      if (args.flags.has('json')) io.out(JSON.stringify(reports))
      else for (const r of reports) io.out(`${new Date(r.startedAt).toISOString()}  ${r.plan.padEnd(16)} ${r.outcome.padEnd(9)} ${r.trigger.padEnd(8)} ${formatDuration(r.durationMs).padStart(6)}  ${formatBytes(r.bytes.new)} new`)
      return 0
    default:
      throw ArcaError.invalidArgument(`Unknown command "arca report ${sub ?? ''}": expected last or list`)
  }
}

function printReport(r: RunReport, isJson: boolean, io: Io): void {
  if (isJson) {
    io.out(JSON.stringify(r))
    return
  }
  io.out(`plan ${r.plan} on ${r.device}: ${r.outcome}${r.error !== undefined ? ` (${r.error})` : ''}`)
  io.out(`  ${new Date(r.startedAt).toISOString()} to ${new Date(r.finishedAt).toISOString()} (${formatDuration(r.durationMs)}), ${r.trigger}, mode ${r.modeUsed ?? r.mode}, to ${r.destination}`)
  io.out(`  files: ${r.files.new} new, ${r.files.changed} changed, ${r.files.unchanged} unchanged, ${r.files.deleted} deleted, ${r.files.skipped} skipped`)
  io.out(`  data: ${formatBytes(r.bytes.read)} read, ${formatBytes(r.bytes.new)} new, ${formatBytes(r.bytes.stored)} stored; dedup ${r.dedupRatio}x, compression ${r.compressionRatio}x, ${formatBytes(r.speedBytesPerSec)}/s`)
  if (r.snapshotId !== undefined) io.out(`  snapshot ${r.snapshotId}`)
  for (const w of r.warnings) io.out(`  skipped: ${JSON.stringify(w.path)}: ${w.reason}`)
  if (r.warningCount > r.warnings.length) io.out(`  ...and ${r.warningCount - r.warnings.length} more`)
}
