/**
 * A real storage node in-process for tests: NodeService + daemon on 127.0.0.1 (a free port), devices paired
 * through the real invite and PAIR exchange, RemoteStores connected over TCP + Noise.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { KeyPair } from '@hyperswarm/secret-stream'
import { connectToNode, type NodeAddress } from '../../src/agent/node-connector.js'
import { pairDevice, deviceKeyPair } from '../../src/agent/pairing.js'
import { RemoteStore } from '../../src/agent/remote-store.js'
import { systemClock, type Clock } from '../../src/core/clock.js'
import { NODE_MARKER, initNode, NodeService } from '../../src/node/node-service.js'
import { startDaemon, type RunningDaemon } from '../../src/node/node-daemon.js'

export interface TestNode {
  service: NodeService
  daemon: RunningDaemon
  address: string
  logs: string[]
  close(): Promise<void>
}

export async function startTestNode(dir: string, options: { clock?: Clock; port?: number } = {}): Promise<TestNode> {
  if (!existsSync(join(dir, NODE_MARKER))) await initNode(dir, 'test-node')
  const logs: string[] = []
  const service = await NodeService.open(dir, options.clock ?? systemClock, (level, m) => logs.push(`${level} ${m}`))
  const daemon = await startDaemon(service, { listen: { host: '127.0.0.1', port: options.port ?? 0 } })
  let closed = false
  return {
    service,
    daemon,
    address: daemon.addresses[0],
    logs,
    close: async () => {
      if (closed) return
      closed = true
      await daemon.close()
      await service.close()
    },
  }
}

export interface TestDevice {
  keyPair: KeyPair
  target: NodeAddress
  name: string
  vault: string
}

export async function pairTestDevice(node: TestNode, vault: string, name: string, quotaBytes?: number): Promise<TestDevice> {
  const { invite } = await node.service.createInvite({ vault, quotaBytes })
  const config = await pairDevice(invite, name, 'tcp')
  return { keyPair: deviceKeyPair(config), target: { publicKey: node.service.keyPair.publicKey, addresses: [node.address], bootstrap: [], transport: 'tcp' }, name, vault }
}

export function connectRemote(device: TestDevice, options: { address?: string; reconnectWindowMs?: number } = {}): Promise<RemoteStore> {
  const target = options.address === undefined ? device.target : { ...device.target, addresses: [options.address] }
  return RemoteStore.connect(() => connectToNode(device.keyPair, target, { timeoutMs: 5000 }), { clock: systemClock, reconnectWindowMs: options.reconnectWindowMs ?? 10_000 })
}
