/**
 * Wall-clock time in an IANA time zone, through `Intl.DateTimeFormat` only. A *wall time* is a local date and time
 * written as milliseconds as if the zone were UTC (`Date.UTC(y, m - 1, d, hh, mm)`); an *instant* is real epoch ms.
 *
 * Turning a wall time back into an instant follows one rule, used by every schedule kind and by backup windows: the
 * instant of wall time W is the first instant whose wall time is at or after W. So a wall time skipped by a
 * spring-forward (02:30 in Europe/Paris on 2026-03-29) maps to the first valid instant after it (03:00 CEST), and a
 * wall time repeated by a fall-back (02:30 on 2026-10-25) maps to its first occurrence (02:30 CEST), never the second.
 */
import { ArcaError } from '../core/errors.js'
import { DAY_MS } from './civil-date.js'

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone)
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      })
    } catch {
      throw ArcaError.invalidArgument(`Invalid time zone "${timeZone}": not an IANA time zone name (for example "Europe/Paris")`)
    }
    formatters.set(timeZone, formatter)
  }
  return formatter
}

/** Throws INVALID_ARGUMENT unless `timeZone` is a time zone name this runtime knows; returns its canonical name. */
export function checkTimeZone(timeZone: string): string {
  if (typeof timeZone !== 'string' || timeZone === '') {
    throw ArcaError.invalidArgument(`Invalid time zone ${JSON.stringify(timeZone)}: not an IANA time zone name (for example "Europe/Paris")`)
  }
  return formatterOf(timeZone).resolvedOptions().timeZone
}

function checkInstant(at: number): void {
  if (!Number.isFinite(at)) throw new RangeError(`Expected an instant in epoch milliseconds, received ${at}`)
}

/** The wall time in `timeZone` at instant `at`. */
export function wallTimeOf(at: number, timeZone: string): number {
  checkInstant(at)
  const fields: Record<string, number> = {}
  for (const part of formatterOf(timeZone).formatToParts(at)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value)
  }
  const ms = ((at % 1000) + 1000) % 1000
  return Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour % 24, fields.minute, fields.second) + ms
}

/** The zone's offset from UTC at instant `at`, in ms (Europe/Paris in summer: 7_200_000). */
export function offsetAt(at: number, timeZone: string): number {
  return wallTimeOf(at, timeZone) - at
}

/** The first instant whose wall time in `timeZone` is at or after `wall` (see the rule above). */
export function instantOfWall(wall: number, timeZone: string): number {
  checkInstant(wall)
  // No offset is beyond ±1 day, and zones change offset months apart: the offsets a day either side are the ones
  // in effect before and after any change near `wall`.
  const offsets = [offsetAt(wall - DAY_MS, timeZone), offsetAt(wall + DAY_MS, timeZone)]
  if (offsets[0] === offsets[1]) return wall - offsets[0]
  const exact = offsets.map((o) => wall - o).filter((t) => wallTimeOf(t, timeZone) === wall)
  if (exact.length > 0) return Math.min(...exact)
  // A gap: the wall time was skipped. The change happened between the two candidates; find it.
  let lo = wall - Math.max(...offsets) // wall time before `wall`
  let hi = wall - Math.min(...offsets) // wall time after `wall`
  if (lo >= hi || wallTimeOf(hi, timeZone) < wall) return hi
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (wallTimeOf(mid, timeZone) >= wall) hi = mid
    else lo = mid
  }
  return hi
}
