#!/usr/bin/env node
// Runs the whole suite (tsc, then tap over test/), passes tap's output through, and ends with one line
// "N passed, N failed" counted from tap's final summary. Exit code: tap's.
import { spawn, spawnSync } from 'node:child_process'

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' })
if (build.status !== 0) {
  console.log('0 passed, 1 failed')
  process.exit(build.status ?? 1)
}
const tap = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] })
let tail = ''
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString()).slice(-4096)
})
tap.on('close', (code) => {
  const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(tail)
  const pass = m?.[2] ?? '0'
  const fail = m?.[3] ?? (m === null ? '1' : '0')
  console.log(`${pass} passed, ${fail} failed`)
  process.exit(code ?? 1)
})
