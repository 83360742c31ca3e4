/**
 * Loads the trees of a directory's subdirectories ahead of the walk that visits them in order, so a remote store
 * answers many in one request instead of one round trip per directory. At most WINDOW loads run or wait ahead of
 * the visit: a directory with a hundred thousand subdirectories does not hold all their trees at once.
 */
import type { Repository } from './repository.js'
import type { TreeNode } from './tree.js'

const WINDOW = 64

export class SubtreePrefetch {
  private readonly dirs: TreeNode[]
  private readonly positions = new Map<string, number>()
  private readonly loads = new Map<number, Promise<TreeNode[]>>()
  private started = 0

  constructor(
    private readonly repo: Repository,
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
