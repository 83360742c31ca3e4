// bench/node-process.mjs: a storage node as a separate process for the benchmarks (start it, wait for " ready;",
// create an invite, pair a device, read its memory from /proc, stop it). Plain Node ESM, node:* only; drives the
// built CLI (dist/cli/main.js) exactly as a user would.

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'

/** A TCP port on 127.0.0.1 that was free a moment ago, for a node that must keep its address across restarts. */
export function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * Starts `arca node start --data DATA --listen LISTEN` detached, output to `logFile`, and resolves once it logs
 * " ready;". `listen` defaults to 127.0.0.1:0 (a free port; the invite carries the port actually bound). With
 * `cgroupProcsFile` the node joins that cgroup before it execs node (a shell writes its own pid there first).
 */
export async function startNodeProcess({ main, dataDir, env, logFile, listen = '127.0.0.1:0', timeoutMs = 30_000, cgroupProcsFile = null }) {
  const fd = fs.openSync(logFile, 'a')
  const argv = [process.execPath, main, 'node', 'start', '--data', dataDir, '--listen', listen]
  const [cmd, ...args] = cgroupProcsFile ? ['sh', '-c', 'echo $$ > "$0" && exec "$@"', cgroupProcsFile, ...argv] : argv
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd], detached: true })
  fs.closeSync(fd)
  let exit = null
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exit = signal ? `signal ${signal}` : code))))
  const deadline = Date.now() + timeoutMs
  let address = null
  while (address === null) {
    const text = fs.readFileSync(logFile, 'utf8')
    const m = / ready; advertised addresses (\S+)/.exec(text)
    if (m) address = m[1]
    else if (exit !== null) throw new Error(`Node exited before it was ready (exit ${exit}); log in ${logFile}:\n${text.trimEnd().split('\n').slice(-10).join('\n')}`)
    else if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`Node not ready after ${timeoutMs} ms; log in ${logFile}`)
    } else await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const stop = async (graceMs = 60_000) => {
    if (exit !== null) return exit
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    const result = await exited
    clearTimeout(timer)
    return result
  }
  return { pid: child.pid, child, address, stop, isRunning: () => exit === null }
}

/** VmRSS, VmHWM and the anonymous and file-backed parts of VmRSS (KiB) of one process, or null once it has exited. */
export function procMemKiB(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM'), anonKiB: field('RssAnon'), fileKiB: field('RssFile') }
  } catch {
    return null
  }
}

/** Resident KiB of a process's file mappings whose path ends with `suffix` (from /proc/PID/smaps), and their count. */
export function mappedFilesRssKiB(pid, suffix) {
  let text
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8')
  } catch {
    return null
  }
  let rssKiB = 0
  let mappings = 0
  let isMatch = false
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header) {
      isMatch = header[1].endsWith(suffix)
      if (isMatch) mappings++
    } else if (isMatch && line.startsWith('Rss:')) rssKiB += Number(/(\d+)/.exec(line)[1])
  }
  return { rssKiB, mappings }
}

let clockTicksPerSec = null

/** CPU time (user + system, ms) a process has used so far, from /proc/PID/stat; null once it has exited. */
export function procCpuMs(pid) {
  clockTicksPerSec ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields from the 3rd (state) on
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSec // utime (14th), stime (15th)
  } catch {
    return null
  }
}

/** Resets VmHWM to the current RSS ("5" > /proc/PID/clear_refs, Linux 4.0+, own processes or root); false if refused. */
export function resetPeakRss(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/**
 * Peak RSS and CPU time of a long-running process over an interval: VmHWM after a reset when the kernel allows it,
 * otherwise the largest VmRSS seen by polling every 50 ms (which can miss short peaks).
 */
export function trackPeakRss(pid) {
  const canReset = resetPeakRss(pid)
  const cpuAtStart = procCpuMs(pid)
  let polledKiB = procMemKiB(pid)?.rssKiB ?? 0
  const poller = canReset ? null : setInterval(() => { polledKiB = Math.max(polledKiB, procMemKiB(pid)?.rssKiB ?? 0) }, 50)
  return {
    source: canReset ? 'VmHWM after clear_refs' : 'VmRSS polled every 50 ms',
    /** The peak RSS (KiB) since `trackPeakRss`, and the CPU time (ms) used meanwhile. */
    stop() {
      if (poller) clearInterval(poller)
      const mem = procMemKiB(pid)
      const cpuAtEnd = procCpuMs(pid)
      return {
        peakRssKiB: canReset ? (mem?.hwmKiB ?? null) : Math.max(polledKiB, mem?.rssKiB ?? 0),
        cpuMs: cpuAtStart == null || cpuAtEnd == null ? null : cpuAtEnd - cpuAtStart,
      }
    },
  }
}

function runCli(main, args, env) {
  const res = spawnSync(process.execPath, [main, ...args], { env, encoding: 'utf8' })
  if (res.error || res.status !== 0) {
    throw new Error(`Command failed: arca ${args.join(' ')}: ${res.error?.message ?? `exit ${res.status ?? res.signal}`}\n${(res.stdout ?? '') + (res.stderr ?? '')}`)
  }
  return res.stdout
}

/** `arca node init --data DATA --name NAME`. */
export function initNodeData({ main, dataDir, env, name = 'bench-node' }) {
  runCli(main, ['node', 'init', '--data', dataDir, '--name', name], env)
}

/**
 * Creates an invite for `vault` on the running node (through DATA/control.sock) and pairs a device with it in
 * ARCA_HOME=`home`. Returns the vault's store directory on the node.
 */
export function pairDevice({ main, dataDir, env, home, vault = 'bench', deviceName = 'bench-device' }) {
  const { invite, vault: record } = JSON.parse(runCli(main, ['node', 'invite', '--data', dataDir, '--vault', vault, '--json'], env))
  runCli(main, ['pair', invite, '--name', deviceName], { ...env, ARCA_HOME: home })
  return { storeDir: `${dataDir}/vaults/${record.storeId}`, storeId: record.storeId }
}
