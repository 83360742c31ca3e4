/**
 * Loads trees ahead of a depth-first walk, so a remote store answers many in one request instead of one round trip
 * per directory. `SubtreePrefetch` loads the trees of a directory's subdirectories, at most WINDOW ahead of the
 * visit (a directory with a hundred thousand subdirectories does not hold all their trees at once);
 * `TreeReadAhead`, under it, starts loading the subtrees of every tree that arrives, at most READ_AHEAD_TREES not
 * yet taken, so the walk's next levels are on their way before it gets there.
 */
import { toHex } from '../core/hex.js'
import type { Repository } from './repository.js'
import type { TreeNode } from './tree.js'

const WINDOW = 64
const READ_AHEAD_TREES = 256

/** Where trees come from: a repository, or a read-ahead over one. */
export interface TreeLoader {
  loadTree(id: Uint8Array): Promise<TreeNode[]>
}

export class TreeReadAhead implements TreeLoader {
  /** Loads started ahead and not taken yet, by tree id. */
  private readonly ahead = new Map<string, Promise<TreeNode[]>>()

  /** `isSpared(id)`: a subtree the walk will probably not need (the directory cache knows it); not read ahead. */
  constructor(
    private readonly repo: Repository,
    private readonly isSpared: (id: Uint8Array) => boolean = () => false,
  ) {}

  /** The tree `id`: the load started ahead (then forgotten), or a new one. Its subtrees start loading when it arrives. */
  loadTree(id: Uint8Array): Promise<TreeNode[]> {
    const hex = toHex(id)
    const started = this.ahead.get(hex)
    if (started === undefined) return this.fetch(id)
    this.ahead.delete(hex)
    return started
  }

  private fetch(id: Uint8Array): Promise<TreeNode[]> {
    const load = this.repo.loadTree(id)
    load.then((nodes) => this.readAhead(nodes), () => {})
    return load
  }

  private readAhead(nodes: readonly TreeNode[]): void {
    for (const n of nodes) {
      if (this.ahead.size >= READ_AHEAD_TREES) return
      if (n.type !== 'dir' || n.subtree === undefined || this.isSpared(n.subtree)) continue
      const hex = toHex(n.subtree)
      if (this.ahead.has(hex)) continue
      const load = this.fetch(n.subtree)
      load.catch(() => {}) // observed when taken; a tree never visited is never awaited
      this.ahead.set(hex, load)
    }
  }
}

export class SubtreePrefetch {
  private readonly dirs: TreeNode[]
  private readonly positions = new Map<string, number>()
  private readonly loads = new Map<number, Promise<TreeNode[]>>()
  private started = 0

  constructor(
    private readonly repo: TreeLoader,
    nodes: readonly TreeNode[],
  ) {
    this.dirs = nodes.filter((n) => n.type === 'dir' && n.subtree !== undefined)
    this.dirs.forEach((n, i) => this.positions.set(n.name, i))
  }

  /** The tree of the subdirectory `name` (undefined if it has none); starts the loads of the next ones too. */
  load(name: string): Promise<TreeNode[]> | undefined {
    const at = this.positions.get(name)
    if (at === undefined) return undefined
    this.startUpTo(Math.min(this.dirs.length, at + WINDOW))
    const load = this.loads.get(at) ?? this.repo.loadTree(this.dirs[at].subtree!)
    this.loads.delete(at)
    // loads passed over (an entry skipped, or no longer a directory) are dropped with the window behind
    for (const k of this.loads.keys()) if (k < at) this.loads.delete(k)
    return load
  }

  private startUpTo(end: number): void {
    for (; this.started < end; this.started++) {
      const load = this.repo.loadTree(this.dirs[this.started].subtree!)
      load.catch(() => {}) // observed by `load` when its directory is visited; a skipped one is never awaited
      this.loads.set(this.started, load)
    }
  }
}
