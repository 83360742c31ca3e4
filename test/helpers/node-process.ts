/**
 * A storage node as a separate process (the real CLI), for tests that need two processes: started on a free
 * port of 127.0.0.1, ready when its log says so, killed in teardown.
 */
import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { runCli, spawnCli } from './env.js'

export interface NodeProcess {
  child: ChildProcess
  address: string
  log: () => string
  /** Waits until the log contains `text` (or the process exits). */
  waitForLog(text: string | RegExp): Promise<void>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export async function initNodeDir(dataDir: string): Promise<void> {
  const r = await runCli(['node', 'init', '--data', dataDir, '--name', 'test-node'])
  if (r.code !== 0) throw new Error(`arca node init failed: ${r.stderr}`)
}

export async function startNodeProcess(t: { teardown: (fn: () => unknown) => void }, dataDir: string, port?: number): Promise<NodeProcess> {
  const p = port ?? (await freePort())
  const address = `127.0.0.1:${p}`
  const child = spawnCli(['node', 'start', '--data', dataDir, '--listen', address])
  let output = ''
  const listeners = new Set<() => void>()
  const onOutput = (d: Buffer): void => {
    output += d.toString()
    for (const l of listeners) l()
  }
  child.stdout!.on('data', onOutput)
  child.stderr!.on('data', onOutput)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let hasExited = false
  void exited.then(() => {
    hasExited = true
    for (const l of listeners) l()
  })
  t.teardown(() => {
    if (!hasExited) child.kill('SIGKILL')
    return exited
  })
  const waitForLog = (text: string | RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = typeof text === 'string' ? output.includes(text) : text.test(output)
        if (found) {
          listeners.delete(check)
          resolve()
        } else if (hasExited) {
          listeners.delete(check)
          reject(new Error(`node process exited before logging ${String(text)}; log:\n${output}`))
        }
      }
      listeners.add(check)
      check()
    })
  await waitForLog(' ready;')
  return {
    child,
    address,
    log: () => output,
    waitForLog,
    stop: (signal = 'SIGTERM') => {
      if (!hasExited) child.kill(signal)
      return exited
    },
  }
}
