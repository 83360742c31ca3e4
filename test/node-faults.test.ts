/**
 * Faults on the network path: a connection cut mid-backup (the agent reconnects and continues), a node killed
 * with SIGKILL mid-upload and restarted (the agent reconnects, sends again what the node lost, and the vault
 * checks clean), and an agent killed mid-backup (the rerun sends only what is missing).
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { systemClock } from '../src/core/clock.js'
import { Repository } from '../src/repo/repository.js'
import { backup } from '../src/repo/archiver.js'
import { SealPool } from '../src/repo/seal-pool.js'
import { compareTrees } from './helpers/compare-trees.js'
import { pseudoRandom } from './helpers/rng.js'
import { PASSPHRASE, runCli, spawnCli, tempDir, TEST_KDF, type CliResult } from './helpers/env.js'
import { freePort, initNodeDir, startNodeProcess } from './helpers/node-process.js'
import { connectRemote, pairTestDevice, startTestNode } from './helpers/test-node.js'

const MIB = 1024 * 1024


function makeData(root: string, files: number, sizeBytes: number): number {
  mkdirSync(root, { recursive: true })
  for (let i = 0; i < files; i++) writeFileSync(join(root, `f${i}.bin`), pseudoRandom(i + 1, sizeBytes + i))
  mkdirSync(join(root, 'small'))
  for (let i = 0; i < 50; i++) writeFileSync(join(root, 'small', `s${i}.txt`), `small file ${i}\n`.repeat(i + 1))
  return files * sizeBytes
}

/** Bytes of the pack files of every vault of a node data directory. */
function vaultPackBytes(nodeDir: string): number {
  let total = 0
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.pack')) total += statSync(p).size
    }
  }
  walk(join(nodeDir, 'vaults'))
  return total
}

/** Resolves once `probe()` holds, checking every few milliseconds; rejects after `timeoutMs`. */
function until(probe: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const started = systemClock.now()
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (probe()) {
        clearInterval(timer)
        resolve()
      } else if (systemClock.now() - started > timeoutMs) {
        clearInterval(timer)
        reject(new Error(`Timed out waiting for ${what}`))
      }
    }, 5)
  })
}

function ok(t: Test, r: CliResult, what: string): void {
  t.equal(r.code, 0, `${what} exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
}

t.test('a connection cut mid-backup: the agent reconnects and the backup completes', async (t) => {
  const dir = tempDir(t)
  const node = await startTestNode(join(dir, 'node'))
  t.teardown(() => node.close())
  const device = await pairTestDevice(node, 'v', 'laptop')
  const store = await connectRemote(device)
  const src = join(dir, 'src')
  makeData(src, 6, 3 * MIB)
  const repo = await Repository.init(store, PASSPHRASE, { clock: systemClock, kdf: TEST_KDF })
  const pool = new SealPool(repo.keys, { zstdLevel: repo.config.zstdLevel })
  t.teardown(() => pool.close())
  const vault = await node.service.vault('v')
  let cuts = 0
  const cutter = until(() => vault.store.usedBytes > 6 * MIB, 'some upload').then(() => {
    cuts = node.service.disconnect(device.keyPair.publicKey.toString('hex'))
  })
  const result = await backup(repo, { plan: 'p', paths: [src], mode: 'incremental', clock: systemClock, pool })
  await cutter
  t.equal(cuts, 1, 'the connection was cut during the backup')
  t.ok(store.reconnects >= 1, `the agent reconnected (${store.reconnects} times)`)
  t.equal(result.stats.filesNew, 56, 'every file was backed up')
  await store.close()
  const again = await connectRemote(device)
  t.teardown(() => again.close())
  const reopened = await Repository.open(again, { passphrase: PASSPHRASE })
  t.equal((await reopened.listSnapshots()).length, 1, 'the snapshot is committed')
})

t.test('the node killed with SIGKILL mid-upload and restarted: the backup completes and checks clean', async (t) => {
  const dir = tempDir(t)
  const nodeDir = join(dir, 'node')
  await initNodeDir(nodeDir)
  const port = await freePort()
  const node = await startNodeProcess(t, nodeDir, port)
  const home = join(dir, 'home')
  const inv = await runCli(['node', 'invite', '--data', nodeDir, '--vault', 'v', '--json'])
  ok(t, await runCli(['pair', JSON.parse(inv.stdout).invite, '--name', 'laptop'], { env: { ARCA_HOME: home } }), 'pair')
  ok(t, await runCli(['init'], { env: { ARCA_HOME: home } }), 'init')
  const src = join(dir, 'src')
  makeData(src, 8, 8 * MIB)

  const agent = spawnCli(['backup', '--plan', 'p', '--json', src], { env: { ARCA_HOME: home } })
  let agentOut = ''
  let agentErr = ''
  agent.stdout!.on('data', (d: Buffer) => (agentOut += d.toString()))
  agent.stderr!.on('data', (d: Buffer) => (agentErr += d.toString()))
  const agentExit = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    agent.kill('SIGKILL')
  })
  await until(() => vaultPackBytes(nodeDir) > 12 * MIB, 'the first packs')
  await node.stop('SIGKILL')
  const restarted = await startNodeProcess(t, nodeDir, port)
  t.ok(restarted.log().length > 0, 'the node restarted on the same port')
  const code = await Promise.race([agentExit, new Promise((resolve) => setTimeout(resolve, 90_000, 'hung'))])
  if (code === 'hung') t.fail(`the agent hung; its stderr: ${agentErr}; node log: ${restarted.log()}`)
  t.equal(code, 0, `the backup completed across the node restart${code === 0 ? '' : `: ${agentErr}`}`)
  t.match(agentErr, /Reconnected to the node/, 'the agent reported the reconnect')
  const stats = JSON.parse(agentOut).stats as { filesNew: number }
  t.equal(stats.filesNew, 58, 'every file is in the snapshot')
  ok(t, await runCli(['check', '--read-data'], { env: { ARCA_HOME: home } }), 'check --read-data after the crash')
  const out = join(dir, 'out')
  ok(t, await runCli(['restore', 'latest', '--target', out], { env: { ARCA_HOME: home } }), 'restore')
  t.same(await compareTrees(src, join(out, src)), [], 'restored identical')
})

t.test('an agent killed mid-backup: the rerun sends only what is missing', async (t) => {
  const dir = tempDir(t)
  const nodeDir = join(dir, 'node')
  await initNodeDir(nodeDir)
  await startNodeProcess(t, nodeDir)
  const home = join(dir, 'home')
  const inv = await runCli(['node', 'invite', '--data', nodeDir, '--vault', 'v', '--json'])
  ok(t, await runCli(['pair', JSON.parse(inv.stdout).invite, '--name', 'laptop'], { env: { ARCA_HOME: home } }), 'pair')
  ok(t, await runCli(['init'], { env: { ARCA_HOME: home } }), 'init')
  const src = join(dir, 'src')
  const total = makeData(src, 8, 8 * MIB)

  const agent = spawnCli(['backup', '--plan', 'p', src], { env: { ARCA_HOME: home } })
  const agentExit = new Promise<unknown>((resolve) => agent.once('exit', resolve))
  await until(() => vaultPackBytes(nodeDir) > 40 * MIB, 'half the upload')
  agent.kill('SIGKILL')
  await agentExit
  ok(t, await runCli(['check'], { env: { ARCA_HOME: home } }), 'the vault checks clean after the kill')
  const rerun = await runCli(['backup', '--plan', 'p', '--json', src], { env: { ARCA_HOME: home } })
  ok(t, rerun, 'rerun')
  const stats = JSON.parse(rerun.stdout).stats as { bytesNew: number; bytesRead: number }
  t.ok(stats.bytesNew < total * 0.75, `the rerun sent ${(stats.bytesNew / MIB).toFixed(1)} of ${(total / MIB).toFixed(1)} MiB`)
  ok(t, await runCli(['check', '--read-data'], { env: { ARCA_HOME: home } }), 'check --read-data')
  const out = join(dir, 'out')
  ok(t, await runCli(['restore', 'latest', '--target', out], { env: { ARCA_HOME: home } }), 'restore')
  t.same(await compareTrees(src, join(out, src)), [], 'restored identical')
})
