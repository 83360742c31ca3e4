/**
 * One run of a plan at a time across processes (the daemon and `arca run`): a lock file ARCA_HOME/locks/PLAN.lock
 * created exclusively with the owner's pid. A lock whose process is gone (the machine crashed, the agent was
 * killed) is taken over.
 */
import { mkdirSync, openSync, closeSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { ArcaError } from '../core/errors.js'

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes the plan's lock or throws REPO_LOCKED naming the process that runs it; returns the release function. */
export function lockPlan(home: string, plan: string): () => void {
  const dir = join(home, 'locks')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, `${plan}.lock`)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => {
        try {
          unlinkSync(path)
        } catch {
          // already gone: nothing to release
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ArcaError.ioError(`Cannot create the lock of plan "${plan}" (${path})`, err)
    }
    let owner = NaN
    try {
      owner = Number(readFileSync(path, 'utf8').trim())
    } catch {
      // removed in between: try again
    }
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new ArcaError('REPO_LOCKED', `Plan "${plan}" is already running (process ${owner}): runs of one plan never overlap`)
    }
    try {
      unlinkSync(path)
    } catch {
      // another process took it over first; the next attempt tells
    }
  }
  throw new ArcaError('REPO_LOCKED', `Plan "${plan}" is being started by another process`)
}
