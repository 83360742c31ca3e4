/** The only place that reads the wall clock. Everything else takes a `Clock`. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
}

/** A clock that only moves when told to; for tests. */
export class FakeClock implements Clock {
  constructor(private ms: number) {}
  now(): number {
    return this.ms
  }
  advance(ms: number): void {
    this.ms += ms
  }
  set(ms: number): void {
    this.ms = ms
  }
}
