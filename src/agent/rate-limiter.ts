/**
 * A token bucket for the upload limit of a plan: `take(bytes)` resolves when that many bytes may be sent. One
 * second of burst; time from the injected clock.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from '../core/clock.js'

export class RateLimiter {
  private tokens: number
  private last: number
  private chain: Promise<void> = Promise.resolve()

  constructor(
    private readonly bytesPerSec: number,
    private readonly clock: Clock,
    private readonly pause: (ms: number) => Promise<unknown> = sleep,
  ) {
    this.tokens = bytesPerSec
    this.last = clock.now()
  }

  /** Waits its turn (callers are served in order), then until `bytes` tokens are there. */
  take(bytes: number): Promise<void> {
    const turn = this.chain.then(() => this.wait(bytes))
    this.chain = turn
    return turn
  }

  private async wait(bytes: number): Promise<void> {
    for (;;) {
      const now = this.clock.now()
      this.tokens = Math.min(this.bytesPerSec, this.tokens + ((now - this.last) * this.bytesPerSec) / 1000)
      this.last = now
      // a request larger than the burst goes when the bucket is full, and leaves it in debt
      if (this.tokens >= Math.min(bytes, this.bytesPerSec)) {
        this.tokens -= bytes
        return
      }
      await this.pause(Math.ceil(((Math.min(bytes, this.bytesPerSec) - this.tokens) * 1000) / this.bytesPerSec))
    }
  }
}
