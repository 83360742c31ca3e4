/**
 * repo: vaults over a Store: key slots, snapshots, trees, the archiver (backup), the restorer and the checker.
 * Imports core/, dedup/ and protocol/; never node/ (the engine reaches storage only through the Store interface).
 */
export * from './archiver.js'
export * from './checker.js'
export * from './objects.js'
export * from './path-filter.js'
export * from './repository.js'
export * from './restorer.js'
export * from './seal-pool.js'
export * from './snapshot.js'
export * from './snapshot-path.js'
export * from './tree.js'
export * from './vault-config.js'
export * from './upload-queue.js'
export * from './xattrs.js'
