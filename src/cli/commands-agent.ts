/**
 * arca agent start: the backup daemon in the foreground. Logs to stdout and ARCA_HOME/agent.log, stops cleanly on
 * SIGTERM (a running backup is cut short, its report says so, what was uploaded is kept).
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { AgentDaemon } from '../agent/agent-daemon.js'
import { readAgentConfig, writeAgentConfig } from '../agent/agent-config.js'
import { arcaHome } from '../agent/device-config.js'
import { ArcaError, formatBytes } from '../core/errors.js'
import { checkTimeZone, nextRun } from '../schedule/index.js'
import { parseArgs } from './args.js'
import { cacheDir, defaultDeviceName, registerPlansAtStart, REPO_OPTIONS, withPlanTarget, type Io } from './context.js'
import { deliverReport, retryMail } from './report-delivery.js'

export const AGENT_LOG_FILE = 'agent.log'

export async function agentCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === 'timezone') return timeZoneCommand(rest, io)
  if (sub !== 'start') {
    io.out('Usage: arca agent start [--passphrase-file FILE]   run the plans of ARCA_HOME/agent.json on their schedules\n       arca agent timezone [ZONE]                    show or set the time zone of the schedules')
    return sub === undefined || sub === 'help' ? 0 : 2
  }
  const args = parseArgs('agent start', rest, REPO_OPTIONS)
  const home = arcaHome(io.env)
  mkdirSync(home, { recursive: true, mode: 0o700 })
  const logFile = join(home, AGENT_LOG_FILE)
  const log = (message: string): void => {
    const line = `${new Date(io.clock.now()).toISOString()} ${message}`
    io.out(line)
    try {
      appendFileSync(logFile, line + '\n')
    } catch {
      // the log file is a copy of stdout: losing it must not stop backups
    }
  }
  const config = readAgentConfig(home)
  const daemon = new AgentDaemon({
    home, clock: io.clock, deviceName: defaultDeviceName(args, io) ?? hostname(), log, cacheDir: cacheDir(args, io),
    withTarget: (plan, fn) => withPlanTarget(plan, args, io, fn),
    onReport: (report) => deliverReport(report, home, io, log),
  })
  let lastProgressAt = 0
  daemon.on('progress', (plan, p) => {
    const now = io.clock.now()
    if (now - lastProgressAt < 10_000) return
    lastProgressAt = now
    log(`Plan "${plan}": ${p.files} files, ${formatBytes(p.logicalBytes)} seen, ${formatBytes(p.bytesStored)} stored`)
  })
  log(`Agent started in ${home}, time zone ${config.timeZone}, ${config.plans.length} plans`)
  for (const p of config.plans) {
    const next = nextRun(p.schedule, io.clock.now(), config.timeZone)
    log(`Plan "${p.name}": next run ${next === undefined ? 'none (manual)' : new Date(next).toISOString()}`)
  }
  await registerPlansAtStart(args, io, log)
  const mailRetry = setInterval(() => void retryMail(home, io, log), 5 * 60_000)
  mailRetry.unref()
  await daemon.start()
  await new Promise<void>((resolve) => {
    if (signal === undefined || signal.aborted) return resolve()
    signal.addEventListener('abort', () => resolve(), { once: true })
  })
  clearInterval(mailRetry)
  log('Stopping: cutting running backups short')
  await daemon.stop()
  log('Stopped')
  return 0
}

function timeZoneCommand(argv: string[], io: Io): number {
  const args = parseArgs('agent timezone', argv, {})
  const home = arcaHome(io.env)
  const config = readAgentConfig(home)
  if (args.positionals.length === 0) {
    io.out(config.timeZone)
    return 0
  }
  if (args.positionals.length > 1) throw ArcaError.invalidArgument('arca agent timezone takes at most one ZONE (for example Europe/Paris)')
  config.timeZone = checkTimeZone(args.positionals[0])
  writeAgentConfig(home, config)
  io.out(`Schedules now follow the time zone ${config.timeZone}`)
  return 0
}
