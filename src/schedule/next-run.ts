/**
 * When a plan runs: the next slot after an instant, the last slot at or before one, and the one missed slot to
 * catch up after the machine was off. Pure: instants come in as arguments (from a `Clock`), never from the wall
 * clock.
 *
 * Slots are wall-clock times in the device's time zone, turned into instants by the rule of zoned-time.ts: a slot
 * skipped by a spring-forward runs at the first valid instant after it (daily@02:30 on 2026-03-29 in Europe/Paris
 * runs at 03:00 CEST), and a slot repeated by a fall-back runs once, at its first occurrence (daily@02:30 on
 * 2026-10-25 runs at 02:30 CEST only). Slots are ordered by wall time and this mapping never goes backwards, so a
 * binary search over a day's slots finds the answer.
 */
import { DAY_MS, MINUTE_MS } from './civil-date.js'
import type { Schedule } from './schedule-spec.js'
import { type SlotRule, slotRuleOf } from './slot-rule.js'
import { instantOfWall, wallTimeOf } from './zoned-time.js'

/**
 * How many local days a search visits before concluding there is no slot: one 400-year Gregorian cycle, in which
 * every date falls on every weekday it ever can (the longest real gap is 8 years: monthly:29/feb from 2096 to 2104).
 */
const SEARCH_DAYS = 146_097

const slotInstant = (days: number, minute: number, timeZone: string): number =>
  instantOfWall(days * DAY_MS + minute * MINUTE_MS, timeZone)

/** The first slot strictly after `after`, in epoch ms; undefined for `manual`. */
export function nextRun(schedule: Schedule, after: number, timeZone: string): number | undefined {
  const rule = slotRuleOf(schedule)
  if (rule === undefined) return undefined
  // Slots of earlier days are at wall times before the wall time of `after`, hence at or before `after`.
  const firstDay = Math.floor(wallTimeOf(after, timeZone) / DAY_MS)
  for (let day = firstDay; day <= firstDay + SEARCH_DAYS; day++) {
    if (!rule.hasSlotsOn(day)) continue
    const i = firstIndexAfter(rule, day, after, timeZone)
    if (i < rule.minutesOfDay.length) return slotInstant(day, rule.minutesOfDay[i], timeZone)
  }
  return undefined
}

/** The last slot at or before `atOrBefore`, in epoch ms; undefined for `manual`. */
export function previousRun(schedule: Schedule, atOrBefore: number, timeZone: string): number | undefined {
  const rule = slotRuleOf(schedule)
  if (rule === undefined) return undefined
  // The day after too: after a fall-back at midnight, tomorrow's first wall times have already happened once.
  const lastDay = Math.floor(wallTimeOf(atOrBefore, timeZone) / DAY_MS) + 1
  for (let day = lastDay; day >= lastDay - SEARCH_DAYS; day--) {
    if (!rule.hasSlotsOn(day)) continue
    const i = firstIndexAfter(rule, day, atOrBefore, timeZone)
    if (i > 0) return slotInstant(day, rule.minutesOfDay[i - 1], timeZone)
  }
  return undefined
}

/**
 * The slot to catch up when the agent starts or the machine wakes: the most recent slot in `(lastRunAt, now]`, or
 * undefined when none was missed. However many slots passed while the machine was off, only the latest is returned,
 * so a plan catches up once, not once per missed slot. `lastRunAt` is when the plan's last run started.
 *
 * A plan that never ran (`lastRunAt` undefined) has nothing to catch up: its first run is `nextRun(schedule, now)`.
 * A caller that wants a slot missed since the plan was created to be caught up passes the plan's `createdAt`.
 */
export function missedRun(schedule: Schedule, lastRunAt: number | undefined, now: number, timeZone: string): number | undefined {
  if (lastRunAt === undefined || lastRunAt >= now) return undefined
  const slot = previousRun(schedule, now, timeZone)
  return slot !== undefined && slot > lastRunAt ? slot : undefined
}

/** Index of the first slot of `day` whose instant is after `at` (the slots' length when there is none). */
function firstIndexAfter(rule: SlotRule, day: number, at: number, timeZone: string): number {
  let lo = 0
  let hi = rule.minutesOfDay.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (slotInstant(day, rule.minutesOfDay[mid], timeZone) > at) hi = mid
    else lo = mid + 1
  }
  return lo
}
