/**
 * Time windows of the day, `HH:MM-HH:MM` in the device's time zone: backup windows and the hours of `every:`
 * schedules. A window holds its start and not its end (`[start, end)`), and crosses midnight when its end is before
 * its start (`22:00-06:00` holds 23:00 and 05:59, not 06:00). A window whose start equals its end is refused: it
 * would be empty, or the whole day, depending on who reads it.
 *
 * Windows are wall-clock times, like schedules (see zoned-time.ts): on a fall-back night a window ending at 02:30
 * holds 02:15 in both passes of the repeated hour, and `windowEnd` gives the 02:30 that follows the moment asked
 * about; a window end skipped by a spring-forward closes the window at the first valid instant after it.
 */
import { ArcaError } from '../core/errors.js'
import { DAY_MS, MINUTE_MS } from './civil-date.js'
import { type Fail, formatTimeOfDay, parseTimeOfDay } from './time-of-day.js'
import { instantOfWall, offsetAt, wallTimeOf } from './zoned-time.js'

/** A window as stored in config: `{ start: '22:00', end: '06:00' }`. */
export interface TimeWindow {
  start: string
  end: string
}

/** Start and end in minutes after midnight. */
export interface WindowMinutes {
  start: number
  end: number
}

/** Checks a window's times; `fail` says where it came from. */
export function windowMinutesOf(window: TimeWindow, fail: Fail): WindowMinutes {
  const start = parseTimeOfDay(window.start, fail)
  const end = parseTimeOfDay(window.end, fail)
  if (start === end) fail(`a window's start and end must differ, received "${window.start}-${window.end}"`)
  return { start, end }
}

/** Parses `HH:MM-HH:MM` (the text after `/` in `every:2h/08:00-20:00`, or a `--window` flag). */
export function parseWindowText(text: string, fail: Fail): TimeWindow {
  const parts = text.split('-')
  if (parts.length !== 2) fail(`"${text}" is not a window (HH:MM-HH:MM, for example 08:00-20:00)`)
  const { start, end } = windowMinutesOf({ start: parts[0], end: parts[1] }, fail)
  return { start: formatTimeOfDay(start), end: formatTimeOfDay(end) }
}

/** `parseTimeWindow('22:00-06:00')` -> `{ start: '22:00', end: '06:00' }`; INVALID_ARGUMENT with the reason. */
export function parseTimeWindow(text: string): TimeWindow {
  return parseWindowText(text, (detail) => {
    throw ArcaError.invalidArgument(`Invalid window "${text}": ${detail}`)
  })
}

export function formatTimeWindow(window: TimeWindow): string {
  return `${window.start}-${window.end}`
}

/** Whether a time of day, in ms after midnight, is inside the window. */
export function holdsTimeOfDay(window: WindowMinutes, msOfDay: number): boolean {
  const start = window.start * MINUTE_MS
  const end = window.end * MINUTE_MS
  return start < end ? msOfDay >= start && msOfDay < end : msOfDay >= start || msOfDay < end
}

function checkedWindow(window: TimeWindow): WindowMinutes {
  return windowMinutesOf(window, (detail) => {
    throw ArcaError.invalidArgument(`Invalid window ${JSON.stringify(window)}: ${detail}`)
  })
}

/** Whether instant `at` falls inside the window, in `timeZone`. */
export function isWithinWindow(window: TimeWindow, at: number, timeZone: string): boolean {
  const wall = wallTimeOf(at, timeZone)
  return holdsTimeOfDay(checkedWindow(window), wall - Math.floor(wall / DAY_MS) * DAY_MS)
}

/**
 * When the window holding `at` closes: the instant a run started at `at` must stop. When `at` is outside the
 * window, the window is already closed and `at` itself is returned.
 */
export function windowEnd(window: TimeWindow, at: number, timeZone: string): number {
  const minutes = checkedWindow(window)
  const wall = wallTimeOf(at, timeZone)
  const day = Math.floor(wall / DAY_MS)
  const msOfDay = wall - day * DAY_MS
  if (!holdsTimeOfDay(minutes, msOfDay)) return at
  // Crossing midnight and before it: the window closes tomorrow.
  const endDay = minutes.start > minutes.end && msOfDay >= minutes.start * MINUTE_MS ? day + 1 : day
  const endWall = endDay * DAY_MS + minutes.end * MINUTE_MS
  const end = instantOfWall(endWall, timeZone)
  if (end > at) return end
  // `at` is in the second pass of a repeated hour: the end is the second occurrence of the end time.
  return Math.max(at, endWall - offsetAt(at, timeZone))
}
