// bench/memory-cgroup.mjs: a memory-limited cgroup for one benchmark process (cgroup v2, or the v1 memory
// controller), so a run can show whether a process stays within a limit and what it costs. Needs root.
// Plain Node ESM, node:* only.

import fs from 'node:fs'
import path from 'node:path'

const V2_ROOT = '/sys/fs/cgroup'
const V1_ROOT = '/sys/fs/cgroup/memory'

/**
 * Creates cgroup `name` limited to `limitBytes` (memory.max on v2, memory.limit_in_bytes on v1). A process joins it
 * by writing its pid to `procsFile`; page cache pages are charged to the cgroup of the process that reads them in.
 */
export function createMemoryCgroup(name, limitBytes) {
  const isV2 = fs.existsSync(path.join(V2_ROOT, 'cgroup.controllers'))
  const dir = isV2 ? path.join(V2_ROOT, name) : path.join(V1_ROOT, name)
  if (!isV2 && !fs.existsSync(V1_ROOT)) throw new Error(`No cgroup memory controller: neither ${V2_ROOT}/cgroup.controllers nor ${V1_ROOT} exists`)
  if (isV2) {
    const subtree = fs.readFileSync(path.join(V2_ROOT, 'cgroup.subtree_control'), 'utf8')
    if (!subtree.includes('memory')) fs.writeFileSync(path.join(V2_ROOT, 'cgroup.subtree_control'), '+memory')
  }
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, isV2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limitBytes))
  const read = (file) => {
    try {
      return fs.readFileSync(path.join(dir, file), 'utf8')
    } catch {
      return null
    }
  }
  return {
    version: isV2 ? 2 : 1,
    procsFile: path.join(dir, 'cgroup.procs'),
    /** Charged bytes now and at the peak (v1; v2 kernels before 5.19 have no memory.peak), limit hits, OOM kills. */
    stats() {
      const usageBytes = Number(read(isV2 ? 'memory.current' : 'memory.usage_in_bytes'))
      const peakBytes = Number(read(isV2 ? 'memory.peak' : 'memory.max_usage_in_bytes')) || null
      const events = read(isV2 ? 'memory.events' : 'memory.oom_control') ?? ''
      const failcnt = isV2 ? Number(/^max (\d+)/m.exec(events)?.[1] ?? 0) : Number(read('memory.failcnt'))
      const oomKills = Number(/oom_kill (\d+)/.exec(events)?.[1] ?? 0)
      return { usageBytes, peakBytes, limitHits: failcnt, oomKills }
    },
    remove() {
      try {
        fs.rmdirSync(dir)
      } catch {
        // a process is still in it; left for the next run
      }
    },
  }
}
