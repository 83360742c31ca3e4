/**
 * node: the storage side. Stores sealed data: envelopes, snapshot records, key slot records and the vault config,
 * as opaque bytes addressed by id, in packs indexed by LevelDB (LocalStore) or in memory (MemoryStore), and
 * rebuilds the index from the packs alone (repairStore). Reads only cleartext headers (object kinds and refs,
 * snapshot headers). Must never import dedup/, repo/, cli/ or any key material (no blake3, no cipher, no
 * compression package): what it cannot import, it cannot leak.
 */
export { LocalStore, type LocalStoreOptions } from './local-store.js'
export { MemoryStore } from './memory-store.js'
export { repairStore, type RepairReport } from './repair.js'
