/**
 * The agent's configuration in ARCA_HOME/agent.json: the device's time zone, its mail settings and its backup
 * plans. Validated field by field on every read, so a hand-edited file fails with the plan, the field and the
 * value received; written atomically.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ArcaError } from '../core/errors.js'
import type { BackupMode } from '../protocol/snapshot-record.js'
import { checkMailSettings, type MailSettings } from '../mail/mail-settings.js'
import { checkSchedule, checkTimeZone, parseTimeWindow, type Schedule, type TimeWindow } from '../schedule/index.js'

export const AGENT_CONFIG_FILE = 'agent.json'
export const PLAN_MODES: readonly BackupMode[] = ['incremental', 'differential', 'full']
export const PLAN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export interface Plan {
  name: string
  paths: string[]
  include: string[]
  exclude: string[]
  mode: BackupMode
  /** With mode incremental or differential: every Nth run is full (0: never). */
  fullEvery: number
  schedule: Schedule
  window?: TimeWindow
  /** Upload limit in bytes per second (0: none). */
  uploadLimitBytesPerSec: number
  /** A local store directory instead of the paired node. */
  repo?: string
  createdAt: number
}

export interface AgentConfig {
  v: 1
  timeZone: string
  mail?: MailSettings
  plans: Plan[]
}

export function emptyAgentConfig(timeZone: string): AgentConfig {
  return { v: 1, timeZone, plans: [] }
}

/** The system's time zone, as Intl reports it. */
export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
}

export function readAgentConfig(home: string): AgentConfig {
  const path = join(home, AGENT_CONFIG_FILE)
  if (!existsSync(path)) return emptyAgentConfig(systemTimeZone())
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw ArcaError.invalidArgument(`Cannot read ${path}: ${(err as Error).message}`)
  }
  return checkAgentConfig(raw, path)
}

export function writeAgentConfig(home: string, config: AgentConfig): void {
  checkAgentConfig(JSON.parse(JSON.stringify(config)), 'the new agent config')
  mkdirSync(home, { recursive: true, mode: 0o700 })
  const path = join(home, AGENT_CONFIG_FILE)
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, path)
}

export function checkAgentConfig(raw: unknown, where: string): AgentConfig {
  const fail = (detail: string): never => {
    throw ArcaError.invalidArgument(`Invalid ${where}: ${detail}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('expected a JSON object')
  const c = raw as Record<string, unknown>
  if (c.v !== 1) throw ArcaError.unsupportedVersion(where, Number(c.v), 1)
  if (typeof c.timeZone !== 'string') fail(`"timeZone" must be an IANA time zone name, received ${JSON.stringify(c.timeZone)}`)
  checkTimeZone(c.timeZone as string)
  if (!Array.isArray(c.plans)) fail(`"plans" must be a list, received ${JSON.stringify(c.plans)}`)
  const names = new Set<string>()
  const plans = (c.plans as unknown[]).map((p, i) => {
    const plan = checkPlan(p, `plan ${i + 1} of ${where}`)
    if (names.has(plan.name)) fail(`two plans are named "${plan.name}"`)
    names.add(plan.name)
    return plan
  })
  const mail = c.mail === undefined ? undefined : checkMailSettings(c.mail, where)
  return { v: 1, timeZone: c.timeZone as string, ...(mail !== undefined ? { mail } : {}), plans }
}

export function checkPlan(raw: unknown, where: string): Plan {
  if (typeof raw !== 'object' || raw === null) throw ArcaError.invalidArgument(`Invalid ${where}: expected an object`)
  const p = raw as Record<string, unknown>
  const name = typeof p.name === 'string' ? p.name : ''
  const label = name === '' ? where : `plan "${name}"`
  const bad = (field: string, expected: string, received: unknown): never => {
    throw ArcaError.invalidArgument(`Invalid ${label}: "${field}" must be ${expected}, received ${JSON.stringify(received) ?? String(received)}`)
  }
  if (!PLAN_NAME_PATTERN.test(name)) bad('name', '1-64 letters, digits, ".", "_" or "-", starting with a letter or digit', p.name)
  const strings = (field: string, value: unknown, allowEmpty: boolean): string[] => {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) bad(field, 'a list of non-empty strings', value)
    if (!allowEmpty && (value as string[]).length === 0) bad(field, 'at least one entry', value)
    return value as string[]
  }
  const paths = strings('paths', p.paths, false)
  for (const path of paths) if (!path.startsWith('/')) bad('paths', 'absolute paths', path)
  const include = strings('include', p.include ?? [], true)
  const exclude = strings('exclude', p.exclude ?? [], true)
  if (!PLAN_MODES.includes(p.mode as BackupMode)) bad('mode', 'incremental, differential or full', p.mode)
  const fullEvery = p.fullEvery ?? 0
  if (!Number.isInteger(fullEvery) || (fullEvery as number) < 0 || (fullEvery as number) > 10_000) bad('fullEvery', 'a whole number 0-10000', fullEvery)
  const schedule = checkSchedule(p.schedule, label)
  let window: TimeWindow | undefined
  if (p.window !== undefined) {
    const w = p.window as { start?: unknown; end?: unknown }
    if (typeof w?.start !== 'string' || typeof w?.end !== 'string') bad('window', 'an object { start: "HH:MM", end: "HH:MM" }', p.window)
    window = parseTimeWindow(`${w.start as string}-${w.end as string}`)
  }
  const limit = p.uploadLimitBytesPerSec ?? 0
  if (!Number.isInteger(limit) || (limit as number) < 0) bad('uploadLimitBytesPerSec', 'a whole number of bytes per second (0: none)', limit)
  if (p.repo !== undefined && (typeof p.repo !== 'string' || p.repo === '')) bad('repo', 'a directory', p.repo)
  if (typeof p.createdAt !== 'number' || !Number.isFinite(p.createdAt)) bad('createdAt', 'a time in ms', p.createdAt)
  return {
    name, paths, include, exclude, mode: p.mode as BackupMode, fullEvery: fullEvery as number, schedule,
    ...(window !== undefined ? { window } : {}), uploadLimitBytesPerSec: limit as number,
    ...(p.repo !== undefined ? { repo: p.repo as string } : {}), createdAt: p.createdAt as number,
  }
}

export function findPlan(config: AgentConfig, name: string): Plan {
  const plan = config.plans.find((p) => p.name === name)
  if (plan === undefined) {
    const known = config.plans.map((p) => `"${p.name}"`).join(', ')
    throw ArcaError.invalidArgument(`No plan named "${name}"${known === '' ? ': no plans yet (arca plan add)' : `: the plans are ${known}`}`)
  }
  return plan
}
