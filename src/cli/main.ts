#!/usr/bin/env node
/**
 * The arca command line: dispatches to the commands and maps errors to one line on stderr and an exit code.
 */
import { pathToFileURL } from 'node:url'
import { realpathSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { ArcaError, EXIT_CODES } from '../core/errors.js'
import { defaultIo, type Io } from './context.js'

const USAGE = `Usage: arca COMMAND [options]

Commands (each takes --repo DIR, or works against the paired node without it; the passphrase comes from
ARCA_PASSPHRASE or --passphrase-file FILE):
  init                         create a vault in an empty directory
  backup --plan NAME [--mode full|incremental|differential] [--exclude GLOB]... [--include GLOB]... [--no-cache] PATH...
  snapshots [--json]           list snapshots
  ls SNAPSHOT [PATH] [--json]  list files of a snapshot (SNAPSHOT: id prefix or "latest")
  restore SNAPSHOT[:PATH] --target DIR [--overwrite]
  check [--read-data] [--read-data-subset n/m|p%]
  forget SNAPSHOT...           remove snapshots
  key list|add|remove|passwd|recovery
  repair                       rebuild the index from the pack files
  pair INVITE [--name DEVICE] [--transport auto|tcp|swarm] [--replace]
                               pair this device with a storage node (config in ARCA_HOME, ~/.config/arca)
  plan add|edit|list|remove    backup plans with schedules ("arca plan help")
  run PLAN [--json] [--no-cache]  run a plan now, with its report
  report last|list [--plan P] [--json]
  agent start                  run the plans on their schedules (foreground; stops on SIGTERM)
  mail set|show|test|off       where run reports are mailed ("arca mail help")
  node init|start|invite|devices|vaults|revoke|quota [--data DIR]
                               run and administer a storage node ("arca node help")`

/**
 * Each command's module is imported when the command runs, so a backup to an embedded store does not load the
 * network stack, the web server or the mailer (about 200 ms at every start otherwise).
 */
export async function main(argv: string[], io: Io = defaultIo, signal?: AbortSignal): Promise<number> {
  const [command, ...rest] = argv
  const data = (): Promise<typeof import('./commands-data.js')> => import('./commands-data.js')
  const vault = (): Promise<typeof import('./commands-vault.js')> => import('./commands-vault.js')
  const node = (): Promise<typeof import('./commands-node.js')> => import('./commands-node.js')
  const plan = (): Promise<typeof import('./commands-plan.js')> => import('./commands-plan.js')
  try {
    switch (command) {
      case 'init': return await (await vault()).initCommand(rest, io)
      case 'backup': return await (await data()).backupCommand(rest, io, signal)
      case 'snapshots': return await (await data()).snapshotsCommand(rest, io)
      case 'ls': return await (await data()).lsCommand(rest, io)
      case 'restore': return await (await data()).restoreCommand(rest, io)
      case 'check': return await (await data()).checkCommand(rest, io)
      case 'forget': return await (await data()).forgetCommand(rest, io)
      case 'key': return await (await vault()).keyCommand(rest, io)
      case 'repair': return await (await vault()).repairCommand(rest, io)
      case 'node': return await (await node()).nodeCommand(rest, io, signal)
      case 'pair': return await (await node()).pairCommand(rest, io)
      case 'plan': return await (await plan()).planCommand(rest, io)
      case 'run': return await (await plan()).runCommand(rest, io, signal)
      case 'report': return await (await plan()).reportCommand(rest, io)
      case 'agent': return await (await import('./commands-agent.js')).agentCommand(rest, io, signal)
      case 'mail': {
        const { agentMailStore, mailCommand } = await import('./commands-mail.js')
        return await mailCommand(rest[0], rest.slice(1), agentMailStore(io), 'mail', io)
      }
      case undefined: case 'help': case '--help': case '-h':
        io.out(USAGE)
        return command === undefined ? 2 : 0
      default:
        throw ArcaError.invalidArgument(`Unknown command "${command}": run "arca help" for the list`)
    }
  } catch (err) {
    if (err instanceof ArcaError) {
      io.err(`arca: ${err.message}`)
      return EXIT_CODES[err.code]
    }
    io.err(`arca: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    return 1
  }
}

function isEntryPoint(): boolean {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1] ?? '')).href
  } catch {
    return false
  }
}

/**
 * V8 lets a heap grow up to 4x its live size between full collections when the program allocates fast, as a backup
 * does (promises, chunk ids, tree nodes). 1.5x lowers the peak resident memory of a day-1 backup by 30-50 MiB
 * (about 450 to about 410 MiB); on the full benchmark dataset it also costs about 7 % of the time (about 90 full
 * collections instead of 35; docs/PERFORMANCE.md, "Batch buffers reused by best fit"). Set at start.
 * Not for the storage node's daemon: there it cost 12 % of the node's CPU during a day-1 upload for no measured
 * memory gain (its heap is small; the same section).
 */
const HEAP_GROWING_PERCENT = 50

/** Whether `argv` starts the storage node's daemon. */
function isNodeDaemon(argv: readonly string[]): boolean {
  return argv[0] === 'node' && argv[1] === 'start'
}

if (isEntryPoint()) {
  if (!isNodeDaemon(process.argv.slice(2))) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  const controller = new AbortController()
  let signals = 0
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130)
    controller.abort()
  }
  // a closed stdout (arca ... | head) ends output quietly instead of crashing
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  })
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  main(process.argv.slice(2), defaultIo, controller.signal).then((code) => {
    process.exitCode = code
  })
}
