/**
 * node: the storage side. Stores sealed data: envelopes, snapshot records, key slot records and the vault config,
 * as opaque bytes addressed by id, in packs indexed by LevelDB (LocalStore) or in memory (MemoryStore), and
 * rebuilds the index from the packs alone (repairStore). The storage node: its identity, registry (vaults,
 * devices, invites), sessions of the sync protocol, quotas, missed-backup alerts, daemon and admin API. Reads only
 * cleartext headers (object kinds and refs, snapshot headers). Must never import dedup/, repo/, agent/, cli/ or any
 * key material (no blake3, no cipher, no compression package): what it cannot import, it cannot leak.
 */
export { LocalStore, type LocalStoreOptions } from './local-store.js'
export { MemoryStore } from './memory-store.js'
export { repairStore, type RepairReport } from './repair.js'
export { AlertMonitor, DEFAULT_ALERT_MARGIN_MS, type AlertEvent, type AlertRecord, type PlanWatch } from './alert-monitor.js'
export { createControlApp, type ControlAppOptions } from './control-api.js'
export { CONTROL_SOCKET, startDaemon, type DaemonOptions, type RunningDaemon } from './node-daemon.js'
export { NodeRegistry, type DeviceRecord, type InviteRecord, type VaultRecord } from './node-registry.js'
export { initNode, NodeService, type Admission, type DeviceView, type VaultView } from './node-service.js'
export { serveConnection } from './node-session.js'
