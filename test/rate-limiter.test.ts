/**
 * The upload limit's token bucket, under a fake clock whose sleeps advance it: bytes go out at the set rate, in
 * order, with one second of burst.
 */
import t from 'tap'
import { RateLimiter } from '../src/agent/rate-limiter.js'
import { FakeClock } from '../src/core/clock.js'

t.test('a token bucket: one second of burst, then the set rate, callers in order', async (t) => {
  const clock = new FakeClock(0)
  const sleeps: number[] = []
  const limiter = new RateLimiter(100_000, clock, async (ms) => {
    sleeps.push(ms)
    clock.advance(ms)
  })
  const done: [string, number][] = []
  const take = (name: string, bytes: number) => limiter.take(bytes).then(() => done.push([name, clock.now()]))
  await Promise.all([take('a', 60_000), take('b', 40_000), take('c', 50_000), take('d', 100_000), take('e', 250_000)])
  t.same(done, [
    ['a', 0], ['b', 0], // the first second's burst
    ['c', 500], // 50 kB more at 100 kB/s
    ['d', 1500],
    ['e', 2500], // larger than the burst: goes when the bucket is full, leaving a debt
  ])
  await take('f', 10_000)
  t.equal(done[5][1], 4100, 'f waits for the debt e left (150 kB, 1.5 s) and its own 10 kB (0.1 s) after e')
  t.ok(sleeps.every((ms) => ms > 0), 'it never spins without sleeping')
})
