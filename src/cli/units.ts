/**
 * Sizes and durations as people type them on the command line.
 */
import { ArcaError } from '../core/errors.js'

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, kib: 1024,
  m: 1e6, mb: 1e6, mib: 1024 ** 2,
  g: 1e9, gb: 1e9, gib: 1024 ** 3,
  t: 1e12, tb: 1e12, tib: 1024 ** 4,
}

/** "500MB", "10GiB", "1.5T", "0" or "unlimited" (0). `what` names the flag in errors. */
export function parseSize(text: string, what: string): number {
  if (text === 'unlimited') return 0
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim())
  const unit = m === null ? undefined : SIZE_UNITS[m[2].toLowerCase()]
  if (m === null || unit === undefined) {
    throw ArcaError.invalidArgument(`Invalid ${what}: expected a size such as 500MB, 10GiB or unlimited, received "${text}"`)
  }
  return Math.round(Number(m[1]) * unit)
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** "30m", "12h", "7d", "2w". */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+)([smhdw])$/.exec(text.trim())
  if (m === null || Number(m[1]) === 0) {
    throw ArcaError.invalidArgument(`Invalid ${what}: expected a duration such as 30m, 12h or 7d, received "${text}"`)
  }
  return Number(m[1]) * DURATION_UNITS[m[2]]
}
