/**
 * arca node init|start|invite|devices|vaults|revoke|quota, and arca pair on the device side.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { homedir, hostname } from 'node:os'
import { arcaHome, readDeviceConfig, TRANSPORTS, writeDeviceConfig, type Transport } from '../agent/device-config.js'
import { pairDevice } from '../agent/pairing.js'
import { ArcaError, formatBytes } from '../core/errors.js'
import { startDaemon } from '../node/node-daemon.js'
import { initNode, NODE_MARKER, NodeService } from '../node/node-service.js'
import { parseHostPort } from '../transport/noise-tcp.js'
import { DEFAULT_DHT_PORT } from '../transport/swarm.js'
import { all, parseArgs, single, type ParsedArgs } from './args.js'
import { dhtHost, type Io } from './context.js'
import { mailCommand } from './commands-mail.js'
import { alertMailer, MAIL_OPTIONS, sendQueued } from './mail-setup.js'
import { withNodeAdmin } from './node-admin.js'
import type { MailSettings } from '../mail/index.js'
import { parseDuration, parseSize } from './units.js'

export const DEFAULT_LISTEN = '0.0.0.0:7411'

const NODE_USAGE = `Usage: arca node COMMAND [--data DIR] [options]
  (DIR defaults to ARCA_NODE_DATA, else ~/.local/share/arca/node)
  init [--name NAME]                                  create a node's data directory and identity
  start [--listen HOST:PORT] [--swarm [--dht HOST:PORT] [--bootstrap HOST:PORT]...] [--web HOST:PORT]
        [--alert-margin DURATION]                     (default 1h: how late a backup may be before an alert)
                                                      run the node (foreground; stops on SIGTERM); listens on
                                                      ${DEFAULT_LISTEN} by default and creates DIR if needed
  invite --vault NAME [--quota SIZE] [--expires DURATION] [--json]
                                                      print a one-time invite (creates the vault if new)
  devices [--json]                                    list paired devices and their usage
  vaults [--json]                                     list vaults, usage and quotas
  revoke DEVICE [--vault NAME]                        revoke a device (name or key prefix)
  quota --vault NAME SIZE                             set a vault's quota (SIZE "unlimited" for none)
  plans [--json]                                      the plans devices registered: schedule, last success, last run
  alerts [--all] [--json]                             devices that missed their backup or reported a failure
  mail set|show|test|off                              the admin address for alert mails ("arca node mail")`

/** --data, else ARCA_NODE_DATA, else ~/.local/share/arca/node (the embedded default). */
function dataDir(args: ParsedArgs, io: Io): string {
  const dir = single(args, 'data') ?? io.env.ARCA_NODE_DATA
  if (dir !== undefined && dir !== '') return dir
  return join(homedir(), '.local', 'share', 'arca', 'node')
}

function defaultNodeName(): string {
  return hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64)
}

function noPositionals(args: ParsedArgs, command: string): void {
  if (args.positionals.length > 0) throw ArcaError.invalidArgument(`Unexpected argument for arca ${command}: "${args.positionals[0]}"`)
}

export async function nodeCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv
  switch (sub) {
    case 'init': {
      const args = parseArgs('node init', rest, { data: { value: true }, name: { value: true } })
      noPositionals(args, 'node init')
      const dir = dataDir(args, io)
      const { publicKey } = await initNode(dir, single(args, 'name') ?? defaultNodeName())
      io.out(`Created node in ${dir}, key ${publicKey}`)
      io.out(`Next: arca node start --data ${dir} --listen HOST:PORT, then arca node invite --data ${dir} --vault NAME`)
      return 0
    }
    case 'start':
      return startCommand(rest, io, signal)
    case 'invite': {
      const args = parseArgs('node invite', rest, { data: { value: true }, vault: { value: true }, quota: { value: true }, expires: { value: true }, json: {} })
      noPositionals(args, 'node invite')
      const vault = single(args, 'vault')
      if (vault === undefined) throw ArcaError.invalidArgument('arca node invite needs --vault NAME')
      const quota = single(args, 'quota')
      const expires = single(args, 'expires')
      const result = await withNodeAdmin(dataDir(args, io), io, (admin) =>
        admin.createInvite({ vault, quotaBytes: quota === undefined ? undefined : parseSize(quota, '--quota'), ttlMs: expires === undefined ? undefined : parseDuration(expires, '--expires') }),
      )
      if (args.flags.has('json')) io.out(JSON.stringify(result))
      else {
        io.out(result.invite)
        io.out(`(one-time invite for vault "${result.vault.name}", quota ${quotaText(result.vault.quotaBytes)}, valid until ${new Date(result.expiresAt).toISOString()}; on the device: arca pair INVITE --name DEVICE)`)
      }
      return 0
    }
    case 'devices': {
      const args = parseArgs('node devices', rest, { data: { value: true }, json: {} })
      noPositionals(args, 'node devices')
      const devices = await withNodeAdmin(dataDir(args, io), io, (admin) => admin.listDevices())
      if (args.flags.has('json')) io.out(JSON.stringify(devices))
      else {
        io.out('DEVICE               VAULT            KEY               STATE     LAST SEEN                 LAST SNAPSHOT             INTRODUCED')
        for (const d of devices) {
          const state = d.revokedAt !== undefined ? 'revoked' : d.isOnline ? 'online' : 'offline'
          io.out(`${d.name.padEnd(20)} ${d.vault.padEnd(16)} ${d.publicKey.slice(0, 16)}  ${state.padEnd(9)} ${time(d.lastSeenAt).padEnd(25)} ${time(d.lastSnapshotAt).padEnd(25)} ${formatBytes(d.bytesIntroduced)}`)
        }
      }
      return 0
    }
    case 'vaults': {
      const args = parseArgs('node vaults', rest, { data: { value: true }, json: {} })
      noPositionals(args, 'node vaults')
      const vaults = await withNodeAdmin(dataDir(args, io), io, (admin) => admin.listVaults())
      if (args.flags.has('json')) io.out(JSON.stringify(vaults))
      else {
        io.out('VAULT            DEVICES  USED        QUOTA')
        for (const v of vaults) io.out(`${v.name.padEnd(16)} ${String(v.deviceCount).padStart(7)}  ${formatBytes(v.usedBytes).padEnd(11)} ${quotaText(v.quotaBytes)}`)
      }
      return 0
    }
    case 'revoke': {
      const args = parseArgs('node revoke', rest, { data: { value: true }, vault: { value: true } })
      if (args.positionals.length !== 1) throw ArcaError.invalidArgument('arca node revoke needs exactly one DEVICE (its name or key prefix)')
      const d = await withNodeAdmin(dataDir(args, io), io, (admin) => admin.revoke(args.positionals[0], single(args, 'vault')))
      io.out(`Revoked device "${d.name}" of vault "${d.vault}" (key ${d.publicKey.slice(0, 16)}); its connections are refused from now on`)
      return 0
    }
    case 'mail': {
      const [mailSub, ...mailRest] = rest
      const dir = dataDir(parseArgs('node mail', mailRest, { ...MAIL_OPTIONS, data: { value: true }, json: {} }), io)
      const store = {
        read: () => withNodeAdmin(dir, io, (admin) => admin.mail()),
        write: (m: MailSettings | undefined) => withNodeAdmin(dir, io, (admin) => admin.setMail(m)),
      }
      return mailCommand(mailSub, mailRest, store, 'node mail', io)
    }
    case 'plans': {
      const args = parseArgs('node plans', rest, { data: { value: true }, json: {} })
      noPositionals(args, 'node plans')
      const plans = await withNodeAdmin(dataDir(args, io), io, (admin) => admin.plans())
      if (args.flags.has('json')) io.out(JSON.stringify(plans))
      else {
        if (plans.length === 0) io.out('No device has registered a plan yet (agents do at start and at each run)')
        for (const p of plans) {
          const r = p.lastRun
          const counts = r === undefined ? '' : ` (${r.filesNew} new, ${r.filesChanged} changed files, ${formatBytes(r.bytesRead)} read, ${formatBytes(r.bytesStored)} stored, ${r.warningCount} warnings, ${Math.round((r.finishedAt - r.startedAt) / 1000)} s)`
          io.out(`${p.deviceName.padEnd(20)} ${p.vault.padEnd(14)} ${p.name.padEnd(16)} ${p.schedule.padEnd(24)} ${p.timeZone.padEnd(16)} last success ${time(p.lastSuccessAt)}, last run ${p.lastOutcome ?? '-'} ${time(p.lastRunAt)}${counts}${p.openAlert !== undefined ? '  ALERT' : ''}`)
        }
      }
      return 0
    }
    case 'alerts': {
      const args = parseArgs('node alerts', rest, { data: { value: true }, all: {}, json: {} })
      noPositionals(args, 'node alerts')
      const alerts = await withNodeAdmin(dataDir(args, io), io, (admin) => admin.alerts(args.flags.has('all')))
      if (args.flags.has('json')) io.out(JSON.stringify(alerts))
      else {
        if (alerts.length === 0) io.out(args.flags.has('all') ? 'No alerts ever' : 'No open alerts: every device with a schedule backed up on time')
        for (const a of alerts) {
          const what = a.kind === 'missed' ? `missed "${a.plan}" due ${time(a.expectedAt)} (equipment off or no connection?)` : `backup "${a.plan}" failed at ${time(a.expectedAt)}`
          io.out(`${time(a.openedAt)}  ${a.closedAt === undefined ? 'OPEN  ' : 'closed'}  ${a.deviceName} (vault ${a.vault}): ${what}${a.lastSuccessAt !== undefined ? `; last success ${time(a.lastSuccessAt)}` : ''}`)
        }
      }
      return 0
    }
    case 'quota': {
      const args = parseArgs('node quota', rest, { data: { value: true }, vault: { value: true } })
      const vault = single(args, 'vault')
      if (vault === undefined || args.positionals.length !== 1) throw ArcaError.invalidArgument('arca node quota needs --vault NAME and one SIZE')
      const v = await withNodeAdmin(dataDir(args, io), io, (admin) => admin.setQuota(vault, parseSize(args.positionals[0], 'quota SIZE')))
      io.out(`Quota of vault "${v.name}" is now ${quotaText(v.quotaBytes)}`)
      return 0
    }
    case undefined: case 'help': case '--help':
      io.out(NODE_USAGE)
      return sub === undefined ? 2 : 0
    default:
      throw ArcaError.invalidArgument(`Unknown command "arca node ${sub}": run "arca node help" for the list`)
  }
}

async function startCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const args = parseArgs('node start', argv, {
    data: { value: true }, listen: { value: true }, swarm: {}, dht: { value: true }, bootstrap: { value: true, repeat: true }, web: { value: true },
    'alert-margin': { value: true }, 'alert-check': { value: true },
  })
  const marginText = single(args, 'alert-margin')
  const alertMarginMs = marginText === undefined ? undefined : parseDuration(marginText, '--alert-margin')
  const checkText = single(args, 'alert-check')
  const alertCheckMs = checkText === undefined ? undefined : parseDuration(checkText, '--alert-check')
  const webText = single(args, 'web')
  const web = webText === undefined ? undefined : parseHostPort(webText, '--web')
  noPositionals(args, 'node start')
  const dir = dataDir(args, io)
  const listen = parseHostPort(single(args, 'listen') ?? DEFAULT_LISTEN, '--listen')
  const isSwarm = args.flags.has('swarm')
  if (!isSwarm && (single(args, 'dht') !== undefined || all(args, 'bootstrap').length > 0)) {
    throw ArcaError.invalidArgument('--dht and --bootstrap of arca node start need --swarm')
  }
  const bootstrap = all(args, 'bootstrap')
  for (const b of bootstrap) parseHostPort(b, '--bootstrap')
  const dhtText = single(args, 'dht')
  // the DHT binds where TCP listens: on 0.0.0.0 it is reachable from the LAN and invites name a LAN address
  const dht = dhtText !== undefined ? parseHostPort(dhtText, '--dht') : { host: dhtHost(io) ?? listen.host, port: DEFAULT_DHT_PORT }
  const log = (level: string, message: string): void => io.out(`${new Date(io.clock.now()).toISOString()} ${level} ${message}`)
  if (!existsSync(join(dir, NODE_MARKER))) {
    const { publicKey } = await initNode(dir, defaultNodeName())
    log('info', `Created a new node in ${dir}, key ${publicKey}`)
  }
  const service = await NodeService.open(dir, io.clock, log, { alertMarginMs })
  const outbox = join(dir, 'outbox')
  const mailLog = (line: string): void => log('info', line)
  service.onAlert = alertMailer(service, outbox, io, mailLog)
  const mailRetry = setInterval(() => {
    void service.mailSettings().then((s) => (s === undefined ? undefined : sendQueued(s, outbox, undefined, io, mailLog))).catch(() => {})
  }, 5 * 60_000)
  mailRetry.unref()
  let daemon
  try {
    daemon = await startDaemon(service, { listen, swarm: isSwarm ? { dht, bootstrap: bootstrap.length > 0 ? bootstrap : undefined } : undefined, web, alertCheckMs })
  } catch (err) {
    await service.close()
    throw err
  }
  log('info', `Node "${service.name}" ready; advertised addresses ${daemon.addresses.join(', ')}`)
  await new Promise<void>((resolve) => {
    if (signal === undefined) return
    if (signal.aborted) resolve()
    signal.addEventListener('abort', () => resolve(), { once: true })
  })
  clearInterval(mailRetry)
  log('info', 'Stopping: closing connections and flushing vaults')
  await daemon.close()
  await service.close()
  log('info', 'Stopped')
  return 0
}

export async function pairCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('pair', argv, { name: { value: true }, transport: { value: true }, replace: {} })
  if (args.positionals.length !== 1) throw ArcaError.invalidArgument('arca pair needs exactly one INVITE (the text printed by arca node invite)')
  const transport = (single(args, 'transport') ?? 'auto') as Transport
  if (!TRANSPORTS.includes(transport)) throw ArcaError.invalidArgument(`Invalid --transport "${transport}": expected ${TRANSPORTS.join(', ')}`)
  const home = arcaHome(io.env)
  const existing = readDeviceConfig(home)
  if (existing !== undefined && !args.flags.has('replace')) {
    throw new ArcaError('ALREADY_EXISTS', `This device is already paired with node "${existing.node.name}" (vault "${existing.node.vault}") in ${join(home, 'device.json')}; pass --replace to pair again`)
  }
  const name = single(args, 'name') ?? defaultNodeName()
  const config = await pairDevice(args.positionals[0], name, transport, { dhtHost: dhtHost(io) })
  writeDeviceConfig(home, config)
  io.out(`Paired as device "${config.device.name}" with node "${config.node.name}", vault "${config.node.vault}"`)
  io.out(existsSync(join(home, 'device.json')) ? `Saved in ${join(home, 'device.json')}. Next: arca init (first device of the vault) or arca snapshots (with the vault's passphrase)` : '')
  return 0
}

function quotaText(bytes: number): string {
  return bytes === 0 ? 'unlimited' : formatBytes(bytes)
}

function time(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString()
}
