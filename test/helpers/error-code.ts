import { ArcaError, type ErrorCode } from '../../src/core/errors.js'

/** The ArcaError code `fn` throws, 'ok' when it returns, or the name and message of any other error. */
export function codeOf(fn: () => unknown): ErrorCode | 'ok' | string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return err instanceof ArcaError ? err.code : `${(err as Error).name}: ${(err as Error).message}`
  }
}
