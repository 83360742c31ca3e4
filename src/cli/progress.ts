/**
 * A one-line progress display on a terminal (stderr): counts, bytes, speed and, when a total is known, an ETA.
 */
import type { Clock } from '../core/clock.js'

import { formatBytes } from '../core/errors.js'

export { formatBytes }

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

const REDRAW_MS = 100

export class ProgressLine {
  private readonly startedAt: number
  private isShown = false
  private drawnAt = Number.NEGATIVE_INFINITY
  constructor(
    private readonly clock: Clock,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly isEnabled = Boolean(process.stderr.isTTY),
  ) {
    this.startedAt = clock.now()
  }

  /** Redraws at most every 100 ms. */
  update(label: string, files: number, bytes: number, totalBytes?: number): void {
    if (!this.isEnabled) return
    const now = this.clock.now()
    if (now - this.drawnAt < REDRAW_MS) return
    this.drawnAt = now
    const elapsed = Math.max(1, now - this.startedAt)
    const speed = (bytes / elapsed) * 1000
    let line = `${label} ${files} files, ${formatBytes(bytes)}, ${formatBytes(speed)}/s`
    if (totalBytes !== undefined && totalBytes > 0) {
      const fraction = Math.min(1, bytes / totalBytes)
      const width = 20
      const filled = Math.round(fraction * width)
      line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0)}% ` + line
      if (speed > 0 && fraction < 1) line += `, ETA ${formatDuration(((totalBytes - bytes) / speed) * 1000)}`
    }
    const columns = this.stream.columns || 100
    this.stream.write('\r' + line.slice(0, columns - 1).padEnd(Math.min(columns - 1, 100)))
    this.isShown = true
  }

  done(): void {
    if (this.isShown) this.stream.write('\r\x1b[K')
    this.isShown = false
  }
}
