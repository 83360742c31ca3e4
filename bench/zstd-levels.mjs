import { compress } from 'zstd-napi'
import { readdirSync, readFileSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
const files = []
function walk(d) { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory()) walk(p); else if (e.isFile()) files.push(p) } }
walk(process.argv[2] ?? '/tmp/arca-bench/data')
const sample = files.filter((_, i) => i % 8 === 0)
const bufs = []
for (const f of sample) { const b = readFileSync(f); for (let o = 0; o < b.length; o += 1 << 20) bufs.push(b.subarray(o, o + (1 << 20))) }
const raw = bufs.reduce((n, b) => n + b.length, 0)
for (const level of [-3, -1, 1, 2, 3, 4]) {
  const t = performance.now(); let out = 0
  for (const b of bufs) { const c = compress(b, { compressionLevel: level }); out += Math.min(c.length, b.length) }
  const s = (performance.now() - t) / 1000
  console.log(`level ${level}: ratio ${(raw / out).toFixed(3)} out ${(out / 1e6).toFixed(0)} MB of ${(raw / 1e6).toFixed(0)} MB, ${(raw / 1e6 / s).toFixed(0)} MB/s`)
}
