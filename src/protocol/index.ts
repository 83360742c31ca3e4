/**
 * protocol: the cleartext formats shared by the agent and the storage side (object envelopes, snapshot records)
 * and, later, the wire messages. Holds no keys; imports only core/.
 */
export * from './object-envelope.js'
export * from './snapshot-record.js'
export * from './store.js'
