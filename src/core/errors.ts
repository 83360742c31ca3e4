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
  'NODE_UNREACHABLE',
  'CONNECTION_LOST',
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
  NODE_UNREACHABLE: 14,
  CONNECTION_LOST: 14,
}

/** HTTP statuses of the node's control and web API. */
export const HTTP_STATUSES: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  BAD_MESSAGE: 400,
  UNSUPPORTED_VERSION: 400,
  INTEGRITY_ERROR: 500,
  CHUNK_NOT_FOUND: 404,
  SNAPSHOT_NOT_FOUND: 404,
  QUOTA_EXCEEDED: 507,
  UNAUTHORIZED_PEER: 403,
  WRONG_PASSPHRASE: 403,
  WEAK_PASSPHRASE: 400,
  REPO_NOT_FOUND: 404,
  REPO_EXISTS: 409,
  REPO_LOCKED: 423,
  ALREADY_EXISTS: 409,
  UNSAFE_PATH: 400,
  IO_ERROR: 500,
  INTERRUPTED: 503,
  NODE_UNREACHABLE: 502,
  CONNECTION_LOST: 502,
}

/** Codes on the wire (ERROR frames). Stable: a code's number never changes meaning. */
export const WIRE_CODES: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 1,
  BAD_MESSAGE: 2,
  UNSUPPORTED_VERSION: 3,
  INTEGRITY_ERROR: 4,
  CHUNK_NOT_FOUND: 5,
  SNAPSHOT_NOT_FOUND: 6,
  QUOTA_EXCEEDED: 7,
  UNAUTHORIZED_PEER: 8,
  WRONG_PASSPHRASE: 9,
  WEAK_PASSPHRASE: 10,
  REPO_NOT_FOUND: 11,
  REPO_EXISTS: 12,
  REPO_LOCKED: 13,
  ALREADY_EXISTS: 14,
  UNSAFE_PATH: 15,
  IO_ERROR: 16,
  INTERRUPTED: 17,
  NODE_UNREACHABLE: 18,
  CONNECTION_LOST: 19,
}

/** The error code of a wire code, or undefined for a number this version does not know. */
export function errorCodeOfWire(wire: number): ErrorCode | undefined {
  for (const code of ERROR_CODES) if (WIRE_CODES[code] === wire) return code
  return undefined
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

  static quotaExceeded(vault: string, usedBytes: number, incomingBytes: number, quotaBytes: number): ArcaError {
    return new ArcaError(
      'QUOTA_EXCEEDED',
      `Quota of vault "${vault}" exceeded: ${formatBytes(usedBytes)} used of ${formatBytes(quotaBytes)} allowed, this upload needs ${formatBytes(incomingBytes)} more`,
    )
  }

  static unauthorizedPeer(detail: string): ArcaError {
    return new ArcaError('UNAUTHORIZED_PEER', `Not authorised: ${detail}`)
  }

  static ioError(what: string, cause: unknown): ArcaError {
    const detail = cause instanceof Error ? cause.message : String(cause)
    return new ArcaError('IO_ERROR', `${what}: ${detail}`, { cause })
  }
}

export function isArcaError(err: unknown, code?: ErrorCode): err is ArcaError {
  return err instanceof ArcaError && (code === undefined || err.code === code)
}

/** Bytes as people read them: 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}
