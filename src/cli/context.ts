/**
 * What every command needs: the store named by --repo, the credentials from the environment or files, the clock
 * and the output streams. The only place that reads ARCA_* variables.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { systemClock, type Clock } from '../core/clock.js'
import { ArcaError } from '../core/errors.js'
import { DEFAULT_KDF, TEST_KDF, type KdfParams } from '../dedup/key-slot.js'
import { LocalStore } from '../node/local-store.js'
import type { Store } from '../protocol/store.js'
import { Repository, type Credentials } from '../repo/repository.js'
import { SealPool } from '../repo/seal-pool.js'
import { readAgentConfig, type Plan } from '../agent/agent-config.js'
import type { NodeLink } from '../agent/plan-runner.js'
import type { RunReport } from '../agent/run-report.js'
import type { RunSummary } from '../protocol/messages.js'
import { planId } from '../repo/snapshot.js'
import { formatSchedule } from '../schedule/index.js'
import { arcaHome, readDeviceConfig } from '../agent/device-config.js'
import type { RemoteStore } from '../agent/remote-store.js'
import type { ClientSession } from '../protocol/client-session.js'
import { parseArgs, single, type ParsedArgs } from './args.js'

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
  if (dir === undefined || dir === '') throw ArcaError.invalidArgument('No store given: pass --repo DIR (or set ARCA_REPO), or pair this device with a node (arca pair INVITE)')
  return dir
}

function hasRepoDir(args: ParsedArgs, io: Io): boolean {
  const dir = single(args, 'repo') ?? io.env.ARCA_REPO
  return dir !== undefined && dir !== ''
}

/** Directories a backup must skip: the local store itself. */
export function storeDirs(args: ParsedArgs, io: Io): string[] {
  return hasRepoDir(args, io) ? [repoDir(args, io)] : []
}

/**
 * Where the device keeps what it remembers between backups (the directory cache): ARCA_CACHE_DIR, else
 * ARCA_HOME/cache; none with --no-cache.
 */
export function cacheDir(args: ParsedArgs, io: Io): string | undefined {
  if (args.flags.has('no-cache')) return undefined
  const dir = io.env.ARCA_CACHE_DIR
  return dir !== undefined && dir !== '' ? dir : join(arcaHome(io.env), 'cache')
}

/** The device name snapshots carry by default: the paired name when backing up to a node. */
export function defaultDeviceName(args: ParsedArgs, io: Io): string | undefined {
  if (hasRepoDir(args, io)) return undefined
  return readDeviceConfig(arcaHome(io.env))?.device.name
}

/** Where commands read and write: the --repo directory, or the paired node and vault. */
export function storeLabel(args: ParsedArgs, io: Io): string {
  if (hasRepoDir(args, io)) return repoDir(args, io)
  const cfg = readDeviceConfig(arcaHome(io.env))
  return cfg === undefined ? '(no store)' : `vault "${cfg.node.vault}" on node "${cfg.node.name}"`
}

/**
 * Connects to the node this device is paired with (ARCA_HOME/device.json). The network stack (Noise, the DHT) is
 * loaded here, on first use, so that commands on an embedded store start without it.
 */
export async function openRemoteStore(io: Io, options: { uploadLimitBytesPerSec?: number } = {}): Promise<RemoteStore> {
  const cfg = readDeviceConfig(arcaHome(io.env))
  if (cfg === undefined) repoDir(parseArgs('', [], {}), io)
  const [{ connectToNode }, { deviceKeyPair }, { RemoteStore }] = await Promise.all([
    import('../agent/node-connector.js'), import('../agent/pairing.js'), import('../agent/remote-store.js'),
  ])
  const node = cfg!.node
  const keyPair = deviceKeyPair(cfg!)
  const target = { publicKey: Buffer.from(node.publicKey, 'hex'), addresses: node.addresses, bootstrap: node.bootstrap, transport: node.transport }
  const connect = (): Promise<ClientSession> => connectToNode(keyPair, target, { dhtHost: dhtHost(io) })
  return RemoteStore.connect(connect, { clock: io.clock, log: (m) => io.err(`arca: ${m}`), uploadLimitBytesPerSec: options.uploadLimitBytesPerSec })
}

/** ARCA_DHT_HOST: the address this process's DHT nodes bind to (default all interfaces; tests use 127.0.0.1). */
export function dhtHost(io: Io): string | undefined {
  const h = io.env.ARCA_DHT_HOST
  return h === undefined || h === '' ? undefined : h
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
  if (!hasRepoDir(args, io) && readDeviceConfig(arcaHome(io.env)) !== undefined) return openRemoteStore(io)
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

/** Opens what a plan backs up into (its --repo directory or the paired node), with the vault and a seal pool. */
export async function withPlanTarget<T>(plan: Plan, args: ParsedArgs, io: Io, fn: (repo: Repository, pool: SealPool, destination: string, node?: NodeLink) => Promise<T>): Promise<T> {
  const remote = plan.repo === undefined ? await openRemoteStore(io, { uploadLimitBytesPerSec: plan.uploadLimitBytesPerSec }) : undefined
  const store = remote ?? (await LocalStore.open(plan.repo!, { log: (m) => io.err(`arca: ${m}`) }))
  const destination = plan.repo ?? storeLabel(args, io)
  let hasFailed = false
  try {
    const repo = await Repository.open(store, credentials(args, io))
    let node: NodeLink | undefined
    if (remote !== undefined) {
      await registerPlans(remote, repo, io).catch((err: Error) => io.err(`arca: registering the plan schedules with the node failed: ${err.message}`))
      node = { reportRun: (report) => remote.reportRun(runSummary(report, planId(repo.keys, plan.name))) }
    }
    return await withPool(repo, (pool) => fn(repo, pool, destination, node))
  } catch (err) {
    hasFailed = true
    throw err
  } finally {
    // after a failure, closing (which flushes what was uploaded) must not hide the failure
    await store.close().catch((err) => {
      if (!hasFailed) throw err
    })
  }
}

/** Registers with the node the schedules of every plan that backs up to it (never their paths). */
export async function registerPlans(store: RemoteStore, repo: Repository, io: Io): Promise<void> {
  const config = readAgentConfig(arcaHome(io.env))
  const plans = config.plans.filter((p) => p.repo === undefined)
  await store.registerPlans({
    timeZone: config.timeZone,
    plans: plans.map((p) => ({ planId: planId(repo.keys, p.name), name: p.name, schedule: formatSchedule(p.schedule) })),
  })
}

function runSummary(r: RunReport, id: Uint8Array): RunSummary {
  return {
    planId: id, outcome: r.outcome, startedAt: r.startedAt, finishedAt: r.finishedAt, filesNew: r.files.new, filesChanged: r.files.changed,
    bytesRead: r.bytes.read, bytesNew: r.bytes.new, bytesStored: r.bytes.stored, warningCount: r.warningCount,
  }
}

/** At agent start: tells the paired node the plans' schedules, so it can notice a missed backup. Never throws. */
export async function registerPlansAtStart(args: ParsedArgs, io: Io, log: (message: string) => void): Promise<void> {
  if (readDeviceConfig(arcaHome(io.env)) === undefined) return
  try {
    const store = await openRemoteStore(io)
    try {
      const repo = await Repository.open(store, credentials(args, io))
      await registerPlans(store, repo, io)
      log('Registered the plan schedules with the node')
    } finally {
      await store.close()
    }
  } catch (err) {
    log(`Could not register the plan schedules with the node (retried at each run): ${(err as Error).message}`)
  }
}
