/**
 * The terminal progress line: counts, bytes, speed, and with a known total a bar and an ETA, from a fake clock.
 */
import { Writable } from 'node:stream'
import t from 'tap'
import { formatBytes, formatDuration, ProgressLine } from '../src/cli/progress.js'
import { FakeClock } from '../src/core/clock.js'

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let out = ''
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += chunk.toString()
      cb()
    },
  }) as unknown as NodeJS.WriteStream
  ;(stream as { columns?: number }).columns = 120
  return { stream, text: () => out }
}

t.test('bar, speed and ETA', async (t) => {
  const clock = new FakeClock(1_000_000)
  const { stream, text } = capture()
  const line = new ProgressLine(clock, stream, true)
  clock.advance(2000)
  line.update('restore', 10, 50 * 1024 * 1024, 100 * 1024 * 1024)
  t.match(text(), /^\r\[##########\.\.\.\.\.\.\.\.\.\.\] 50% restore 10 files, 50\.0 MiB, 25\.0 MiB\/s, ETA 2s/)
  line.done()
  t.match(text(), /\r\x1b\[K$/)
})

t.test('redraws at most every 100 ms, and fits a terminal without a width', async (t) => {
  const clock = new FakeClock(0)
  const { stream, text } = capture()
  ;(stream as { columns?: number }).columns = 0
  const line = new ProgressLine(clock, stream, true)
  clock.advance(1000)
  line.update('backup', 1, 1024)
  clock.advance(50)
  line.update('backup', 2, 2048)
  t.equal(text().split('\r').filter((l) => l !== '').length, 1, 'second update within 100 ms skipped')
  t.match(text(), /backup 1 files, 1.00 KiB, 1.00 KiB\/s /, 'the speed unit is complete')
  clock.advance(100)
  line.update('backup', 3, 4096)
  t.match(text(), /backup 3 files/)
})

t.test('disabled when not a terminal', async (t) => {
  const { stream, text } = capture()
  const line = new ProgressLine(new FakeClock(0), stream, false)
  line.update('backup', 1, 1)
  line.done()
  t.equal(text(), '')
})

t.test('units', async (t) => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1536), '1.50 KiB')
  t.equal(formatBytes(200 * 1024 * 1024), '200.0 MiB')
  t.equal(formatDuration(59_000), '59s')
  t.equal(formatDuration(61_000), '1m01s')
  t.equal(formatDuration(3_723_000), '1h02m')
})
