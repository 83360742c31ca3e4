/**
 * agent: the device. Talks to its paired node through RemoteStore (the Store interface over the sync protocol,
 * with reconnect and replay), pairs with invites, keeps the device's config, its plans, their state and reports
 * in ARCA_HOME, and runs plans on their schedules (AgentDaemon). Uses repo/ for the engine, protocol/ and
 * transport/ for the wire, schedule/ and mail/ for decisions and mails. Must not import node/ or cli/.
 */
export { AgentDaemon, type AgentEvents } from './agent-daemon.js'
export { checkAgentConfig, findPlan, readAgentConfig, writeAgentConfig, type AgentConfig, type Plan } from './agent-config.js'
export { listReports, readAgentState, saveReport, writeAgentState, type AgentState, type PlanState } from './agent-state.js'
export { arcaHome, readDeviceConfig, writeDeviceConfig, type DeviceConfig, type PairedNode, type Transport } from './device-config.js'
export { connectToNode, type ConnectOptions, type NodeAddress } from './node-connector.js'
export { deviceKeyPair, pairDevice } from './pairing.js'
export { lockPlan } from './plan-lock.js'
export { modeForRun, runPlan, type NodeLink, type RunContext } from './plan-runner.js'
export { RateLimiter } from './rate-limiter.js'
export { RemoteStore, type RemoteStoreOptions } from './remote-store.js'
export { buildReport, type RunOutcome, type RunReport, type RunTrigger } from './run-report.js'
