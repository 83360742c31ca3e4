/**
 * Every schedule kind reduced to one shape: which local dates have slots, and at which minutes after local midnight.
 * The next-run search works on this shape only, so all kinds share its DST, month-end and leap-year handling.
 */
import { civilFromDays, isoWeekday } from './civil-date.js'
import { cronMatchesDay, parseCronExpr } from './cron-expr.js'
import { everySlots, type Schedule } from './schedule-spec.js'
import { MINUTES_PER_DAY, parseTimeOfDay } from './time-of-day.js'
import { ArcaError } from '../core/errors.js'

export interface SlotRule {
  /** Whether the local date, in days since 1970-01-01, has slots. */
  hasSlotsOn(days: number): boolean
  /** Minutes after local midnight of the slots of such a date, ascending, without duplicates. */
  minutesOfDay: readonly number[]
}

const timeOf = (at: string): number[] => [
  parseTimeOfDay(at, (detail) => {
    throw ArcaError.invalidArgument(`Invalid schedule time: ${detail}`)
  }),
]

/** The slot rule of a schedule; undefined for `manual`, which has no slots. */
export function slotRuleOf(schedule: Schedule): SlotRule | undefined {
  switch (schedule.kind) {
    case 'manual':
      return undefined
    case 'daily':
      return { hasSlotsOn: () => true, minutesOfDay: timeOf(schedule.at) }
    case 'weekly': {
      const weekdays = new Set(schedule.weekdays)
      return { hasSlotsOn: (days) => weekdays.has(isoWeekday(days)), minutesOfDay: timeOf(schedule.at) }
    }
    case 'monthly': {
      // A day the month does not have (31 in April, 29 in February of a common year) is simply never reached.
      const monthDays = new Set(schedule.days)
      const months = schedule.months === undefined ? undefined : new Set(schedule.months)
      const hasSlotsOn = (days: number): boolean => {
        const date = civilFromDays(days)
        return monthDays.has(date.day) && (months === undefined || months.has(date.month))
      }
      return { hasSlotsOn, minutesOfDay: timeOf(schedule.at) }
    }
    case 'every':
      return { hasSlotsOn: () => true, minutesOfDay: everySlots(schedule.intervalMinutes, schedule.window) }
    case 'cron': {
      const cron = parseCronExpr(schedule.expr)
      const minutesOfDay: number[] = []
      for (const h of cron.hours) for (const m of cron.minutes) minutesOfDay.push(h * 60 + m)
      return {
        hasSlotsOn: (days) => cronMatchesDay(cron, civilFromDays(days), isoWeekday(days) % 7),
        minutesOfDay: minutesOfDay.filter((m) => m < MINUTES_PER_DAY),
      }
    }
  }
}
