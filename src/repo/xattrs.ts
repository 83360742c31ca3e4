/**
 * Extended attributes of files, directories and symlinks, read at backup and written back at restore. POSIX ACLs
 * travel as the `system.posix_acl_access` and `system.posix_acl_default` attributes. Symlinks are never followed.
 */
import { listXattrs, setXattr } from '../core/native-addon.js'
import { MAX_XATTR_VALUE_BYTES, type Xattr } from './tree.js'

/**
 * The attributes of `path` sorted by the bytes of their names (the tree order), or undefined when it has none.
 * An attribute that cannot be recorded (a name that is not UTF-8, a value over 64 KiB) or a failure to read them
 * is reported through `warn` and left out.
 */
export function readXattrs(path: string, warn: (reason: string) => void): Xattr[] | undefined {
  let raw: [Buffer, Buffer][]
  try {
    raw = listXattrs(path)
  } catch (err) {
    warn(`cannot read extended attributes: ${(err as Error).message}`)
    return undefined
  }
  if (raw.length === 0) return undefined
  const kept: { nameBytes: Buffer; xattr: Xattr }[] = []
  for (const [nameBytes, value] of raw) {
    const name = nameBytes.toString('utf8')
    if (!Buffer.from(name, 'utf8').equals(nameBytes)) {
      warn(`extended attribute ${JSON.stringify(name)} not backed up: its name is not valid UTF-8`)
    } else if (value.length > MAX_XATTR_VALUE_BYTES) {
      warn(`extended attribute "${name}" not backed up: ${value.length} bytes, at most ${MAX_XATTR_VALUE_BYTES}`)
    } else kept.push({ nameBytes, xattr: { name, value } })
  }
  if (kept.length === 0) return undefined
  kept.sort((a, b) => Buffer.compare(a.nameBytes, b.nameBytes))
  return kept.map((k) => k.xattr)
}

/**
 * Writes attributes back, on an open file (fd) or a path (a symlink itself). Returns the failures as
 * `[name, error]`; a file system without extended attributes fails with code ENOTSUP.
 */
export function writeXattrs(target: string | number, xattrs: readonly Xattr[]): { name: string; error: NodeJS.ErrnoException }[] {
  const failures: { name: string; error: NodeJS.ErrnoException }[] = []
  for (const x of xattrs) {
    try {
      setXattr(target, x.name, x.value)
    } catch (err) {
      failures.push({ name: x.name, error: err as NodeJS.ErrnoException })
    }
  }
  return failures
}
