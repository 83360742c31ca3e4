/**
 * The native addon (`native/arca_native.c`, built by `node-gyp` at install): what Node lacks or does slowly —
 * extended attributes, a directory listed and lstat-ed in one call, keyed BLAKE3 without an object per hash, the
 * chunker's scan over the caller's bytes, and the sealing and opening of batches of objects on threads of its own.
 * Loaded on first use; a missing build is an error that says how to build it.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { ArcaError } from './errors.js'

interface NativeAddon {
  listXattrs(path: string): [Buffer, Buffer][]
  setXattr(target: string | number, name: string, value: Uint8Array): void
  scanDir(path: string): DirScan
  scanDirAsync(path: string): Promise<DirScan>
  blake3KeyedInto(key: Uint8Array, data: Uint8Array, out: Uint8Array): void
  findCut(gear: Uint32Array, data: Uint8Array, from: number, normal: number, to: number, maskS: number, maskL: number): number
  sealBatch(dataKey: Uint8Array, level: number, input: Uint8Array, jobs: Int32Array, salts: Uint8Array, out: Uint8Array, results: Int32Array, threads: number): Promise<void>
  sealBatchSync(dataKey: Uint8Array, level: number, input: Uint8Array, jobs: Int32Array, salts: Uint8Array, out: Uint8Array, results: Int32Array): void
  openBatch(dataKey: Uint8Array, chunkIdKey: Uint8Array, input: Uint8Array, jobs: Int32Array, places: Float64Array, paths: string[], results: Int32Array, threads: number): Promise<void>
}

/** Fields per entry in `DirScan.stats`, in this order. */
export const SCAN_FIELDS = 9
export const ScanField = { MODE: 0, UID: 1, GID: 2, SIZE: 3, MTIME_NS: 4, CTIME_NS: 5, INO: 6, DEV: 7, NLINK: 8 } as const

/** One directory read by `scanDir`. */
export interface DirScan {
  /** Entry names, sorted by their UTF-8 bytes, without `.` and `..`; only names that are valid UTF-8. */
  names: string[]
  /** SCAN_FIELDS values per name; ino and dev hold the two's complement of unsigned values. */
  stats: BigInt64Array
  /** Per name: 0, or the errno of its failed lstat (for example ENOENT when it vanished since the listing). */
  errors: Int32Array
  /** The names that are not valid UTF-8, raw; they are not stat-ed. */
  invalid: Buffer[]
}

const ADDON_URL = new URL('../../build/Release/arca_native.node', import.meta.url)
let addon: NativeAddon | undefined

function load(): NativeAddon {
  if (addon !== undefined) return addon
  try {
    addon = createRequire(import.meta.url)(fileURLToPath(ADDON_URL)) as NativeAddon
  } catch (err) {
    throw new ArcaError(
      'IO_ERROR',
      `Cannot load Arca's native addon "${fileURLToPath(ADDON_URL)}": ${(err as Error).message}; build it with "npx node-gyp rebuild" in the Arca directory (npm ci does)`,
    )
  }
  return addon
}

/**
 * The extended attributes of `path` (a symlink itself, not its target), as raw name and value bytes, in the order
 * the file system lists them. None on a file system without extended attributes. Throws node:fs-like errors.
 */
export function listXattrs(path: string): [Buffer, Buffer][] {
  return load().listXattrs(path)
}

/**
 * Lists a directory and lstats every entry in one call: what `readdirSync` plus one `lstatSync` per entry do, for
 * about a third of the time. Throws node:fs-like errors when the directory cannot be opened or read.
 */
export function scanDir(path: string): DirScan {
  return load().scanDir(path)
}

/** `scanDir` on a libuv thread; the promise rejects with the same errors. */
export function scanDirAsync(path: string): Promise<DirScan> {
  return load().scanDirAsync(path)
}

/** Keyed BLAKE3 (32-byte key) of `data`, written into the 32 bytes of `out`. */
export function blake3KeyedInto(key: Uint8Array, data: Uint8Array, out: Uint8Array): void {
  load().blake3KeyedInto(key, data, out)
}

/**
 * The chunker's gear-hash scan over `data` in place (see `CutFinder.findCut` in dedup/chunker-wasm.ts): the index
 * just past the first cut in [from, to), maskS before `normal` and maskL from there, or -1.
 */
export function findCut(gear: Uint32Array, data: Uint8Array, from: number, normal: number, to: number, maskS: number, maskL: number): number {
  return load().findCut(gear, data, from, normal, to, maskS, maskL)
}

/** Sets one extended attribute on an open file (fd) or on a path (a symlink itself). Throws node:fs-like errors. */
export function setXattr(target: string | number, name: string, value: Uint8Array): void {
  load().setXattr(target, name, value)
}

/**
 * The arguments of `sealBatch`: `jobs` holds [offset, idLength, headerLength, dataLength] per object, each the
 * id, envelope header and plaintext laid out one after the other in `input`; `salts` 16 fresh random bytes per
 * object; `results` receives [offset in out, length, compressedBytes] per object.
 */
export interface SealBatchArgs {
  dataKey: Uint8Array
  level: number
  input: Uint8Array
  jobs: Int32Array
  salts: Uint8Array
  out: Uint8Array
  results: Int32Array
}

/**
 * Seals every object of a batch into `out`, each as `envelope header | sealed payload`, byte for byte what
 * `sealObject` (repo/objects.ts) gives for the same salt when `out` has `sealingRoom` (dedup/seal.ts) per object:
 * zstd compresses straight into it (with only the sealed length at most, a body may come out differently, still
 * valid). Batches queue for the addon's seal threads, of which
 * `threads` (1-8) run once this returns; none is ever stopped. None of the arrays may be touched until the
 * promise settles; it rejects on an internal failure (memory, a buffer too small), never for the data.
 */
export function sealBatch(a: SealBatchArgs, threads: number): Promise<void> {
  return load().sealBatch(a.dataKey, a.level, a.input, a.jobs, a.salts, a.out, a.results, threads)
}

/** `sealBatch` on the calling thread. */
export function sealBatchSync(a: SealBatchArgs): void {
  load().sealBatchSync(a.dataKey, a.level, a.input, a.jobs, a.salts, a.out, a.results)
}

/**
 * The arguments of `openBatch`: `jobs` holds [id offset in input, envelope offset in input, envelope length, path
 * index (-1: the envelope is in the input, else read from `paths[i]`), fd (-2: verify and drop), 0] per chunk;
 * `places` [file offset of the envelope, write position] per chunk; `results` receives [status (0 done, 1
 * failed), plaintext bytes, written (0/1)] per chunk.
 */
export interface OpenBatchArgs {
  dataKey: Uint8Array
  chunkIdKey: Uint8Array
  input: Uint8Array
  jobs: Int32Array
  places: Float64Array
  paths: string[]
  results: Int32Array
}

/**
 * Opens chunks on the addon's seal threads (see `sealBatch`): each envelope is read, must be a chunk's, is
 * decrypted, decompressed and hashed to its id, then written at its position with pwrite (all-zero chunks are
 * left as holes) or dropped. A chunk that fails any step is marked failed and nothing of it is written; the caller
 * opens it again with `openObject` for the exact error. None of the arrays may be touched until the promise settles.
 */
export function openBatch(a: OpenBatchArgs, threads: number): Promise<void> {
  return load().openBatch(a.dataKey, a.chunkIdKey, a.input, a.jobs, a.places, a.paths, a.results, threads)
}
