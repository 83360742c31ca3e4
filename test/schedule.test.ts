/**
 * schedule/: the command-line syntax and its errors, next runs for every kind with exact instants (month ends, leap
 * years, DST in Europe/Paris both ways, the cron day OR rule), the one catch-up slot after a power-off, and backup
 * windows across midnight and DST. Instants are written as ISO strings; nothing here reads the wall clock.
 */
import t from 'tap'
import { FakeClock } from '../src/core/clock.js'
import { civilFromDays, daysFromCivil, isoWeekday } from '../src/schedule/civil-date.js'
import {
  checkSchedule,
  checkTimeZone,
  formatSchedule,
  isWithinWindow,
  missedRun,
  nextRun,
  parseCronExpr,
  parseSchedule,
  parseTimeWindow,
  previousRun,
  type Schedule,
  windowEnd,
} from '../src/schedule/index.js'

const ms = (iso: string): number => {
  const v = Date.parse(iso)
  if (Number.isNaN(v)) throw new Error(`bad ISO in test: ${iso}`)
  return v
}
const iso = (v: number | undefined): string | undefined => (v === undefined ? undefined : new Date(v).toISOString())
const PARIS = 'Europe/Paris'

t.test('parseSchedule reads every kind; formatSchedule writes the canonical text back', async (t) => {
  const cases: [string, Schedule, string][] = [
    ['manual', { kind: 'manual' }, 'manual'],
    ['daily@22:00', { kind: 'daily', at: '22:00' }, 'daily@22:00'],
    [' Daily@9:05 ', { kind: 'daily', at: '09:05' }, 'daily@09:05'],
    ['weekly:mon,thu@22:00', { kind: 'weekly', weekdays: [1, 4], at: '22:00' }, 'weekly:mon,thu@22:00'],
    ['weekly:THU,mon,mon@22:00', { kind: 'weekly', weekdays: [1, 4], at: '22:00' }, 'weekly:mon,thu@22:00'],
    ['weekly:mon-fri@18:30', { kind: 'weekly', weekdays: [1, 2, 3, 4, 5], at: '18:30' }, 'weekly:mon,tue,wed,thu,fri@18:30'],
    ['weekly:sun@00:00', { kind: 'weekly', weekdays: [7], at: '00:00' }, 'weekly:sun@00:00'],
    ['monthly:1,15@03:00', { kind: 'monthly', days: [1, 15], at: '03:00' }, 'monthly:1,15@03:00'],
    ['monthly:15,1-3@03:00', { kind: 'monthly', days: [1, 2, 3, 15], at: '03:00' }, 'monthly:1,2,3,15@03:00'],
    [
      'monthly:1,15/jan,apr,jul,oct@03:00',
      { kind: 'monthly', days: [1, 15], months: [1, 4, 7, 10], at: '03:00' },
      'monthly:1,15/jan,apr,jul,oct@03:00',
    ],
    ['monthly:31/jan-dec@23:59', { kind: 'monthly', days: [31], at: '23:59' }, 'monthly:31@23:59'],
    ['monthly:31/feb,mar@12:00', { kind: 'monthly', days: [31], months: [2, 3], at: '12:00' }, 'monthly:31/feb,mar@12:00'],
    ['every:30m', { kind: 'every', intervalMinutes: 30 }, 'every:30m'],
    ['every:4h', { kind: 'every', intervalMinutes: 240 }, 'every:4h'],
    ['every:120m', { kind: 'every', intervalMinutes: 120 }, 'every:2h'],
    ['every:90M', { kind: 'every', intervalMinutes: 90 }, 'every:90m'],
    ['every:24h', { kind: 'every', intervalMinutes: 1440 }, 'every:24h'],
    ['every:2h/08:00-20:00', { kind: 'every', intervalMinutes: 120, window: { start: '08:00', end: '20:00' } }, 'every:2h/08:00-20:00'],
    ['every:1h/22:00-6:00', { kind: 'every', intervalMinutes: 60, window: { start: '22:00', end: '06:00' } }, 'every:1h/22:00-06:00'],
    ['cron:0  22 * * MON-FRI', { kind: 'cron', expr: '0 22 * * mon-fri' }, 'cron:0 22 * * mon-fri'],
    ['cron:*/15 9-17 1,15 * *', { kind: 'cron', expr: '*/15 9-17 1,15 * *' }, 'cron:*/15 9-17 1,15 * *'],
  ]
  for (const [spec, schedule, canonical] of cases) {
    const parsed = parseSchedule(spec)
    t.strictSame(parsed, schedule, spec)
    t.equal(formatSchedule(parsed), canonical, `${spec} formats as ${canonical}`)
    t.strictSame(parseSchedule(formatSchedule(parsed)), parsed, `${canonical} round-trips`)
    t.strictSame(JSON.parse(JSON.stringify(parsed)), parsed, `${canonical} is JSON-safe`)
  }
})

t.test('bad schedules are refused with the spec, the field and what was received', async (t) => {
  const kinds = 'manual, daily, weekly, monthly, every, cron'
  const cases: [string, string][] = [
    ['weekly:mon,xyz@22:00', '"xyz" is not a weekday (mon..sun)'],
    ['', `empty, expected one of ${kinds} (for example "daily@22:00")`],
    ['hourly', `unknown kind "hourly", expected one of ${kinds}`],
    ['@22:00', `unknown kind "@22:00", expected one of ${kinds}`],
    ['manual:now', '"manual" takes nothing after it, received ":now"'],
    ['daily', 'expected "daily@HH:MM", for example "daily@22:00"'],
    ['daily@25:00', '"25:00" is not a time of day (HH:MM, 00:00..23:59)'],
    ['daily@22h', '"22h" is not a time of day (HH:MM, 00:00..23:59)'],
    ['weekly:mon,thu', 'missing "@HH:MM", expected "weekly:DAYS@HH:MM", for example "weekly:mon,thu@22:00"'],
    ['weekly@22:00', 'expected "weekly:DAYS@HH:MM", for example "weekly:mon,thu@22:00"'],
    ['weekly:mon,,thu@22:00', '"" is not a weekday (mon..sun)'],
    ['weekly:fri-mon@22:00', 'range "fri-mon" is reversed'],
    ['weekly:mon-wed-fri@22:00', '"mon-wed-fri" is not a range (A-B)'],
    ['monthly:0,15@03:00', '"0" is not a day of the month (1..31)'],
    ['monthly:32@03:00', '"32" is not a day of the month (1..31)'],
    ['monthly:1/foo@03:00', '"foo" is not a month (jan..dec)'],
    ['monthly:31/apr,jun@03:00', 'day 31 never occurs in apr,jun: the schedule would never run'],
    ['monthly:30,31/feb@03:00', 'days 30,31 never occur in feb: the schedule would never run'],
    ['every:30s', '"30s" is not an interval (a number followed by m or h, for example 30m or 4h)'],
    ['every:', '"" is not an interval (a number followed by m or h, for example 30m or 4h)'],
    ['every:0m', 'interval "0m" is out of range 1m..24h'],
    ['every:25h', 'interval "25h" is out of range 1m..24h'],
    ['every:2h/08:00', '"08:00" is not a window (HH:MM-HH:MM, for example 08:00-20:00)'],
    ['every:2h/08:00-24:00', '"24:00" is not a time of day (HH:MM, 00:00..23:59)'],
    ['every:2h/08:00-08:00', `a window's start and end must differ, received "08:00-08:00"`],
    ['every:4h/09:00-10:00', 'no slot of every 4h (counted from midnight) falls within 09:00-10:00: the schedule would never run'],
    ['cron:', 'a cron expression has 5 fields (minute hour day-of-month month day-of-week), received 0'],
    ['cron:* * * *', 'a cron expression has 5 fields (minute hour day-of-month month day-of-week), received 4'],
    ['cron:61 * * * *', 'minute field "61": "61" is not a minute (0..59)'],
    ['cron:0 24 * * *', 'hour field "24": "24" is not an hour (0..23)'],
    ['cron:0 5-2 * * *', 'hour field "5-2": range "5-2" is reversed'],
    ['cron:*/0 * * * *', 'minute field "*/0": step "0" is not a whole number from 1 to 99'],
    ['cron:0 0 1/2/3 * *', 'day-of-month field "1/2/3": "1/2/3" has more than one step'],
    ['cron:0 0 0 * *', 'day-of-month field "0": "0" is not a day of the month (1..31)'],
    ['cron:0 0 * 13 *', 'month field "13": "13" is not a month (1..12 or jan..dec)'],
    ['cron:0 0 * * mon,xyz', 'day-of-week field "mon,xyz": "xyz" is not a day of the week (0..7 or sun..sat)'],
    ['cron:0 0 30 feb *', 'day-of-month "30" never occurs in month "feb": the schedule would never run'],
  ]
  for (const [spec, detail] of cases) {
    t.throws(() => parseSchedule(spec), { code: 'INVALID_ARGUMENT', message: `Invalid schedule "${spec}": ${detail}` }, spec)
  }
  t.throws(() => parseCronExpr('0 0 31 4,6 *'), {
    code: 'INVALID_ARGUMENT',
    message: 'Invalid cron expression "0 0 31 4,6 *": day-of-month "31" never occurs in month "4,6": the schedule would never run',
  })
  t.ok(parseCronExpr('0 0 31 4,6 mon'), 'both day fields restricted: Mondays of April and June still run')
})

t.test('nextRun: the first slot strictly after an instant, every kind', async (t) => {
  // [spec, time zone, after, expected]. 2026-05-10 is a Sunday.
  const cases: [string, string, string, string | undefined][] = [
    ['manual', PARIS, '2026-05-10T12:00:00Z', undefined],
    ['daily@22:00', 'UTC', '2026-05-10T21:59:59.999Z', '2026-05-10T22:00:00.000Z'],
    ['daily@22:00', 'UTC', '2026-05-10T22:00:00Z', '2026-05-11T22:00:00.000Z'],
    ['daily@22:00', PARIS, '2026-07-01T12:00:00Z', '2026-07-01T20:00:00.000Z'],
    ['daily@22:00', PARIS, '2026-01-15T12:00:00Z', '2026-01-15T21:00:00.000Z'],
    ['daily@00:00', 'Asia/Kolkata', '2026-05-10T00:00:00Z', '2026-05-10T18:30:00.000Z'],
    ['daily@23:30', 'America/New_York', '2026-12-31T12:00:00Z', '2027-01-01T04:30:00.000Z'],
    ['weekly:mon,thu@22:00', PARIS, '2026-05-10T12:00:00Z', '2026-05-11T20:00:00.000Z'],
    ['weekly:mon,thu@22:00', PARIS, '2026-05-11T20:00:00Z', '2026-05-14T20:00:00.000Z'],
    ['weekly:mon,thu@22:00', PARIS, '2026-05-14T20:00:00Z', '2026-05-18T20:00:00.000Z'],
    ['weekly:sun@00:00', 'UTC', '2026-05-09T23:59:00Z', '2026-05-10T00:00:00.000Z'],
    ['monthly:1,15@03:00', PARIS, '2026-05-15T01:00:00Z', '2026-06-01T01:00:00.000Z'],
    ['monthly:1,15@03:00', PARIS, '2026-12-20T00:00:00Z', '2027-01-01T02:00:00.000Z'],
    ['monthly:1,15/jan,apr,jul,oct@03:00', PARIS, '2026-05-01T12:00:00Z', '2026-07-01T01:00:00.000Z'],
    ['monthly:1,15/jan,apr,jul,oct@03:00', PARIS, '2026-10-15T01:00:00Z', '2027-01-01T02:00:00.000Z'],
    // Month ends: the 31st skips the months without one; the 30th skips February.
    ['monthly:31@12:00', 'UTC', '2026-01-31T12:00:00Z', '2026-03-31T12:00:00.000Z'],
    ['monthly:31@12:00', 'UTC', '2026-03-31T12:00:00Z', '2026-05-31T12:00:00.000Z'],
    ['monthly:31@12:00', 'UTC', '2026-07-31T12:00:00Z', '2026-08-31T12:00:00.000Z'],
    ['monthly:30@12:00', 'UTC', '2026-01-30T12:00:00Z', '2026-03-30T12:00:00.000Z'],
    // Leap years: the 29th of February only in 2028, 2032, ..., and not in 2100.
    ['monthly:29@12:00', 'UTC', '2027-01-29T12:00:00Z', '2027-03-29T12:00:00.000Z'],
    ['monthly:29@12:00', 'UTC', '2028-01-29T12:00:00Z', '2028-02-29T12:00:00.000Z'],
    ['monthly:29/feb@12:00', 'UTC', '2026-03-01T00:00:00Z', '2028-02-29T12:00:00.000Z'],
    ['monthly:29/feb@12:00', 'UTC', '2028-02-29T12:00:00Z', '2032-02-29T12:00:00.000Z'],
    ['monthly:29/feb@12:00', 'UTC', '2096-03-01T00:00:00Z', '2104-02-29T12:00:00.000Z'],
    ['daily@12:00', 'UTC', '2028-02-28T12:00:00Z', '2028-02-29T12:00:00.000Z'],
    ['weekly:tue@12:00', 'UTC', '2028-02-23T12:00:00Z', '2028-02-29T12:00:00.000Z'],
    ['cron:0 12 29 2 *', 'UTC', '2026-01-01T00:00:00Z', '2028-02-29T12:00:00.000Z'],
    // every: slots at multiples of the interval from local midnight, restarting at each midnight.
    ['every:30m', 'UTC', '2026-05-10T10:10:00Z', '2026-05-10T10:30:00.000Z'],
    ['every:30m', 'UTC', '2026-05-10T10:30:00Z', '2026-05-10T11:00:00.000Z'],
    ['every:4h', PARIS, '2026-05-10T07:00:00Z', '2026-05-10T10:00:00.000Z'],
    ['every:7h', 'UTC', '2026-05-10T21:00:00Z', '2026-05-11T00:00:00.000Z'],
    ['every:90m', 'UTC', '2026-05-10T22:30:00Z', '2026-05-11T00:00:00.000Z'],
    ['every:2h/08:00-20:00', PARIS, '2026-05-10T03:00:00Z', '2026-05-10T06:00:00.000Z'],
    ['every:2h/08:00-20:00', PARIS, '2026-05-10T14:00:00Z', '2026-05-10T16:00:00.000Z'],
    ['every:2h/08:00-20:00', PARIS, '2026-05-10T16:00:00Z', '2026-05-11T06:00:00.000Z'],
    ['every:2h/09:30-17:00', 'UTC', '2026-05-10T09:00:00Z', '2026-05-10T10:00:00.000Z'],
    ['every:1h/22:00-06:00', 'UTC', '2026-05-10T05:30:00Z', '2026-05-10T22:00:00.000Z'],
    ['every:1h/22:00-06:00', 'UTC', '2026-05-10T23:10:00Z', '2026-05-11T00:00:00.000Z'],
    // cron
    ['cron:*/15 9-17 * * 1-5', 'UTC', '2026-05-15T17:45:00Z', '2026-05-18T09:00:00.000Z'],
    ['cron:*/15 9-17 * * 1-5', 'UTC', '2026-05-18T09:07:00Z', '2026-05-18T09:15:00.000Z'],
    ['cron:0 0 * * 7', 'UTC', '2026-05-10T00:00:00Z', '2026-05-17T00:00:00.000Z'],
    ['cron:5/20 * * * *', 'UTC', '2026-05-10T10:45:00Z', '2026-05-10T11:05:00.000Z'],
    ['cron:0 9 * jan,jul sun', 'UTC', '2026-05-10T00:00:00Z', '2026-07-05T09:00:00.000Z'],
    // Both day fields restricted: a day matches if EITHER matches (node-cron v4 would wait for a Friday the 13th).
    ['cron:0 3 13 * fri', 'UTC', '2026-05-08T03:00:00Z', '2026-05-13T03:00:00.000Z'],
    ['cron:0 3 13 * fri', 'UTC', '2026-05-13T03:00:00Z', '2026-05-15T03:00:00.000Z'],
    // One of them starts with "*": both must match (Vixie cron), so only odd-numbered Fridays.
    ['cron:0 3 */2 * fri', 'UTC', '2026-05-01T03:00:00Z', '2026-05-15T03:00:00.000Z'],
  ]
  for (const [spec, zone, after, expected] of cases) {
    t.equal(iso(nextRun(parseSchedule(spec), ms(after), zone)), expected, `${spec} in ${zone} after ${after}`)
  }
})

t.test('nextRun across DST in Europe/Paris: a skipped slot runs at the first valid instant, a repeated one once', async (t) => {
  // 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST. 2026-10-25: 03:00 CEST (01:00Z) falls back to 02:00 CET.
  const cases: [string, string, string, string][] = [
    ['daily@01:30', PARIS, '2026-03-28T12:00:00Z', '2026-03-29T00:30:00.000Z'],
    ['daily@02:30', PARIS, '2026-03-28T12:00:00Z', '2026-03-29T01:00:00.000Z'],
    ['daily@02:30', PARIS, '2026-03-29T01:00:00Z', '2026-03-30T00:30:00.000Z'],
    ['daily@03:00', PARIS, '2026-03-28T12:00:00Z', '2026-03-29T01:00:00.000Z'],
    ['cron:30 2 * * *', PARIS, '2026-03-28T12:00:00Z', '2026-03-29T01:00:00.000Z'],
    ['daily@22:00', PARIS, '2026-03-28T21:00:00Z', '2026-03-29T20:00:00.000Z'],
    ['every:30m', PARIS, '2026-03-29T00:30:00Z', '2026-03-29T01:00:00.000Z'],
    ['every:30m', PARIS, '2026-03-29T01:00:00Z', '2026-03-29T01:30:00.000Z'],
    ['daily@02:30', 'America/New_York', '2026-03-07T12:00:00Z', '2026-03-08T07:00:00.000Z'],
    ['daily@02:30', PARIS, '2026-10-24T12:00:00Z', '2026-10-25T00:30:00.000Z'],
    ['daily@02:30', PARIS, '2026-10-25T00:30:00Z', '2026-10-26T01:30:00.000Z'],
    ['daily@02:30', PARIS, '2026-10-25T01:15:00Z', '2026-10-26T01:30:00.000Z'],
    ['cron:30 2 * * *', PARIS, '2026-10-25T00:30:00Z', '2026-10-26T01:30:00.000Z'],
    ['every:30m', PARIS, '2026-10-25T00:30:00Z', '2026-10-25T02:00:00.000Z'],
    ['daily@22:00', PARIS, '2026-10-24T20:00:00Z', '2026-10-25T21:00:00.000Z'],
    ['daily@03:00', PARIS, '2026-10-24T12:00:00Z', '2026-10-25T02:00:00.000Z'],
  ]
  for (const [spec, zone, after, expected] of cases) {
    t.equal(iso(nextRun(parseSchedule(spec), ms(after), zone)), expected, `${spec} in ${zone} after ${after}`)
  }
})

t.test('nextRun and previousRun agree: each slot is the next of the one before it, through a DST year', async (t) => {
  const specs = ['daily@02:30', 'weekly:sun@02:00', 'monthly:31@03:00', 'every:45m/01:00-04:00', 'cron:*/20 2 * * *']
  for (const spec of specs) {
    const schedule = parseSchedule(spec)
    let bad = 0
    for (let at = ms('2026-01-01T00:00:00Z'); at < ms('2027-01-01T00:00:00Z'); at += 86_400_000 + 4_567_891) {
      const next = nextRun(schedule, at, PARIS)!
      const previous = previousRun(schedule, at, PARIS)!
      if (!(next > at && previous <= at && nextRun(schedule, previous, PARIS) === next && previousRun(schedule, next, PARIS) === next)) bad++
    }
    t.equal(bad, 0, `${spec}: previous <= at < next, with nothing in between`)
  }
})

t.test('missedRun: one catch-up slot after a power-off, none when nothing was missed', async (t) => {
  // [spec, lastRunAt, now, expected]
  const cases: [string, string | undefined, string, string | undefined][] = [
    ['daily@22:00', '2026-05-01T20:00:00Z', '2026-05-05T07:00:00Z', '2026-05-04T20:00:00.000Z'],
    ['daily@22:00', '2026-05-04T20:00:00Z', '2026-05-05T07:00:00Z', undefined],
    ['daily@22:00', '2026-05-04T20:00:03Z', '2026-05-05T20:00:00Z', '2026-05-05T20:00:00.000Z'],
    ['daily@22:00', undefined, '2026-05-05T07:00:00Z', undefined],
    ['manual', '2026-05-01T20:00:00Z', '2026-05-05T07:00:00Z', undefined],
    ['weekly:mon@22:00', '2026-05-04T20:00:00Z', '2026-05-13T08:00:00Z', '2026-05-11T20:00:00.000Z'],
    ['monthly:31@03:00', '2026-03-31T01:00:00Z', '2026-05-30T08:00:00Z', undefined],
    ['monthly:31@03:00', '2026-03-31T01:00:00Z', '2026-06-02T08:00:00Z', '2026-05-31T01:00:00.000Z'],
    ['every:2h/08:00-20:00', '2026-05-08T16:00:00Z', '2026-05-11T07:30:00Z', '2026-05-11T06:00:00.000Z'],
    ['every:2h/08:00-20:00', '2026-05-08T16:00:00Z', '2026-05-11T05:59:00Z', '2026-05-10T16:00:00.000Z'],
    ['cron:0 3 13 * fri', '2026-05-08T01:00:00Z', '2026-05-14T12:00:00Z', '2026-05-13T01:00:00.000Z'],
    ['daily@02:30', '2026-03-28T01:30:00Z', '2026-03-29T06:00:00Z', '2026-03-29T01:00:00.000Z'],
    ['daily@02:30', '2026-10-25T00:30:00Z', '2026-10-25T01:45:00Z', undefined],
    ['daily@22:00', '2026-05-06T20:00:00Z', '2026-05-05T07:00:00Z', undefined],
  ]
  for (const [spec, lastRunAt, now, expected] of cases) {
    const last = lastRunAt === undefined ? undefined : ms(lastRunAt)
    t.equal(iso(missedRun(parseSchedule(spec), last, ms(now), PARIS)), expected, `${spec}: last run ${lastRunAt}, now ${now}`)
  }
})

t.test('a daemon off for five days catches up exactly one slot, then waits for the next', async (t) => {
  const schedule = parseSchedule('every:4h')
  const clock = new FakeClock(ms('2026-05-01T05:00:00Z'))
  let lastRunAt = nextRun(schedule, clock.now(), PARIS)!
  t.equal(iso(lastRunAt), '2026-05-01T06:00:00.000Z', 'ran at 08:00 CEST')
  clock.set(lastRunAt)
  clock.advance(5 * 86_400_000 + 3 * 3_600_000) // off from 08:00 on the 1st to 11:00 on the 6th: 30 slots missed
  const runs: number[] = []
  for (;;) {
    const missed = missedRun(schedule, lastRunAt, clock.now(), PARIS)
    if (missed === undefined) break
    runs.push(missed)
    lastRunAt = clock.now()
    clock.advance(60_000)
  }
  t.strictSame(runs.map(iso), ['2026-05-06T06:00:00.000Z'], 'one catch-up run, for the 08:00 slot')
  t.equal(iso(nextRun(schedule, clock.now(), PARIS)), '2026-05-06T10:00:00.000Z', 'then the 12:00 slot')
})

t.test('windows: inside and outside, across midnight, and when they close', async (t) => {
  const night = parseTimeWindow('22:00-6:00')
  t.strictSame(night, { start: '22:00', end: '06:00' })
  const office = { start: '08:00', end: '20:00' }
  const within: [typeof night, string, boolean][] = [
    [night, '2026-05-10T19:59:59Z', false],
    [night, '2026-05-10T20:00:00Z', true],
    [night, '2026-05-10T22:00:00Z', true],
    [night, '2026-05-11T03:59:59Z', true],
    [night, '2026-05-11T04:00:00Z', false],
    [night, '2026-05-11T10:00:00Z', false],
    [office, '2026-05-11T06:00:00Z', true],
    [office, '2026-05-11T17:59:59Z', true],
    [office, '2026-05-11T18:00:00Z', false],
  ]
  for (const [window, at, expected] of within) {
    t.equal(isWithinWindow(window, ms(at), PARIS), expected, `${window.start}-${window.end} at ${at}`)
  }
  const ends: [typeof night, string, string][] = [
    [night, '2026-05-10T21:00:00Z', '2026-05-11T04:00:00.000Z'],
    [night, '2026-05-11T02:00:00Z', '2026-05-11T04:00:00.000Z'],
    [night, '2026-05-11T12:00:00Z', '2026-05-11T12:00:00.000Z'],
    [office, '2026-05-11T06:00:00Z', '2026-05-11T18:00:00.000Z'],
    // The fall-back night lasts an hour longer; the spring-forward night an hour shorter.
    [night, '2026-10-24T21:00:00Z', '2026-10-25T05:00:00.000Z'],
    [night, '2026-03-28T22:00:00Z', '2026-03-29T04:00:00.000Z'],
    // An end skipped by the spring-forward closes the window at 03:00 CEST.
    [{ start: '01:00', end: '02:30' }, '2026-03-29T00:10:00Z', '2026-03-29T01:00:00.000Z'],
    // An end repeated by the fall-back: the 02:30 that follows, in either pass.
    [{ start: '22:00', end: '02:30' }, '2026-10-25T00:15:00Z', '2026-10-25T00:30:00.000Z'],
    [{ start: '22:00', end: '02:30' }, '2026-10-25T01:15:00Z', '2026-10-25T01:30:00.000Z'],
  ]
  for (const [window, at, expected] of ends) {
    t.equal(iso(windowEnd(window, ms(at), PARIS)), expected, `${window.start}-${window.end} from ${at}`)
  }
  t.throws(() => parseTimeWindow('22:00-22:00'), {
    code: 'INVALID_ARGUMENT',
    message: `Invalid window "22:00-22:00": a window's start and end must differ, received "22:00-22:00"`,
  })
  t.throws(() => isWithinWindow({ start: '25:00', end: '06:00' }, 0, PARIS), {
    code: 'INVALID_ARGUMENT',
    message: 'Invalid window {"start":"25:00","end":"06:00"}: "25:00" is not a time of day (HH:MM, 00:00..23:59)',
  })
})

t.test('time zones are checked by name', async (t) => {
  t.equal(checkTimeZone('europe/paris'), 'Europe/Paris')
  t.equal(checkTimeZone('UTC'), 'UTC')
  const message = 'Invalid time zone "Mars/Base": not an IANA time zone name (for example "Europe/Paris")'
  t.throws(() => checkTimeZone('Mars/Base'), { code: 'INVALID_ARGUMENT', message })
  t.throws(() => nextRun(parseSchedule('daily@22:00'), 0, 'Mars/Base'), { code: 'INVALID_ARGUMENT', message })
  t.throws(() => checkTimeZone(''), { code: 'INVALID_ARGUMENT', message: 'Invalid time zone "": not an IANA time zone name (for example "Europe/Paris")' })
})

t.test('checkSchedule: schedules read back from config are checked field by field', async (t) => {
  const where = 'plan "laptop" in device.json'
  t.strictSame(checkSchedule({ kind: 'weekly', weekdays: [4, 1], at: '22:00' }, where), { kind: 'weekly', weekdays: [1, 4], at: '22:00' })
  t.strictSame(checkSchedule({ kind: 'every', intervalMinutes: 120, window: { start: '08:00', end: '20:00' } }, where), parseSchedule('every:2h/08:00-20:00'))
  const cases: [unknown, string][] = [
    ['daily@22:00', '"schedule" must be an object, received "daily@22:00"'],
    [{ kind: 'hourly' }, '"schedule.kind" must be one of manual, daily, weekly, monthly, every, cron, received "hourly"'],
    [{ kind: 'weekly', weekdays: [9], at: '22:00' }, '"schedule.weekdays" must be weekdays 1-7 (Monday = 1), received [9]'],
    [{ kind: 'weekly', weekdays: [], at: '22:00' }, '"schedule.weekdays" must be weekdays 1-7 (Monday = 1), received []'],
    [{ kind: 'daily', at: 2200 }, '"schedule.at" must be a time of day "HH:MM", received 2200'],
    [{ kind: 'daily', at: '22:00', weekdays: [1] }, '"schedule.weekdays" must be absent for kind "daily", received [1]'],
    [{ kind: 'monthly', days: [1.5], at: '03:00' }, '"schedule.days" must be days of the month 1-31, received [1.5]'],
    [{ kind: 'monthly', days: [1], months: [13], at: '03:00' }, '"schedule.months" must be months 1-12 (January = 1), received [13]'],
    [{ kind: 'every', intervalMinutes: 0 }, '"schedule.intervalMinutes" must be a whole number of minutes from 1 to 1440, received 0'],
    [{ kind: 'every', intervalMinutes: 60, window: { start: '08:00' } }, '"schedule.window.end" must be a time of day "HH:MM", received undefined'],
    [{ kind: 'daily', at: '24:00' }, '"schedule" is "daily@24:00": "24:00" is not a time of day (HH:MM, 00:00..23:59)'],
    [{ kind: 'monthly', days: [31], months: [4], at: '03:00' }, '"schedule" is "monthly:31/apr@03:00": day 31 never occurs in apr: the schedule would never run'],
    [{ kind: 'cron', expr: '61 * * * *' }, '"schedule" is "cron:61 * * * *": minute field "61": "61" is not a minute (0..59)'],
  ]
  for (const [value, detail] of cases) {
    t.throws(() => checkSchedule(value, where), { code: 'INVALID_ARGUMENT', message: `Invalid ${where}: ${detail}` }, JSON.stringify(value))
  }
})

t.test('civil dates: days since 1970 and back, ISO weekdays', async (t) => {
  t.equal(daysFromCivil(1970, 1, 1), 0)
  t.equal(daysFromCivil(2028, 2, 29), Date.UTC(2028, 1, 29) / 86_400_000)
  t.strictSame(civilFromDays(daysFromCivil(2100, 3, 1) - 1), { year: 2100, month: 2, day: 28 }, '2100 is not a leap year')
  t.strictSame(civilFromDays(daysFromCivil(2000, 3, 1) - 1), { year: 2000, month: 2, day: 29 }, '2000 is')
  t.equal(isoWeekday(0), 4, '1970-01-01 was a Thursday')
  t.equal(isoWeekday(daysFromCivil(2026, 5, 10)), 7, '2026-05-10 is a Sunday')
  t.equal(isoWeekday(-1), 3, 'before 1970 too')
  let mismatches = 0
  for (let days = -30_000; days < 60_000; days += 7) {
    const date = civilFromDays(days)
    if (Date.UTC(date.year, date.month - 1, date.day) !== days * 86_400_000 || daysFromCivil(date.year, date.month, date.day) !== days) mismatches++
  }
  t.equal(mismatches, 0, 'agrees with Date.UTC from 1887 to 2134')
})
