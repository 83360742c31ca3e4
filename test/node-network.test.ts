/**
 * The node and its devices as separate processes over TCP + Noise on 127.0.0.1, through the real CLI: pairing,
 * a second device restoring the first one's snapshot byte for byte, spent invites, revoked and unknown keys, and
 * quota refusal that leaves earlier snapshots intact.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { compareTrees } from './helpers/compare-trees.js'
import { pseudoRandom } from './helpers/rng.js'
import { runCli, tempDir, type CliResult } from './helpers/env.js'
import { initNodeDir, startNodeProcess } from './helpers/node-process.js'


function makeTree(root: string, seed: number): void {
  mkdirSync(join(root, 'docs', 'deep'), { recursive: true })
  writeFileSync(join(root, 'docs', 'report.docx'), pseudoRandom(seed, 700_000))
  writeFileSync(join(root, 'docs', 'deep', 'notes.txt'), 'meeting notes\n'.repeat(2000))
  writeFileSync(join(root, 'big.bin'), pseudoRandom(seed + 1, 2_500_000))
  writeFileSync(join(root, 'empty'), '')
}

/** Runs the CLI as the device whose config lives in `home`. */
function device(home: string) {
  return (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli(args, { env: { ARCA_HOME: home, ...env } })
}

function ok(t: Test, r: CliResult, what: string): void {
  t.equal(r.code, 0, `${what} exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
}

async function invite(t: Test, nodeDir: string, vault: string, extra: string[] = []): Promise<string> {
  const r = await runCli(['node', 'invite', '--data', nodeDir, '--vault', vault, '--json', ...extra])
  ok(t, r, `invite for ${vault}`)
  return (JSON.parse(r.stdout) as { invite: string }).invite
}

t.test('two devices of one vault: pair, back up, restore from the other device; spent, revoked and unknown keys', async (t) => {
  const dir = tempDir(t)
  const nodeDir = join(dir, 'node')
  await initNodeDir(nodeDir)
  const node = await startNodeProcess(t, nodeDir)

  const laptop = device(join(dir, 'home-laptop'))
  const desktop = device(join(dir, 'home-desktop'))
  const src = join(dir, 'src')
  makeTree(src, 7)

  const firstInvite = await invite(t, nodeDir, 'team')
  const paired = await laptop(['pair', firstInvite, '--name', 'laptop'])
  ok(t, paired, 'pair laptop')
  t.match(paired.stdout, /Paired as device "laptop" with node "test-node", vault "team"/)
  const config = JSON.parse(readFileSync(join(dir, 'home-laptop', 'device.json'), 'utf8'))
  t.equal(config.node.addresses[0], node.address, 'the device keeps the node address from the invite')

  const reused = await desktop(['pair', firstInvite, '--name', 'desktop'])
  t.equal(reused.code, 7, 'a spent invite is refused (UNAUTHORIZED_PEER)')
  t.match(reused.stderr, 'The node refused this invite: it was already used or has expired', 'and the message says why')

  ok(t, await laptop(['init']), 'init the vault from the laptop')
  const backup = await laptop(['backup', '--plan', 'docs', '--json', src])
  ok(t, backup, 'backup over the network')
  const snapshotId = (JSON.parse(backup.stdout) as { snapshot: string }).snapshot

  ok(t, await desktop(['pair', await invite(t, nodeDir, 'team'), '--name', 'desktop']), 'pair desktop')
  const wrong = await desktop(['snapshots'], { ARCA_PASSPHRASE: 'not the passphrase of this vault at all' })
  t.equal(wrong.code, 8, 'the second device needs the vault passphrase (WRONG_PASSPHRASE)')
  const list = await desktop(['snapshots', '--json'])
  ok(t, list, 'snapshots from the desktop')
  const snaps = JSON.parse(list.stdout) as { id: string; device: string }[]
  t.same(snaps.map((s) => [s.id, s.device]), [[snapshotId, 'laptop']], 'the desktop sees the laptop snapshot')
  const out = join(dir, 'restored')
  ok(t, await desktop(['restore', 'latest', '--target', out]), 'restore on the desktop')
  t.same(await compareTrees(src, join(out, src)), [], 'restored byte for byte, with metadata')
  ok(t, await desktop(['check', '--read-data']), 'check --read-data from the desktop')
  const listing = await desktop(['ls', 'latest', join(src, 'docs'), '--json'])
  ok(t, listing, 'ls from the desktop')
  t.match(listing.stdout, /report\.docx/, 'ls lists the files of the snapshot')

  // key slots are managed from any device of the vault, over the network
  ok(t, await desktop(['key', 'add', '--label', 'desktop'], { ARCA_NEW_PASSPHRASE: 'a second passphrase for the desktop only' }), 'key add from the desktop')
  const keys = await laptop(['key', 'list', '--json'])
  t.same((JSON.parse(keys.stdout) as { label: string }[]).map((k) => k.label).sort(), ['desktop', 'initial'], 'the laptop sees both key slots')
  ok(t, await laptop(['snapshots'], { ARCA_PASSPHRASE: 'a second passphrase for the desktop only' }), 'the new passphrase opens the vault')

  // the node holds no plaintext: no file name, no file content, in any file of its data directory
  const needles = ['report.docx', 'notes.txt', 'meeting notes', 'docs/deep'].map((n) => Buffer.from(n))
  const leaks: string[] = []
  const scan = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) scan(p)
      else if (e.isFile()) {
        const bytes = readFileSync(p)
        for (const n of needles) if (bytes.includes(n)) leaks.push(`${p} contains "${n}"`)
      }
    }
  }
  scan(nodeDir)
  t.same(leaks, [], 'no file name or content in the node data directory')

  const devices = await runCli(['node', 'devices', '--data', nodeDir, '--json'])
  ok(t, devices, 'node devices')
  const byName = new Map((JSON.parse(devices.stdout) as { name: string; vault: string; snapshotCount: number; bytesIntroduced: number; logicalBytes: number }[]).map((d) => [d.name, d]))
  t.equal(byName.get('laptop')?.snapshotCount, 1, 'the node counts the laptop snapshot')
  t.ok((byName.get('laptop')?.bytesIntroduced ?? 0) > 3_000_000, 'and the bytes it introduced')
  t.equal(byName.get('laptop')?.logicalBytes, 700_000 + 14 * 2000 + 2_500_000, 'and its logical size')
  t.equal(byName.get('desktop')?.bytesIntroduced, 0, 'the desktop introduced nothing')

  // a plan run by the laptop registers its schedule and reports its outcome to the node (no paths)
  ok(t, await laptop(['plan', 'add', 'docs', '--path', src, '--schedule', 'weekly:mon,thu@22:00']), 'plan add on the laptop')
  ok(t, await laptop(['run', 'docs']), 'arca run against the node')
  const plans = await runCli(['node', 'plans', '--data', nodeDir, '--json'])
  ok(t, plans, 'node plans')
  const [watch] = JSON.parse(plans.stdout) as { deviceName: string; name: string; schedule: string; lastOutcome: string; lastRun: { filesNew: number } }[]
  t.same([watch.deviceName, watch.name, watch.schedule, watch.lastOutcome], ['laptop', 'docs', 'weekly:mon,thu@22:00', 'success'], 'the node knows the plan, its schedule and its last outcome')
  t.notMatch(plans.stdout, src, 'but not its paths')
  leaks.length = 0
  scan(nodeDir)
  t.same(leaks, [], 'still no file name or content on the node after a plan run and its report')
  const alerts = await runCli(['node', 'alerts', '--data', nodeDir])
  ok(t, alerts, 'node alerts')
  t.match(alerts.stdout, 'No open alerts')

  const revoked = await runCli(['node', 'revoke', '--data', nodeDir, 'desktop'])
  ok(t, revoked, 'revoke the desktop')
  const refused = await desktop(['snapshots'])
  t.equal(refused.code, 7, 'a revoked device is refused at the handshake')
  t.match(refused.stderr, /refused this device/)
  ok(t, await laptop(['snapshots']), 'the laptop still works')

  // a device key the node never paired, with a valid-looking config
  const strangerHome = join(dir, 'home-stranger')
  mkdirSync(strangerHome)
  writeFileSync(join(strangerHome, 'device.json'), JSON.stringify({ ...config, device: { name: 'stranger', seed: randomBytes(32).toString('hex') } }))
  const stranger = await device(strangerHome)(['snapshots'])
  t.equal(stranger.code, 7, 'an unpaired key is refused')
  await node.waitForLog(/Refused .*is not a paired device or a valid invite/)
  t.pass('the node logged the refusal')

  t.equal(await node.stop('SIGTERM'), 0, 'SIGTERM stops the node cleanly')
  t.match(node.log(), /info Stopped\n$/, 'after logging its shutdown')
})

t.test('quota: a backup over quota fails clearly, commits nothing and leaves earlier snapshots intact', async (t) => {
  const dir = tempDir(t)
  const nodeDir = join(dir, 'node')
  await initNodeDir(nodeDir)
  await startNodeProcess(t, nodeDir)
  const laptop = device(join(dir, 'home'))
  ok(t, await laptop(['pair', await invite(t, nodeDir, 'small', ['--quota', '1MB']), '--name', 'laptop']), 'pair')
  ok(t, await laptop(['init']), 'init')
  const first = join(dir, 'first')
  mkdirSync(first)
  writeFileSync(join(first, 'a.txt'), pseudoRandom(1, 200_000))
  ok(t, await laptop(['backup', '--plan', 'p', first]), 'a backup under the quota')

  const big = join(dir, 'big')
  mkdirSync(big)
  writeFileSync(join(big, 'b.bin'), pseudoRandom(2, 3_000_000))
  const over = await laptop(['backup', '--plan', 'p', big])
  t.equal(over.code, 6, 'the backup over quota exits with QUOTA_EXCEEDED')
  t.match(over.stderr, /Quota of vault "small" exceeded: .* used of 976\.6 KiB allowed/, 'the message says how much is used and allowed')
  const list = await laptop(['snapshots', '--json'])
  t.equal((JSON.parse(list.stdout) as unknown[]).length, 1, 'no snapshot was committed')
  const out = join(dir, 'out')
  ok(t, await laptop(['restore', 'latest', '--target', out]), 'the earlier snapshot restores')
  t.same(await compareTrees(first, join(out, first)), [], 'identical')
  ok(t, await laptop(['check', '--read-data']), 'check --read-data')

  ok(t, await runCli(['node', 'quota', '--data', nodeDir, '--vault', 'small', '10MB']), 'raise the quota')
  ok(t, await laptop(['backup', '--plan', 'p', big]), 'the same backup passes under the new quota')
  const vaults = await runCli(['node', 'vaults', '--data', nodeDir, '--json'])
  const v = (JSON.parse(vaults.stdout) as { name: string; usedBytes: number; quotaBytes: number }[])[0]
  t.equal(v.quotaBytes, 10_000_000)
  t.ok(v.usedBytes > 3_000_000 && v.usedBytes < 10_000_000, `usage counts the stored bytes (${v.usedBytes})`)
})
