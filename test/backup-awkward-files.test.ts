/**
 * Files a backup cannot read cleanly, through the real CLI: an unreadable file is reported and skipped while the
 * rest is backed up (and read on the first run that can open it); a file that grows while being read is reported,
 * the snapshot holds what was read, and the next incremental reads it again; a name that is not valid UTF-8 is
 * reported and skipped.
 *
 * Root ignores mode 000, so as root the backup runs under setpriv without CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH: still uid 0 (the store and node_modules stay reachable), but bound by the mode bits.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { CLI, cliEnv, runCli, tempDir, type CliResult } from './helpers/env.js'
import { pseudoRandom } from './helpers/rng.js'

const MIB = 1024 * 1024
const IS_ROOT = process.getuid?.() === 0
/** Drops the two capabilities that let root read past mode bits, for the child and everything it executes. */
const SETPRIV_FLAGS = ['--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search']
/** Keeps tap's per-process instrumentation (NODE_OPTIONS --import) out of the CLI children: it triples their startup. */
const ENV = { NODE_OPTIONS: '' }

/** `command args` as the test user, or as root without the capabilities that bypass file modes. */
function runBoundByModes(command: string, args: string[]): Promise<CliResult> {
  const [file, argv] = IS_ROOT ? ['setpriv', [...SETPRIV_FLAGS, command, ...args]] : [command, args]
  return new Promise((resolve) => {
    execFile(file, argv, { env: cliEnv(ENV), maxBuffer: 64 * MIB }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args, { env: ENV })
  if (r.code !== 0) throw new Error(`arca ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

/** Paths `arca ls SNAPSHOT DIR --json` lists below `dir` (not `dir` itself). */
async function listedPaths(repo: string, snapshot: string, dir: string): Promise<string[]> {
  const lines = (await ok(['ls', '--repo', repo, snapshot, dir, '--json'])).trim().split('\n')
  return lines.map((line) => (JSON.parse(line) as { path: string }).path).filter((p) => p.startsWith(dir + '/'))
}

/** A temporary directory with an empty `data` folder to back up and the path of a repository beside it. */
function workspace(t: Test): { dir: string; data: string; repo: string } {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  mkdirSync(data)
  return { dir, data, repo: join(dir, 'repo') }
}

t.test('an unreadable file is reported and skipped, the rest is backed up, and a later run reads it', async (t) => {
  const { dir, data, repo } = workspace(t)
  const readable = join(data, 'readable.bin')
  const locked = join(data, 'locked.bin')
  const readableBytes = pseudoRandom(11, 300 * 1024 + 7)
  const lockedBytes = pseudoRandom(12, 200 * 1024 + 3)
  writeFileSync(readable, readableBytes)
  writeFileSync(locked, lockedBytes)
  chmodSync(locked, 0o000)
  await ok(['init', '--repo', repo])

  const probe = await runBoundByModes(process.execPath, ['-e', 'require("fs").openSync(process.argv[1], "r")', locked])
  t.match(probe.stderr, /EACCES/, 'premise: the backup child cannot open a mode-000 file', { found: probe })

  const first = await runBoundByModes(process.execPath, [CLI, 'backup', '--repo', repo, '--plan', 'home', '--json', data])
  t.equal(first.code, 0, 'a backup with warnings exits 0', { found: first.stderr })
  t.match(
    first.stderr,
    `warning: ${JSON.stringify(locked)}: cannot open: EACCES: permission denied`,
    'stderr names the file that could not be opened',
  )
  t.notMatch(first.stderr, 'readable.bin', 'and no other file')
  const report = JSON.parse(first.stdout)
  t.same(report.warnings, [{ path: locked, reason: `cannot open: EACCES: permission denied, open '${locked}'` }], 'the JSON report lists the warning')
  t.equal(report.warningCount, 1)
  t.match(report.stats, { filesNew: 1, filesSkipped: 1, filesChanged: 0, filesUnchanged: 0 }, 'one file read, one skipped')
  t.equal(report.stats.bytesRead, readableBytes.length, 'only the readable file was read')

  const snapshots = JSON.parse(await ok(['snapshots', '--repo', repo, '--json']))
  t.equal(snapshots.length, 1, 'the snapshot was committed')
  t.equal(snapshots[0].id, report.snapshot)
  t.equal(snapshots[0].warningCount, 1, 'the snapshot keeps the warning count')
  t.equal(snapshots[0].files, 1, 'the snapshot counts only the file it holds')
  t.equal(snapshots[0].logicalBytes, readableBytes.length, 'and only its bytes')
  t.same(await listedPaths(repo, report.snapshot, data), [readable], 'the snapshot holds the readable file and no entry for the skipped one')

  const restored = join(dir, 'restored-1')
  await ok(['restore', '--repo', repo, report.snapshot, '--target', restored])
  t.ok(readFileSync(join(restored, readable)).equals(readableBytes), 'the readable file restores byte for byte')
  t.notOk(existsSync(join(restored, locked)), 'the skipped file is not restored')

  chmodSync(locked, 0o644)
  const second = await runBoundByModes(process.execPath, [CLI, 'backup', '--repo', repo, '--plan', 'home', '--json', data])
  t.equal(second.code, 0, 'the run after chmod 644 succeeds', { found: second.stderr })
  t.equal(second.stderr, '', 'without warnings')
  const secondReport = JSON.parse(second.stdout)
  t.equal(secondReport.mode, 'incremental')
  t.same(secondReport.warnings, [])
  t.match(secondReport.stats, { filesNew: 1, filesUnchanged: 1, filesSkipped: 0, bytesRead: lockedBytes.length }, 'only the formerly locked file is read')
  const restoredAgain = join(dir, 'restored-2')
  await ok(['restore', '--repo', repo, secondReport.snapshot, '--target', restoredAgain])
  t.same(readdirSync(join(restoredAgain, data)).sort(), ['locked.bin', 'readable.bin'], 'the new snapshot holds both files')
  t.ok(readFileSync(join(restoredAgain, locked)).equals(lockedBytes), 'the formerly locked file restores byte for byte')
  t.ok(readFileSync(join(restoredAgain, readable)).equals(readableBytes), 'and the readable one still does')
})

/** Appends 4 KiB blocks (each starting with its counter) about every millisecond until killed; says "appending" after the first. */
const WRITER = `
const fs = require('fs')
const file = process.argv[1]
const pause = new Int32Array(new SharedArrayBuffer(4))
const block = Buffer.alloc(4096, 0x5a)
for (let i = 0; ; i++) {
  block.writeUInt32LE(i, 0)
  fs.appendFileSync(file, block)
  if (i === 0) process.stdout.write('appending\\n')
  Atomics.wait(pause, 0, 0, 1)
}
`

function startWriter(t: Test, file: string): { child: ChildProcess; started: Promise<void>; exited: Promise<void> } {
  const child = spawn(process.execPath, ['-e', WRITER, file], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const started = new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('appending\n')) resolve()
    })
    child.once('exit', (code, signal) => reject(new Error(`The writer exited before appending: code ${code}, signal ${signal}`)))
  })
  return { child, started, exited }
}

t.test('a file growing while being read is reported, and the next incremental reads it again', async (t) => {
  const { dir, data, repo } = workspace(t)
  const growing = join(data, 'growing.log')
  const initialBytes = 48 * MIB
  writeFileSync(growing, pseudoRandom(21, initialBytes))
  await ok(['init', '--repo', repo])

  const writer = startWriter(t, growing)
  await writer.started
  const first = await runCli(['backup', '--repo', repo, '--plan', 'logs', '--json', data], { env: ENV })
  t.ok(writer.child.exitCode === null && writer.child.signalCode === null, 'the writer was still appending when the backup ended')
  writer.child.kill('SIGKILL')
  await writer.exited

  t.equal(first.code, 0, 'the backup succeeds', { found: first.stderr })
  const reason = 'file changed while being read; the snapshot holds what was read and the next run reads it again'
  t.match(first.stderr, `warning: ${JSON.stringify(growing)}: ${reason}`, 'stderr names the file that changed')
  const report = JSON.parse(first.stdout)
  t.same(report.warnings, [{ path: growing, reason }], 'the JSON report lists exactly that warning')
  t.equal(report.warningCount, 1)
  t.match(report.stats, { filesNew: 1, filesSkipped: 0 }, 'the file is backed up, not skipped')
  t.ok(report.stats.bytesRead >= initialBytes, `the whole file as it was at the start was read (${report.stats.bytesRead} bytes)`)

  const final = readFileSync(growing)
  t.ok(final.length > initialBytes, `the writer appended (${final.length - initialBytes} bytes)`)
  const restoredFirst = join(dir, 'restored-1')
  // restoring the snapshot by its id also shows it was committed
  await ok(['restore', '--repo', repo, `${report.snapshot}:${growing}`, '--target', restoredFirst])
  const held = readFileSync(join(restoredFirst, 'growing.log'))
  t.equal(held.length, report.stats.bytesRead, 'the snapshot holds exactly the bytes that were read')
  const [snapshot] = JSON.parse(await ok(['snapshots', '--repo', repo, '--json']))
  t.equal(snapshot.logicalBytes, report.stats.bytesRead, 'its size is what was read, not the size seen before reading')
  t.ok(held.equals(final.subarray(0, held.length)), 'and they are a prefix of the file as it ended up')

  const second = await runCli(['backup', '--repo', repo, '--plan', 'logs', '--json', data], { env: ENV })
  t.equal(second.code, 0, 'the next incremental succeeds', { found: second.stderr })
  t.equal(second.stderr, '', 'without warnings once the writer has stopped')
  const secondReport = JSON.parse(second.stdout)
  t.equal(secondReport.mode, 'incremental')
  t.match(secondReport.stats, { filesChanged: 1, filesUnchanged: 0, filesNew: 0, bytesRead: final.length }, 'the file is read again, whole')
  const restoredSecond = join(dir, 'restored-2')
  await ok(['restore', '--repo', repo, `${secondReport.snapshot}:${growing}`, '--target', restoredSecond])
  t.ok(readFileSync(join(restoredSecond, 'growing.log')).equals(final), 'the second snapshot restores the file as it is on disk')
})

t.test('a name that is not valid UTF-8 is reported and skipped, the rest of its directory is backed up', async (t) => {
  const { data, repo } = workspace(t)
  const badName = Buffer.concat([Buffer.from(data + '/latin1-'), Buffer.from([0xe9]), Buffer.from('t\u00e9.txt')])
  writeFileSync(badName, 'bytes of a file with a Latin-1 name\n')
  writeFileSync(join(data, 'fine.txt'), 'fine\n')
  await ok(['init', '--repo', repo])
  const r = await runCli(['backup', '--repo', repo, '--plan', 'home', '--json', data], { env: ENV })
  t.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  t.same(report.warnings, [{ path: `${data}/latin1-\ufffdt\u00e9.txt`, reason: 'name is not valid UTF-8: not backed up' }], 'the name is shown with U+FFFD')
  t.match(report.stats, { filesNew: 1, filesSkipped: 1 })
  t.same(await listedPaths(repo, report.snapshot, data), [join(data, 'fine.txt')])
  const again = JSON.parse((await runCli(['backup', '--repo', repo, '--plan', 'home', '--json', data], { env: ENV })).stdout)
  t.match(again.stats, { filesUnchanged: 1, filesSkipped: 1, bytesRead: 0 }, 'reported again on the next run, nothing read')
})
