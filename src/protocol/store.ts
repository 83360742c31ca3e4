/**
 * The narrow storage interface the engine talks to. The embedded LocalStore, the in-memory MemoryStore and (later)
 * the RemoteStore over the protocol all implement it, and one conformance suite runs against each.
 *
 * Ordering contract: `put` may buffer; an object is durable and visible to `missing`/`get` of other processes only
 * after `flush` resolves (it is visible to this handle at once). `put` of a tree is refused unless every id it
 * references is stored or was put before on this handle; `commitSnapshot` flushes, then is refused unless the root
 * tree is stored. Hence a committed snapshot is always complete.
 */

export interface StoreStats {
  objectCount: number
  /** Bytes of all pack files, i.e. what the vault occupies on disk. */
  storedBytes: number
  packCount: number
  snapshotCount: number
}

/** Where an object's envelope lies in a local file, for readers that fetch it themselves. */
export interface FilePlace {
  path: string
  offset: number
  length: number
}

export interface StoredRecord {
  id: Uint8Array
  record: Uint8Array
}

export interface Store {
  /** The vault config record, or undefined for an empty store. */
  readConfig(): Promise<Uint8Array | undefined>
  /** Writes the config record of a new vault; REPO_EXISTS if one is there. */
  writeConfig(config: Uint8Array): Promise<void>

  listKeySlots(): Promise<StoredRecord[]>
  putKeySlot(id: Uint8Array, record: Uint8Array): Promise<void>
  /** Refuses (INVALID_ARGUMENT) to remove the last key slot. */
  removeKeySlot(id: Uint8Array): Promise<void>

  /** For each id, true when the store does not hold it. */
  missing(ids: readonly Uint8Array[]): Promise<boolean[]>
  /**
   * The store may keep a reference to `envelope` until the next flush resolves: callers must not modify it before.
   * With `release`, the store calls it exactly once, as soon as it no longer refers to `envelope` (a store that
   * copies: once copied; at the latest when the flush that makes the object durable resolves), after which the
   * caller may reuse the bytes. A store that fails or closes before then may never call it.
   */
  put(id: Uint8Array, envelope: Uint8Array, release?: () => void): Promise<void>
  /** The envelope of a stored object; CHUNK_NOT_FOUND if absent. */
  get(id: Uint8Array): Promise<Uint8Array>
  flush(): Promise<void>
  /**
   * Optional, for stores on this machine: the file range holding a durable object's envelope, or undefined (not
   * stored, or not yet flushed). Lets restore and check read envelopes on the seal threads without a copy through
   * the caller.
   */
  locate?(id: Uint8Array): FilePlace | undefined
  /**
   * Optional, with `locate`: the places of many objects, looked up together off the caller's thread; undefined
   * where `locate` would answer undefined.
   */
  locateMany?(ids: readonly Uint8Array[]): Promise<(FilePlace | undefined)[]>

  commitSnapshot(id: Uint8Array, record: Uint8Array): Promise<void>
  listSnapshots(): Promise<StoredRecord[]>
  removeSnapshot(id: Uint8Array): Promise<void>

  stats(): Promise<StoreStats>
  close(): Promise<void>
}
