/**
 * transport: authenticated, encrypted, message-preserving streams for the sync protocol. Noise XX
 * (@hyperswarm/secret-stream) over TCP to HOST:PORT, and over hyperswarm/HyperDHT for devices outside the office
 * network. Knows keys of peers, not of vaults; imports only core/ and packages.
 */
export { checkPinnedKey, connectNoiseTcp, formatHostPort, generateKeyPair, listenNoiseTcp, parseHostPort, type HostPort, type KeyPair, type NoiseTcpServer } from './noise-tcp.js'
export { connectSwarm, DEFAULT_DHT_PORT, nodeTopic, startSwarmServer, type SwarmServer } from './swarm.js'
