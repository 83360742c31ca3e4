/**
 * The one place tests choose cheap KDF parameters and passphrases, and how they run the real CLI.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { TEST_KDF } from '../../src/dedup/key-slot.js'

export { TEST_KDF }
export const PASSPHRASE = 'test passphrase of more than twenty chars'
export const OTHER_PASSPHRASE = 'another passphrase, also long enough'
export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js')

/** The directory caches of this test process's CLI runs (never the user's own), removed when it exits. */
let cacheDir: string | undefined
function testCacheDir(): string {
  if (cacheDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'arca-test-cache-'))
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
    cacheDir = dir
  }
  return cacheDir
}

/** Environment for CLI child processes: cheap KDF, the test passphrase, a directory cache of the test's own. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ARCA_PASSPHRASE: PASSPHRASE, ARCA_INSECURE_TEST_KDF: '1', ARCA_CACHE_DIR: testCacheDir(), ...extra }
  for (const k of Object.keys(extra)) if (extra[k] === '') delete env[k]
  return env
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export function runCli(args: string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [CLI, ...args], { env: cliEnv(options.env), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1
      resolvePromise({ code, stdout, stderr })
    })
  })
}

export function spawnCli(args: string[], options: { env?: Record<string, string> } = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] })
}

/** A fresh temp directory removed in teardown. */
export function tempDir(t: { teardown: (fn: () => void) => void }, prefix = 'arca-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
