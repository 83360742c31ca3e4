/**
 * What every command needs: the store named by --repo, the credentials from the environment or files, the clock
 * and the output streams. The only place that reads ARCA_* variables.
 */
import { readFileSync } from 'node:fs'
import { systemClock, type Clock } from '../core/clock.js'
import { ArcaError } from '../core/errors.js'
import { DEFAULT_KDF, TEST_KDF, type KdfParams } from '../dedup/key-slot.js'
import { LocalStore } from '../node/local-store.js'
import type { Store } from '../protocol/store.js'
import { Repository, type Credentials } from '../repo/repository.js'
import { SealPool } from '../repo/seal-pool.js'
import { single, type ParsedArgs } from './args.js'

export interface Io {
  out: (line: string) => void
  err: (line: string) => void
  env: NodeJS.ProcessEnv
  clock: Clock
}

export const defaultIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  env: process.env,
  clock: systemClock,
}

export const REPO_OPTIONS = {
  repo: { value: true },
  'passphrase-file': { value: true },
  'recovery-key-file': { value: true },
} as const

export function repoDir(args: ParsedArgs, io: Io): string {
  const dir = single(args, 'repo') ?? io.env.ARCA_REPO
  if (dir === undefined || dir === '') throw ArcaError.invalidArgument('No store given: pass --repo DIR (or set ARCA_REPO)')
  return dir
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '')
  } catch (err) {
    throw ArcaError.invalidArgument(`Cannot read ${what} file "${path}": ${(err as Error).message}`)
  }
}

export function passphrase(args: ParsedArgs, io: Io): string | undefined {
  const file = single(args, 'passphrase-file')
  if (file !== undefined) return readSecretFile(file, 'passphrase')
  return io.env.ARCA_PASSPHRASE
}

export function credentials(args: ParsedArgs, io: Io): Credentials {
  const rkFile = single(args, 'recovery-key-file')
  if (rkFile !== undefined) return { recoveryKey: readSecretFile(rkFile, 'recovery key') }
  const pass = passphrase(args, io)
  if (pass !== undefined) return { passphrase: pass }
  if (io.env.ARCA_RECOVERY_KEY !== undefined) return { recoveryKey: io.env.ARCA_RECOVERY_KEY }
  throw ArcaError.invalidArgument('No passphrase given: set ARCA_PASSPHRASE or pass --passphrase-file FILE')
}

/** ARCA_INSECURE_TEST_KDF=1 selects cheap scrypt parameters; for test suites only. */
export function kdfParams(io: Io): KdfParams {
  return io.env.ARCA_INSECURE_TEST_KDF === '1' ? TEST_KDF : DEFAULT_KDF
}

export async function openStore(args: ParsedArgs, io: Io, options: { create?: boolean } = {}): Promise<Store> {
  return LocalStore.open(repoDir(args, io), { create: options.create, log: (m) => io.err(`arca: ${m}`) })
}

/** Opens store and vault, runs `fn`, and always closes both (flushing what was written). */
export async function withRepository<T>(args: ParsedArgs, io: Io, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const store = await openStore(args, io)
  try {
    const repo = await Repository.open(store, credentials(args, io))
    return await fn(repo)
  } finally {
    await store.close()
  }
}

export async function withPool<T>(repo: Repository, fn: (pool: SealPool) => Promise<T>): Promise<T> {
  const pool = new SealPool(repo.keys, { zstdLevel: repo.config.zstdLevel })
  try {
    return await fn(pool)
  } finally {
    await pool.close()
  }
}
