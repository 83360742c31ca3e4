#!/usr/bin/env node
/**
 * Assembles src/dedup/chunker-wasm.wat into src/dedup/chunker-wasm.wasm with the `wabt` devDependency.
 * Run by hand after editing the .wat (`node scripts/build-wasm.mjs`) and commit both files; installs never run it.
 * `--check` assembles in memory and exits 1 if the committed .wasm differs from the .wat.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import wabtInit from 'wabt'

const watPath = fileURLToPath(new URL('../src/dedup/chunker-wasm.wat', import.meta.url))
const wasmPath = fileURLToPath(new URL('../src/dedup/chunker-wasm.wasm', import.meta.url))

/** Assembles WebAssembly text into a validated binary (no debug names, so the output is reproducible). */
export async function assemble(watText, fileName = 'chunker-wasm.wat') {
  const wabt = await wabtInit()
  const mod = wabt.parseWat(fileName, watText)
  try {
    mod.resolveNames()
    mod.validate()
    return Uint8Array.from(mod.toBinary({ log: false, write_debug_names: false }).buffer)
  } finally {
    mod.destroy()
  }
}

async function main() {
  const binary = await assemble(readFileSync(watPath, 'utf8'))
  if (process.argv.includes('--check')) {
    const committed = readFileSync(wasmPath)
    if (!committed.equals(binary)) {
      console.error(`Stale ${wasmPath}: run node scripts/build-wasm.mjs`)
      process.exit(1)
    }
    console.log(`${wasmPath} is up to date (${binary.length} bytes)`)
    return
  }
  writeFileSync(wasmPath, binary)
  console.log(`Wrote ${wasmPath} (${binary.length} bytes)`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
