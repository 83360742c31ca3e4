/**
 * A real SMTP server for tests (`smtp-server` on 127.0.0.1, a free port): it records every message with its
 * envelope and whether TLS was on, answers 550 to the recipients in `refused`, and serves implicit TLS or STARTTLS
 * with the test certificate in test/fixtures/smtp-tls. Plus a dead port, a silent server, and just enough MIME
 * parsing (headers, RFC 2047 subjects, multipart/alternative, quoted-printable and base64) to read what arrived.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join, resolve } from 'node:path'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import type { Test } from 'tap'

const FIXTURES = resolve(import.meta.dirname, '../fixtures/smtp-tls')
/** The test certificate (CN localhost, SAN 127.0.0.1): give it as `ca` to a client. */
export const TLS_CERT = readFileSync(join(FIXTURES, 'localhost.crt'), 'utf8')
const TLS_KEY = readFileSync(join(FIXTURES, 'localhost.key'), 'utf8')

export interface Received {
  from: string
  to: string[]
  isSecure: boolean
  user?: string
  raw: string
}

export interface TestSmtp {
  port: number
  messages: Received[]
  /** RCPT TO addresses answered with 550. */
  refused: Set<string>
  rcptCount: number
  errors: Error[]
}

/** Starts a server closed in `t`'s teardown; `options` override the defaults (e.g. `secure: true`, `onAuth`). */
export async function startSmtp(t: Test, options: SMTPServerOptions = {}): Promise<TestSmtp> {
  const state: TestSmtp = { port: 0, messages: [], refused: new Set(), rcptCount: 0, errors: [] }
  const server = new SMTPServer({
    authOptional: true,
    logger: false,
    key: TLS_KEY,
    cert: TLS_CERT,
    onRcptTo(address, _session, callback) {
      state.rcptCount++
      if (!state.refused.has(address.address)) return callback()
      callback(Object.assign(new Error(`5.1.1 <${address.address}>: mailbox unavailable`), { responseCode: 550 }))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        state.messages.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          isSecure: session.secure,
          ...(session.user !== undefined ? { user: String(session.user) } : {}),
          raw: Buffer.concat(chunks).toString('utf8'),
        })
        callback()
      })
    },
    ...options,
  })
  // A client that gives up during the TLS handshake (an untrusted certificate) is an 'error' of the server.
  server.on('error', (err) => state.errors.push(err))
  await new Promise<void>((done, fail) => {
    server.server.once('error', fail)
    server.listen(0, '127.0.0.1', () => done())
  })
  state.port = (server.server.address() as { port: number }).port
  t.teardown(() => new Promise<void>((done) => server.close(() => done())))
  return state
}

/** A port nothing listens on: bound, then released. */
export async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((done) => s.listen(0, '127.0.0.1', () => done()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((done) => s.close(() => done()))
  return port
}

/** A TCP server that accepts and never says a word: what a hung SMTP server looks like. */
export async function silentServer(t: Test): Promise<number> {
  const sockets = new Set<Socket>()
  const s: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((done) => s.listen(0, '127.0.0.1', () => done()))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((done) => s.close(() => done()))
  })
  return (s.address() as { port: number }).port
}

export interface ParsedMail {
  headers: Map<string, string>
  subject: string
  text?: string
  html?: string
}

function splitHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>()
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  return headers
}

/** RFC 2047 encoded words (B and Q, UTF-8), joined as the RFC says: no space between adjacent encoded words. */
function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, _charset: string, enc: string, data: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
    )
}

function decodeBody(body: string, encoding: string | undefined): string {
  const e = (encoding ?? '7bit').toLowerCase()
  if (e === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
  if (e === 'quoted-printable') {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16)))
    return Buffer.from(bytes, 'latin1').toString('utf8').replace(/\r\n/g, '\n')
  }
  return body.replace(/\r\n/g, '\n')
}

/** Headers, the decoded subject and the text and HTML parts of a raw RFC 5322 message. */
export function parseMail(raw: string): ParsedMail {
  const cut = raw.indexOf('\r\n\r\n')
  const headers = splitHeaders(raw.slice(0, cut))
  const out: ParsedMail = { headers, subject: decodeWords(headers.get('subject') ?? '') }
  const visit = (type: string, encoding: string | undefined, body: string) => {
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1]
    if (type.toLowerCase().startsWith('multipart/') && boundary !== undefined) {
      const parts = body.split(`--${boundary}`).slice(1)
      for (const part of parts) {
        if (part.startsWith('--')) break
        const partCut = part.indexOf('\r\n\r\n')
        const h = splitHeaders(part.slice(2, partCut))
        visit(h.get('content-type') ?? 'text/plain', h.get('content-transfer-encoding'), part.slice(partCut + 4).replace(/\r\n$/, ''))
      }
    } else if (type.toLowerCase().startsWith('text/plain')) {
      out.text = decodeBody(body, encoding)
    } else if (type.toLowerCase().startsWith('text/html')) {
      out.html = decodeBody(body, encoding)
    }
  }
  visit(headers.get('content-type') ?? 'text/plain', headers.get('content-transfer-encoding'), raw.slice(cut + 4))
  return out
}
