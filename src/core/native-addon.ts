/**
 * The native addon (`native/arca_native.c`, built by `node-gyp` at install): extended attributes, which Node's fs
 * lacks. Loaded on first use; a missing build is an error that says how to build it.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { ArcaError } from './errors.js'

interface NativeAddon {
  listXattrs(path: string): [Buffer, Buffer][]
  setXattr(target: string | number, name: string, value: Uint8Array): void
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

/** Sets one extended attribute on an open file (fd) or on a path (a symlink itself). Throws node:fs-like errors. */
export function setXattr(target: string | number, name: string, value: Uint8Array): void {
  load().setXattr(target, name, value)
}
