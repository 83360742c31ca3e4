/**
 * Times of day as people write them, `HH:MM` from 00:00 to 23:59 (a one-digit hour is accepted, `9:00`), and as
 * minutes after local midnight.
 */

export const MINUTES_PER_DAY = 1440

/** Reports what is wrong with an input; parsers take one so each caller can say where the input came from. */
export type Fail = (detail: string) => never

export function parseTimeOfDay(text: string, fail: Fail): number {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text)
  if (match === null || Number(match[1]) > 23 || Number(match[2]) > 59) {
    return fail(`"${text}" is not a time of day (HH:MM, 00:00..23:59)`)
  }
  return Number(match[1]) * 60 + Number(match[2])
}

/** 1320 -> "22:00". */
export function formatTimeOfDay(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`
}
