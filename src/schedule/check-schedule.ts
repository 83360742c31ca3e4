/**
 * Checks a schedule read back from the device config (JSON written by Arca, or edited by hand) before anything
 * relies on it: every field's type and range, then the same rules as the command line. Returns the canonical form.
 */
import { ArcaError } from '../core/errors.js'
import { formatSchedule, parseScheduleWith, type Schedule, SCHEDULE_KINDS } from './schedule-spec.js'

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const isIntList = (v: unknown, min: number, max: number): boolean =>
  Array.isArray(v) && v.length > 0 && v.every((n) => Number.isInteger(n) && n >= min && n <= max)

/**
 * `where` names the holder for messages: `checkSchedule(v, 'plan "laptop" in device.json')` throws
 * `Invalid plan "laptop" in device.json: "schedule.weekdays" must be weekdays 1-7 (Monday = 1), received [9]`.
 */
export function checkSchedule(value: unknown, where: string): Schedule {
  const bad = (field: string, expected: string, received: unknown): never => {
    throw ArcaError.invalidArgument(`Invalid ${where}: "schedule${field}" must be ${expected}, received ${JSON.stringify(received) ?? String(received)}`)
  }
  if (!isObject(value)) return bad('', 'an object', value)
  const kind = value.kind
  if (!SCHEDULE_KINDS.includes(kind as never)) bad('.kind', `one of ${SCHEDULE_KINDS.join(', ')}`, kind)
  const known: Record<string, string[]> = {
    manual: [],
    daily: ['at'],
    weekly: ['weekdays', 'at'],
    monthly: ['days', 'months', 'at'],
    every: ['intervalMinutes', 'window'],
    cron: ['expr'],
  }
  for (const field of Object.keys(value)) {
    if (field !== 'kind' && !known[kind as string].includes(field)) bad(`.${field}`, `absent for kind "${kind}"`, value[field])
  }
  const time = (field: string, v: unknown) => {
    if (typeof v !== 'string' || !/^\d{2}:\d{2}$/.test(v)) bad(field, 'a time of day "HH:MM"', v)
  }
  if (kind === 'daily' || kind === 'weekly' || kind === 'monthly') time('.at', value.at)
  if (kind === 'weekly' && !isIntList(value.weekdays, 1, 7)) bad('.weekdays', 'weekdays 1-7 (Monday = 1)', value.weekdays)
  if (kind === 'monthly') {
    if (!isIntList(value.days, 1, 31)) bad('.days', 'days of the month 1-31', value.days)
    if (value.months !== undefined && !isIntList(value.months, 1, 12)) bad('.months', 'months 1-12 (January = 1)', value.months)
  }
  if (kind === 'every') {
    const minutes = value.intervalMinutes
    if (!Number.isInteger(minutes) || (minutes as number) < 1 || (minutes as number) > 1440) {
      bad('.intervalMinutes', 'a whole number of minutes from 1 to 1440', minutes)
    }
    const window = value.window
    if (window !== undefined) {
      if (!isObject(window) || Object.keys(window).some((k) => k !== 'start' && k !== 'end')) bad('.window', '{ "start": "HH:MM", "end": "HH:MM" }', window)
      time('.window.start', (window as Record<string, unknown>).start)
      time('.window.end', (window as Record<string, unknown>).end)
    }
  }
  if (kind === 'cron' && typeof value.expr !== 'string') bad('.expr', 'a cron expression', value.expr)
  // The types are right: the command-line rules (ranges, weekday names, schedules that never run) do the rest.
  const spec = formatSchedule(value as Schedule)
  return parseScheduleWith(spec, (detail) => {
    throw ArcaError.invalidArgument(`Invalid ${where}: "schedule" is "${spec}": ${detail}`)
  })
}
