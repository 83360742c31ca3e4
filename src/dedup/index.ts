/**
 * dedup: pure functions over bytes — the content-defined chunker and its gear table, keyed BLAKE3, compression,
 * Padmé padding, sealing (AES-256-GCM with a key per object), the vault key hierarchy, key slots and the recovery
 * key. Knows nothing of files, sockets, LevelDB or time; imports only core/ and packages.
 */
export * from './blake3.js'
export * from './chunker.js'
export * from './compression.js'
export * from './gear.js'
export * from './key-slot.js'
export * from './padme.js'
export * from './recovery-key.js'
export * from './seal.js'
export * from './vault-keys.js'
