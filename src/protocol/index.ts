/**
 * protocol: the cleartext formats shared by the agent and the storage side (object envelopes, snapshot records,
 * the invite text), the Store interface, the sync protocol's wire messages and the agent's session over any
 * FrameStream. Holds no keys; imports only core/ and the codec packages (compact-encoding, b4a).
 */
export * from './object-envelope.js'
export * from './snapshot-record.js'
export * from './store.js'
export * from './client-session.js'
export type * from './frame-stream.js'
export * from './invite.js'
export * from './messages.js'
