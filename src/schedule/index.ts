/**
 * schedule: when backup plans run, decided from data and instants passed in — the `Schedule` of a plan and its
 * command-line syntax, classic cron expressions, next runs and the one missed run to catch up, backup windows, all
 * in the device's IANA time zone through `Intl` (DST, month ends and leap years included). Pure like retention/: it
 * never reads the wall clock (instants come from a `Clock` in the caller), never starts timers, touches no files;
 * imports only core/ and no node: builtins. The agent daemon owns triggering, persistence of last runs and
 * cutting runs short.
 */
export * from './check-schedule.js'
export { type CronExpr, cronMatchesDay, normalizeCronExpr, parseCronExpr } from './cron-expr.js'
export { missedRun, nextRun, previousRun } from './next-run.js'
export { formatSchedule, MONTH_NAMES, parseSchedule, type Schedule, SCHEDULE_KINDS, type ScheduleKind, WEEKDAY_NAMES } from './schedule-spec.js'
export { formatTimeWindow, isWithinWindow, parseTimeWindow, type TimeWindow, windowEnd } from './time-window.js'
export { checkTimeZone } from './zoned-time.js'
