/**
 * Resolving a path inside a snapshot ("/home/ann/docs/report.odt") to its tree node.
 */
import { ArcaError } from '../core/errors.js'
import type { Repository } from './repository.js'
import type { Snapshot } from './snapshot.js'
import type { TreeNode } from './tree.js'

export interface ResolvedPath {
  /** undefined for the snapshot root */
  node: TreeNode | undefined
  /** the node's children when it is the root or a directory */
  children: TreeNode[] | undefined
  path: string
}

export function splitSnapshotPath(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.')
}

export async function resolveSnapshotPath(repo: Repository, snapshot: Snapshot, path: string | undefined): Promise<ResolvedPath> {
  const parts = splitSnapshotPath(path ?? '/')
  let children: TreeNode[] | undefined = await repo.loadTree(snapshot.header.rootTree)
  let node: TreeNode | undefined
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === '..') throw new ArcaError('UNSAFE_PATH', `Invalid path "${path}": ".." is not allowed`)
    node = children?.find((n) => n.name === parts[i])
    if (node === undefined) {
      throw ArcaError.invalidArgument(`Path "/${parts.slice(0, i + 1).join('/')}" is not in snapshot ${snapshot.idHex.slice(0, 8)}`)
    }
    children = node.type === 'dir' && node.subtree !== undefined ? await repo.loadTree(node.subtree) : undefined
  }
  return { node, children, path: '/' + parts.join('/') }
}
