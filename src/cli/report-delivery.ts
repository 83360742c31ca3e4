/**
 * Where a run report goes after it is saved: by mail (outbox in ARCA_HOME/outbox) when agent.json has mail
 * settings, to the main address or else the auxiliary one. Never fails the run.
 */
import { join } from 'node:path'
import { readAgentConfig } from '../agent/agent-config.js'
import type { RunReport } from '../agent/run-report.js'
import { renderRunReport } from '../mail/index.js'
import type { Io } from './context.js'
import { sendQueued } from './mail-setup.js'

export const OUTBOX_DIR = 'outbox'

export async function deliverReport(report: RunReport, home: string, io: Io, log: (message: string) => void): Promise<void> {
  const config = readAgentConfig(home)
  if (config.mail === undefined) return
  await sendQueued(config.mail, join(home, OUTBOX_DIR), renderRunReport(report, config.timeZone), io, log)
}

/** Retries what waits in the outbox (the daemon calls this now and then). */
export async function retryMail(home: string, io: Io, log: (message: string) => void): Promise<void> {
  const config = readAgentConfig(home)
  if (config.mail === undefined) return
  await sendQueued(config.mail, join(home, OUTBOX_DIR), undefined, io, log)
}
