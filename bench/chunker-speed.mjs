/**
 * Chunker speed, JS, wasm and native engines, on random data and on zeros, against the compiled dist/.
 * Build first (`npx tsc -p tsconfig.json`), then: node bench/chunker-speed.mjs [--mib 256] [--dist path/to/dist]
 * Prints GB/s (10^9 bytes per second of input, skipped minBytes included) and checks the engines cut alike.
 */
import { randomFillSync } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : fallback
}
const sizeMiB = Number(arg('--mib', '256'))
const distDir = resolve(arg('--dist', new URL('../dist', import.meta.url).pathname))
const { createChunker, chunkBuffer, FILE_CHUNKER, SMALL_CHUNKER } = await import(
  pathToFileURL(`${distDir}/dedup/chunker.js`).href
)
const { gearTable } = await import(pathToFileURL(`${distDir}/dedup/gear.js`).href)

const gear = gearTable(Uint8Array.from({ length: 32 }, (_, i) => i))
const inputs = {
  random: randomFillSync(new Uint8Array(sizeMiB * 1024 * 1024)),
  zeros: new Uint8Array(sizeMiB * 1024 * 1024),
}
const paramSets = { FILE_CHUNKER, SMALL_CHUNKER }

/** Chunks `data` once; returns the cut lengths. */
function cuts(chunker, data) {
  const lengths = []
  for (const chunk of chunkBuffer(chunker, data)) lengths.push(chunk.length)
  return lengths
}

/** Best of `runs` timed passes, in GB/s, after one warm-up pass on the first 32 MiB. */
function measure(chunker, data, runs = 3) {
  cuts(chunker, data.subarray(0, Math.min(data.length, 32 * 1024 * 1024)))
  let bestMs = Infinity
  let lengths = []
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint()
    lengths = cuts(chunker, data)
    bestMs = Math.min(bestMs, Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return { gbps: data.length / bestMs / 1e6, lengths }
}

console.log(`node ${process.version}, ${sizeMiB} MiB per input, best of 3 runs`)
for (const [paramName, params] of Object.entries(paramSets)) {
  for (const [inputName, data] of Object.entries(inputs)) {
    const results = {}
    for (const engine of ['js', 'wasm', 'native']) {
      const chunker = createChunker(gear, params, { engine })
      if (chunker.engine !== engine) throw new Error(`Asked for ${engine}, got ${chunker.engine}`)
      results[engine] = measure(chunker, data)
    }
    for (const engine of ['wasm', 'native']) {
      if (results.js.lengths.join() !== results[engine].lengths.join()) throw new Error(`${engine} and js disagree on ${paramName} / ${inputName}`)
    }
    const meanKiB = data.length / results.js.lengths.length / 1024
    console.log(
      `${paramName.padEnd(14)} ${inputName.padEnd(7)} js ${results.js.gbps.toFixed(2)} GB/s  ` +
        `wasm ${results.wasm.gbps.toFixed(2)} GB/s  native ${results.native.gbps.toFixed(2)} GB/s  ` +
        `(${results.js.lengths.length} chunks, mean ${meanKiB.toFixed(0)} KiB)`,
    )
  }
}
