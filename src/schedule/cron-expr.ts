/**
 * Classic 5-field cron expressions, `minute hour day-of-month month day-of-week`, parsed and matched here rather
 * than by a cron package. Each field is a comma list of `*`, `N`, `A-B`, each optionally stepped (`*\/15`, `8-18/2`,
 * `5/10` = `5-max/10`); months take `jan..dec`, days of the week `sun..sat`, `0..7` (0 and 7 are Sunday), in any case.
 *
 * Days follow Vixie cron: when both day-of-month and day-of-week are restricted (neither field starts with `*`), a day
 * matches if EITHER matches (`0 3 1 * mon` runs on the 1st and on every Monday); when one of them starts with `*`,
 * both must match. node-cron v4 ANDs the two fields instead, which is why Arca computes next runs itself and would
 * use node-cron at most as a trigger.
 */
import { ArcaError } from '../core/errors.js'
import { type CivilDate, maxDaysInMonth } from './civil-date.js'
import type { Fail } from './time-of-day.js'

export interface CronExpr {
  minutes: number[]
  hours: number[]
  daysOfMonth: number[]
  months: number[]
  /** 0 = Sunday .. 6 = Saturday (a 7 in the expression is folded to 0). */
  daysOfWeek: number[]
  /** The day-of-month field does not start with `*`. */
  isDayOfMonthRestricted: boolean
  /** The day-of-week field does not start with `*`. */
  isDayOfWeekRestricted: boolean
}

interface FieldRule {
  name: string
  /** What a value is, for messages: `a minute (0..59)`. */
  what: string
  min: number
  max: number
  /** Names for min, min + 1, ... */
  names?: readonly string[]
}

const FIELDS: readonly FieldRule[] = [
  { name: 'minute', what: 'a minute (0..59)', min: 0, max: 59 },
  { name: 'hour', what: 'an hour (0..23)', min: 0, max: 23 },
  { name: 'day-of-month', what: 'a day of the month (1..31)', min: 1, max: 31 },
  {
    name: 'month',
    what: 'a month (1..12 or jan..dec)',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  {
    name: 'day-of-week',
    what: 'a day of the week (0..7 or sun..sat)',
    min: 0,
    max: 7,
    names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
  },
]

function parseField(text: string, rule: FieldRule, fail: Fail): number[] {
  const where = `${rule.name} field "${text}"`
  const valueOf = (token: string): number => {
    const named = rule.names?.indexOf(token.toLowerCase()) ?? -1
    if (named >= 0) return rule.min + named
    const n = /^\d{1,2}$/.test(token) ? Number(token) : NaN
    if (!(n >= rule.min && n <= rule.max)) fail(`${where}: "${token}" is not ${rule.what}`)
    return n
  }
  const values = new Set<number>()
  for (const item of text.split(',')) {
    const [range, step, ...extra] = item.split('/')
    if (extra.length > 0) fail(`${where}: "${item}" has more than one step`)
    let from: number
    let to: number
    if (range === '*') {
      from = rule.min
      to = rule.max
    } else if (range.includes('-')) {
      const [a, b, ...more] = range.split('-')
      if (more.length > 0) fail(`${where}: "${range}" is not a range (A-B)`)
      from = valueOf(a)
      to = valueOf(b)
      if (from > to) fail(`${where}: range "${range}" is reversed`)
    } else {
      from = valueOf(range)
      to = step === undefined ? from : rule.max
    }
    let stride = 1
    if (step !== undefined) {
      stride = /^\d{1,2}$/.test(step) ? Number(step) : 0
      if (stride < 1) fail(`${where}: step "${step}" is not a whole number from 1 to 99`)
    }
    for (let v = from; v <= to; v += stride) values.add(rule.name === 'day-of-week' ? v % 7 : v)
  }
  return [...values].sort((a, b) => a - b)
}

/** Parses a cron expression; `fail` says where it came from (by default: INVALID_ARGUMENT naming the expression). */
export function parseCronExpr(expr: string, fail?: Fail): CronExpr {
  const report: Fail =
    fail ??
    ((detail) => {
      throw ArcaError.invalidArgument(`Invalid cron expression "${expr}": ${detail}`)
    })
  const fields = expr.trim() === '' ? [] : expr.trim().split(/\s+/)
  if (fields.length !== 5) {
    report(`a cron expression has 5 fields (minute hour day-of-month month day-of-week), received ${fields.length}`)
  }
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = fields.map((text, i) => parseField(text, FIELDS[i], report))
  const cron: CronExpr = {
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    isDayOfMonthRestricted: !fields[2].startsWith('*'),
    isDayOfWeekRestricted: !fields[4].startsWith('*'),
  }
  // Days of the month ANDed with months (day-of-week not restricted) may never meet: `0 0 30 feb *`.
  const isAnded = !(cron.isDayOfMonthRestricted && cron.isDayOfWeekRestricted)
  if (isAnded && !months.some((m) => daysOfMonth.some((d) => d <= maxDaysInMonth(m)))) {
    report(`day-of-month "${fields[2]}" never occurs in month "${fields[3]}": the schedule would never run`)
  }
  return cron
}

/** The expression with single spaces and lower-case names: the form stored in config. */
export function normalizeCronExpr(expr: string): string {
  return expr.trim().split(/\s+/).join(' ').toLowerCase()
}

/** Whether the expression runs on a local date; `weekday` is 0 = Sunday .. 6 = Saturday. */
export function cronMatchesDay(cron: CronExpr, date: CivilDate, weekday: number): boolean {
  if (!cron.months.includes(date.month)) return false
  const isDayOfMonth = cron.daysOfMonth.includes(date.day)
  const isDayOfWeek = cron.daysOfWeek.includes(weekday)
  return cron.isDayOfMonthRestricted && cron.isDayOfWeekRestricted ? isDayOfMonth || isDayOfWeek : isDayOfMonth && isDayOfWeek
}
