/**
 * The hyperswarm path between processes, through the real CLI: the node runs with --swarm and its own DHT bootstrap
 * on 127.0.0.1, and a device pairs, initialises the vault, backs up, restores byte for byte and checks with
 * --read-data over the swarm only (--transport swarm; the node logs no TCP connection). Every DHT binds 127.0.0.1.
 */
import type { ChildProcess } from 'node:child_process'
import { createSocket, type Socket } from 'node:dgram'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { compareTrees } from './helpers/compare-trees.js'
import { runCli, spawnCli, tempDir, type CliResult } from './helpers/env.js'
import { freePort, initNodeDir } from './helpers/node-process.js'
import { pseudoRandom } from './helpers/rng.js'

const LOOPBACK = '127.0.0.1'
const START_ATTEMPTS = 3

function bindUdp(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4')
    socket.once('error', () => {
      socket.close()
      resolve(undefined)
    })
    socket.bind(port, LOOPBACK, () => resolve(socket))
  })
}

/** A UDP port P with P+1 free too: the node's DHT bootstrap takes P, its swarm DHT node P+1. */
async function freeDhtPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = (await bindUdp(0))!
    const port = first.address().port
    const next = port < 65535 ? await bindUdp(port + 1) : undefined
    await Promise.all([first, next].map((s) => new Promise<void>((resolve) => (s === undefined ? resolve() : s.close(() => resolve())))))
    if (next !== undefined) return port
  }
  throw new Error('No free pair of adjacent UDP ports on 127.0.0.1')
}

interface SwarmNode {
  dht: string
  log: () => string
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>
}

/**
 * Starts `arca node start --swarm` on fresh ports and resolves when its log says "ready". Ports are found free
 * first; if another process takes one in between, the node exits with "already in use" and it starts again.
 */
async function startSwarmNode(t: Test, dataDir: string): Promise<SwarmNode> {
  for (let attempt = 1; ; attempt++) {
    const dht = `${LOOPBACK}:${await freeDhtPort()}`
    const child = spawnCli(['node', 'start', '--data', dataDir, '--listen', `${LOOPBACK}:${await freePort()}`, '--swarm', '--dht', dht])
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    t.teardown(() => stopChild(child, exited))
    let output = ''
    const outcome = await new Promise<'ready' | 'exited'>((resolve) => {
      const onData = (d: Buffer): void => {
        output += d.toString()
        if (/ ready;/.test(output)) resolve('ready')
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      void exited.then(() => resolve('exited'))
    })
    if (outcome === 'ready') return { dht, log: () => output, exited }
    if (attempt >= START_ATTEMPTS || !/already in use|EADDRINUSE/.test(output)) throw new Error(`arca node start --swarm exited before ready; log:\n${output}`)
  }
}

function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  return exited
}

function makeTree(root: string): void {
  mkdirSync(join(root, 'docs', 'deep'), { recursive: true })
  writeFileSync(join(root, 'docs', 'report.bin'), pseudoRandom(11, 1_500_000))
  writeFileSync(join(root, 'docs', 'deep', 'notes.txt'), 'swarm notes\n'.repeat(3000))
  writeFileSync(join(root, 'empty'), '')
  symlinkSync('docs/deep/notes.txt', join(root, 'notes-link'))
}

function ok(t: Test, r: CliResult, what: string): void {
  t.equal(r.code, 0, `${what} exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
}

t.test('a device pairs, backs up, restores and checks over the swarm only, against a node in another process', async (t) => {
  const dir = tempDir(t, 'arca-swarm-')
  const nodeDir = join(dir, 'node')
  await initNodeDir(nodeDir)
  const node = await startSwarmNode(t, nodeDir)
  t.match(node.log(), `Joined the swarm, DHT bootstrap ${node.dht}`, 'the node runs its own DHT bootstrap on --dht')

  const invited = await runCli(['node', 'invite', '--data', nodeDir, '--vault', 'v', '--json'])
  ok(t, invited, 'invite through the running daemon')
  const invite = (JSON.parse(invited.stdout) as { invite: string }).invite

  const home = join(dir, 'home')
  const device = (args: string[]): Promise<CliResult> => runCli(args, { env: { ARCA_HOME: home, ARCA_DHT_HOST: LOOPBACK } })
  const paired = await device(['pair', invite, '--name', 'd1', '--transport', 'swarm'])
  ok(t, paired, 'pair over the swarm')
  t.match(paired.stdout, /Paired as device "d1" with node "test-node", vault "v"/)
  const config = JSON.parse(readFileSync(join(home, 'device.json'), 'utf8')) as { node: { transport: string; bootstrap: string[] } }
  t.same([config.node.transport, config.node.bootstrap], ['swarm', [node.dht]], 'the device keeps transport swarm and the bootstrap named by the invite')

  const src = join(dir, 'src')
  makeTree(src)
  ok(t, await device(['init']), 'init the vault over the swarm')
  ok(t, await device(['backup', '--plan', 'p', src]), 'backup over the swarm')
  const out = join(dir, 'out')
  ok(t, await device(['restore', 'latest', '--target', out]), 'restore over the swarm')
  t.same(await compareTrees(src, join(out, src)), [], 'restored byte for byte, with metadata')
  ok(t, await device(['check', '--read-data']), 'check --read-data over the swarm')

  const log = node.log()
  t.match(log, /Paired device "d1"/, 'the node paired the device')
  t.match(log, /Connected: device "d1" of vault "v" \(swarm\)/, 'the device came in over the swarm')
  t.notMatch(log, /Connected: .*\(tcp /, 'and never over TCP')
  t.notMatch(log, / (warn|error) /, 'the node logged no warning or error')
})
