/**
 * Schedules of backup plans: the JSON-safe `Schedule` stored in the device config, and its text form on the command
 * line (`arca plan add --schedule SPEC`; these spellings are relied on by users):
 *
 *   manual                               only when started by hand (`arca run PLAN`)
 *   daily@22:00                          every day at 22:00
 *   weekly:mon,thu@22:00                 on those weekdays (mon..sun; ranges such as mon-fri)
 *   monthly:1,15@03:00                   on those days of every month (1..31; ranges such as 1-7)
 *   monthly:1,15/jan,apr,jul,oct@03:00   on those days of those months (jan..dec; ranges such as jan-mar)
 *   every:30m  every:4h                  every N minutes or hours, counted from local midnight (1m..24h)
 *   every:2h/08:00-20:00                 the same, only the slots inside the window (08:00, 10:00, .., 18:00)
 *   cron:EXPR                            a classic 5-field cron expression (see cron-expr.ts)
 *
 * Names are case-insensitive; `formatSchedule` writes the canonical form (lower case, sorted, no duplicates), and
 * `parseSchedule(formatSchedule(s))` equals `s` for every parsed `s`. A schedule that could never run (`monthly:31/feb`,
 * `every:4h/09:00-10:00`) is refused.
 */
import { ArcaError } from '../core/errors.js'
import { maxDaysInMonth, MINUTE_MS } from './civil-date.js'
import { normalizeCronExpr, parseCronExpr } from './cron-expr.js'
import { type Fail, formatTimeOfDay, MINUTES_PER_DAY, parseTimeOfDay } from './time-of-day.js'
import { formatTimeWindow, holdsTimeOfDay, parseWindowText, type TimeWindow, windowMinutesOf } from './time-window.js'

export const SCHEDULE_KINDS = ['manual', 'daily', 'weekly', 'monthly', 'every', 'cron'] as const
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number]

/** `weekdays`: ISO numbers, 1 = Monday .. 7 = Sunday. `months`: 1 = January .. 12; absent means every month. */
export type Schedule =
  | { kind: 'manual' }
  | { kind: 'daily'; at: string }
  | { kind: 'weekly'; weekdays: number[]; at: string }
  | { kind: 'monthly'; days: number[]; months?: number[]; at: string }
  | { kind: 'every'; intervalMinutes: number; window?: TimeWindow }
  | { kind: 'cron'; expr: string }

export const WEEKDAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
export const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const

const SYNTAX: Record<Exclude<ScheduleKind, 'manual'>, string> = {
  daily: '"daily@HH:MM", for example "daily@22:00"',
  weekly: '"weekly:DAYS@HH:MM", for example "weekly:mon,thu@22:00"',
  monthly: '"monthly:DAYS[/MONTHS]@HH:MM", for example "monthly:1,15@03:00" or "monthly:1,15/jan,apr,jul,oct@03:00"',
  every: '"every:N(m|h)[/HH:MM-HH:MM]", for example "every:30m", "every:4h" or "every:2h/08:00-20:00"',
  cron: '"cron:EXPR", for example "cron:0 22 * * 1-5"',
}

/** A comma list of values and `A-B` ranges, sorted, without duplicates. */
function parseList(text: string, valueOf: (token: string) => number, fail: Fail): number[] {
  const values = new Set<number>()
  for (const item of text.split(',')) {
    const bounds = item.split('-')
    if (bounds.length > 2) fail(`"${item}" is not a range (A-B)`)
    const from = valueOf(bounds[0])
    const to = bounds.length === 2 ? valueOf(bounds[1]) : from
    if (from > to) fail(`range "${item}" is reversed`)
    for (let v = from; v <= to; v++) values.add(v)
  }
  return [...values].sort((a, b) => a - b)
}

const byName = (names: readonly string[], what: string, fail: Fail) => (token: string): number => {
  const i = names.indexOf(token.toLowerCase())
  return i >= 0 ? i + 1 : fail(`"${token}" is not ${what}`)
}

const dayOfMonth = (fail: Fail) => (token: string): number => {
  const n = /^\d{1,2}$/.test(token) ? Number(token) : 0
  return n >= 1 && n <= 31 ? n : fail(`"${token}" is not a day of the month (1..31)`)
}

/** Splits `BODY@HH:MM`; returns the body and the canonical time. */
function splitAt(rest: string, kind: keyof typeof SYNTAX, fail: Fail): [string, string] {
  const i = rest.lastIndexOf('@')
  if (i < 0) fail(`missing "@HH:MM", expected ${SYNTAX[kind]}`)
  return [rest.slice(0, i), formatTimeOfDay(parseTimeOfDay(rest.slice(i + 1), fail))]
}

function parseEvery(rest: string, fail: Fail): Schedule {
  const slash = rest.indexOf('/')
  const intervalText = slash < 0 ? rest : rest.slice(0, slash)
  const match = /^(\d{1,4})([mh])$/i.exec(intervalText)
  if (match === null) fail(`"${intervalText}" is not an interval (a number followed by m or h, for example 30m or 4h)`)
  const intervalMinutes = Number(match![1]) * (match![2].toLowerCase() === 'h' ? 60 : 1)
  if (intervalMinutes < 1 || intervalMinutes > MINUTES_PER_DAY) fail(`interval "${intervalText}" is out of range 1m..24h`)
  if (slash < 0) return { kind: 'every', intervalMinutes }
  const window = parseWindowText(rest.slice(slash + 1), fail)
  if (everySlots(intervalMinutes, window).length === 0) {
    fail(`no slot of every ${formatInterval(intervalMinutes)} (counted from midnight) falls within ${formatTimeWindow(window)}: the schedule would never run`)
  }
  return { kind: 'every', intervalMinutes, window }
}

/** Minutes after midnight of the slots of an `every:` schedule: multiples of the interval, inside the window. */
export function everySlots(intervalMinutes: number, window: TimeWindow | undefined): number[] {
  const minutes = window === undefined ? undefined : windowMinutesOf(window, (detail) => {
    throw ArcaError.invalidArgument(`Invalid window: ${detail}`)
  })
  const slots: number[] = []
  for (let m = 0; m < MINUTES_PER_DAY; m += intervalMinutes) {
    if (minutes === undefined || holdsTimeOfDay(minutes, m * MINUTE_MS)) slots.push(m)
  }
  return slots
}

function parseMonthly(body: string, fail: Fail): { days: number[]; months?: number[] } {
  const slash = body.indexOf('/')
  const days = parseList(slash < 0 ? body : body.slice(0, slash), dayOfMonth(fail), fail)
  if (slash < 0) return { days }
  const months = parseList(body.slice(slash + 1), byName(MONTH_NAMES, 'a month (jan..dec)', fail), fail)
  if (!months.some((m) => days.some((d) => d <= maxDaysInMonth(m)))) {
    const dayText = days.length === 1 ? `day ${days[0]} never occurs` : `days ${days.join(',')} never occur`
    fail(`${dayText} in ${months.map((m) => MONTH_NAMES[m - 1]).join(',')}: the schedule would never run`)
  }
  return months.length === 12 ? { days } : { days, months }
}

/** Parses a schedule as written on the command line; INVALID_ARGUMENT naming the spec, the field and the value. */
export function parseSchedule(spec: string): Schedule {
  return parseScheduleWith(spec, (detail) => {
    throw ArcaError.invalidArgument(`Invalid schedule "${spec}": ${detail}`)
  })
}

/** `parseSchedule` with the caller's `fail`, for callers that name the spec's origin themselves. */
export function parseScheduleWith(spec: string, fail: Fail): Schedule {
  const text = spec.trim()
  const kind = (/^[a-z]*/i.exec(text)?.[0] ?? '').toLowerCase()
  const rest = text.slice(kind.length)
  switch (kind) {
    case 'manual':
      if (rest !== '') fail(`"manual" takes nothing after it, received "${rest}"`)
      return { kind: 'manual' }
    case 'daily': {
      if (!rest.startsWith('@')) fail(`expected ${SYNTAX.daily}`)
      return { kind: 'daily', at: splitAt(rest, kind, fail)[1] }
    }
    case 'weekly': {
      if (!rest.startsWith(':')) fail(`expected ${SYNTAX.weekly}`)
      const [body, at] = splitAt(rest.slice(1), kind, fail)
      return { kind: 'weekly', weekdays: parseList(body, byName(WEEKDAY_NAMES, 'a weekday (mon..sun)', fail), fail), at }
    }
    case 'monthly': {
      if (!rest.startsWith(':')) fail(`expected ${SYNTAX.monthly}`)
      const [body, at] = splitAt(rest.slice(1), kind, fail)
      return { kind: 'monthly', ...parseMonthly(body, fail), at }
    }
    case 'every':
      if (!rest.startsWith(':')) fail(`expected ${SYNTAX.every}`)
      return parseEvery(rest.slice(1), fail)
    case 'cron': {
      if (!rest.startsWith(':')) fail(`expected ${SYNTAX.cron}`)
      const expr = normalizeCronExpr(rest.slice(1))
      parseCronExpr(expr, (detail) => fail(detail))
      return { kind: 'cron', expr }
    }
    default:
      return fail(
        text === ''
          ? `empty, expected one of ${SCHEDULE_KINDS.join(', ')} (for example "daily@22:00")`
          : `unknown kind "${kind === '' ? text : kind}", expected one of ${SCHEDULE_KINDS.join(', ')}`,
      )
  }
}

function formatInterval(minutes: number): string {
  return minutes % 60 === 0 ? `${minutes / 60}h` : `${minutes}m`
}

/** The canonical text of a schedule: `weekly:mon,thu@22:00`. */
export function formatSchedule(schedule: Schedule): string {
  switch (schedule.kind) {
    case 'manual':
      return 'manual'
    case 'daily':
      return `daily@${schedule.at}`
    case 'weekly':
      return `weekly:${schedule.weekdays.map((d) => WEEKDAY_NAMES[d - 1]).join(',')}@${schedule.at}`
    case 'monthly': {
      const months = schedule.months === undefined ? '' : `/${schedule.months.map((m) => MONTH_NAMES[m - 1]).join(',')}`
      return `monthly:${schedule.days.join(',')}${months}@${schedule.at}`
    }
    case 'every':
      return `every:${formatInterval(schedule.intervalMinutes)}${schedule.window === undefined ? '' : `/${formatTimeWindow(schedule.window)}`}`
    case 'cron':
      return `cron:${schedule.expr}`
  }
}
