/**
 * The SMTP settings of an agent or a node, and their validator. A hand-edited file fails with the field and the value
 * received; the combinations that would hang (implicit TLS against a STARTTLS port) or leak a password (a login
 * without TLS) are refused here rather than at the first send, hours later.
 */
import { ArcaError } from '../core/errors.js'

export type SmtpSecurity = 'tls' | 'starttls' | 'none'
export const SMTP_SECURITIES: readonly SmtpSecurity[] = ['tls', 'starttls', 'none']

export interface SmtpConfig {
  host: string
  port: number
  /**
   * `tls`: TLS from the first byte (port 465). `starttls`: plain connection upgraded with STARTTLS, and refused if
   * the server does not offer it (ports 587 and 25). `none`: no TLS at all, for a relay on the local network.
   */
  security: SmtpSecurity
  /** Login name; with `passwordFile`, or neither. */
  user?: string
  /** File holding the password (one line), read at each send so it can be changed without a restart. */
  passwordFile?: string
  /** Sender: `arca@example.org` or `Arca backups <arca@example.org>`. */
  from: string
}

export interface CheckSmtpConfigOptions {
  /** Name of the settings object in the file, prefixed to each field in errors. Default `smtp`. */
  key?: string
}

const KNOWN_FIELDS = ['host', 'port', 'security', 'user', 'passwordFile', 'from']
const HOST_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/
const IP_HOST = /^\[?[0-9A-Fa-f:.]+\]?$/
const ADDRESS = '[^\\s@<>",;]+@[^\\s@<>",;]+'
const BARE_ADDRESS = new RegExp(`^${ADDRESS}$`)
const NAMED_ADDRESS = new RegExp(`^[^<>\\r\\n]*<${ADDRESS}>$`)
/** Ports whose TLS mode is fixed by RFC 8314 (465) and RFC 6409 / 5321 (587, 25). */
const IMPLICIT_TLS_PORTS = [465]
const PLAIN_START_PORTS = [25, 587]

/** An email address as `to`, `auxTo` and `from` accept it: `a@b.example` or `Name <a@b.example>`. */
export function isEmailAddress(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 320 && (BARE_ADDRESS.test(value) || NAMED_ADDRESS.test(value))
}

/**
 * Checks SMTP settings read from `where` (a file name, for the message) and returns them typed, without unknown
 * fields. Throws INVALID_ARGUMENT: `Invalid mail settings in agent.json: "smtp.port" must be 1-65535, received 0`.
 */
export function checkSmtpConfig(value: unknown, where: string, options: CheckSmtpConfigOptions = {}): SmtpConfig {
  const key = options.key ?? 'smtp'
  const fail = (detail: string): never => {
    throw ArcaError.invalidArgument(`Invalid mail settings in ${where}: ${detail}`)
  }
  const bad = (field: string, expected: string, received: unknown): never =>
    fail(`"${key}.${field}" must be ${expected}, received ${show(received)}`)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`"${key}" must be an object { host, port, security, from }, received ${show(value)}`)
  }
  const c = value as Record<string, unknown>
  for (const field of Object.keys(c)) {
    if (!KNOWN_FIELDS.includes(field)) fail(`"${key}.${field}" is not a setting (known: ${KNOWN_FIELDS.join(', ')})`)
  }
  if (!isHost(c.host)) bad('host', 'a host name or IP address', c.host)
  if (typeof c.port !== 'number' || !Number.isInteger(c.port) || c.port < 1 || c.port > 65535) bad('port', '1-65535', c.port)
  if (!SMTP_SECURITIES.includes(c.security as SmtpSecurity)) bad('security', '"tls", "starttls" or "none"', c.security)
  const port = c.port as number
  const security = c.security as SmtpSecurity
  if (IMPLICIT_TLS_PORTS.includes(port) && security !== 'tls') {
    bad('security', `"tls" with port ${port} (TLS from the first byte)`, security)
  }
  if (PLAIN_START_PORTS.includes(port) && security === 'tls') {
    bad('security', `"starttls" or "none" with port ${port} (TLS starts after the greeting)`, security)
  }
  if (c.user !== undefined && (typeof c.user !== 'string' || c.user === '' || /[\r\n]/.test(c.user))) bad('user', 'a non-empty login name', c.user)
  if (c.passwordFile !== undefined && (typeof c.passwordFile !== 'string' || c.passwordFile === '')) bad('passwordFile', 'a file path', c.passwordFile)
  if (c.user !== undefined && c.passwordFile === undefined) fail(`"${key}.passwordFile" is required with "${key}.user"`)
  if (c.passwordFile !== undefined && c.user === undefined) fail(`"${key}.user" is required with "${key}.passwordFile"`)
  if (c.user !== undefined && security === 'none') {
    bad('security', `"tls" or "starttls" when "${key}.user" is set (a password must not cross the network in clear)`, security)
  }
  if (!isEmailAddress(c.from)) bad('from', 'an email address like "arca@example.org" or "Arca <arca@example.org>"', c.from)
  return {
    host: c.host as string,
    port,
    security,
    ...(c.user !== undefined ? { user: c.user as string, passwordFile: c.passwordFile as string } : {}),
    from: c.from as string,
  }
}

function isHost(value: unknown): boolean {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253) return false
  return IP_HOST.test(value) || value.replace(/\.$/, '').split('.').every((label) => HOST_LABEL.test(label))
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value)
}
