/**
 * The one error class of Arca. Every operational failure carries a code from a closed set; each code maps to a
 * CLI exit code (and later an HTTP status and a wire code) through exhaustive tables, so a new code does not
 * compile until it is mapped everywhere. Programmer errors stay plain `Error`s.
 */

export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'BAD_MESSAGE',
  'UNSUPPORTED_VERSION',
  'INTEGRITY_ERROR',
  'CHUNK_NOT_FOUND',
  'SNAPSHOT_NOT_FOUND',
  'QUOTA_EXCEEDED',
  'UNAUTHORIZED_PEER',
  'WRONG_PASSPHRASE',
  'WEAK_PASSPHRASE',
  'REPO_NOT_FOUND',
  'REPO_EXISTS',
  'REPO_LOCKED',
  'ALREADY_EXISTS',
  'UNSAFE_PATH',
  'IO_ERROR',
  'INTERRUPTED',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

/** CLI exit codes; 1 is reserved for unexpected failures. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 2,
  BAD_MESSAGE: 3,
  UNSUPPORTED_VERSION: 3,
  INTEGRITY_ERROR: 4,
  CHUNK_NOT_FOUND: 4,
  SNAPSHOT_NOT_FOUND: 5,
  QUOTA_EXCEEDED: 6,
  UNAUTHORIZED_PEER: 7,
  WRONG_PASSPHRASE: 8,
  WEAK_PASSPHRASE: 2,
  REPO_NOT_FOUND: 9,
  REPO_EXISTS: 10,
  REPO_LOCKED: 11,
  ALREADY_EXISTS: 10,
  UNSAFE_PATH: 12,
  IO_ERROR: 13,
  INTERRUPTED: 130,
}

export class ArcaError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ArcaError'
    this.code = code
  }

  static invalidArgument(message: string): ArcaError {
    return new ArcaError('INVALID_ARGUMENT', message)
  }

  static badMessage(where: string, detail: string): ArcaError {
    return new ArcaError('BAD_MESSAGE', `Malformed ${where}: ${detail}`)
  }

  static unsupportedVersion(what: string, received: number, supported: number): ArcaError {
    return new ArcaError(
      'UNSUPPORTED_VERSION',
      `Unsupported ${what} version: expected ${supported}, received ${received}`,
    )
  }

  static integrity(what: string, cause?: unknown): ArcaError {
    return new ArcaError('INTEGRITY_ERROR', `Integrity check failed: ${what}`, { cause })
  }

  static chunkNotFound(idHex: string): ArcaError {
    return new ArcaError('CHUNK_NOT_FOUND', `Object not found in store: "${idHex}"`)
  }

  static snapshotNotFound(ref: string): ArcaError {
    return new ArcaError('SNAPSHOT_NOT_FOUND', `Snapshot not found: "${ref}"`)
  }

  static wrongPassphrase(): ArcaError {
    return new ArcaError('WRONG_PASSPHRASE', 'Wrong passphrase: no key slot of this vault opens with it')
  }

  static weakPassphrase(length: number, minimum: number): ArcaError {
    return new ArcaError(
      'WEAK_PASSPHRASE',
      `Passphrase too short: at least ${minimum} characters are required, received ${length}`,
    )
  }

  static ioError(what: string, cause: unknown): ArcaError {
    const detail = cause instanceof Error ? cause.message : String(cause)
    return new ArcaError('IO_ERROR', `${what}: ${detail}`, { cause })
  }
}

export function isArcaError(err: unknown, code?: ErrorCode): err is ArcaError {
  return err instanceof ArcaError && (code === undefined || err.code === code)
}
