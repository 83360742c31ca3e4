/**
 * A small document model for Arca's emails, rendered twice: as aligned plain text and as an HTML page with inline
 * styles and no external resources. Documents hold plain text only and this file is the one place that writes
 * HTML, escaping every value, so a path or a device name can never inject markup. Also the formatters the emails
 * share: times in a given time zone, durations, counts, ratios.
 */
import { ArcaError, formatBytes } from '../core/errors.js'

export type MailTone = 'ok' | 'warn' | 'bad' | 'neutral'

export interface MailField {
  label: string
  value: string
  isAlarming?: boolean
}

export interface MailListItem {
  /** Shown in a monospace font: a path. */
  code: string
  text: string
}

export interface MailDoc {
  /** Header line of the page, with its mark (✔, ⚠, ✖). */
  headline: string
  tone: MailTone
  intro: string[]
  fields: MailField[]
  list?: { title: string; items: MailListItem[]; more?: string }
  outro: string[]
  footer: string
}

const TONE_COLORS: Record<MailTone, string> = { ok: '#1a7f37', warn: '#9a6700', bad: '#cf222e', neutral: '#57606a' }

export function renderText(doc: MailDoc): string {
  const lines: string[] = [doc.headline, '='.repeat(Math.min(72, [...doc.headline].length)), '']
  for (const p of doc.intro) lines.push(p, '')
  const width = Math.max(0, ...doc.fields.map((f) => f.label.length)) + 2
  for (const f of doc.fields) lines.push(`${`${f.label}:`.padEnd(width)}${f.value}`)
  if (doc.list !== undefined) {
    lines.push('', doc.list.title)
    for (const item of doc.list.items) lines.push(`  - ${item.code}: ${item.text}`)
    if (doc.list.more !== undefined) lines.push(`  ${doc.list.more}`)
  }
  for (const p of doc.outro) lines.push('', p)
  lines.push('', '-- ', doc.footer, '')
  return lines.join('\n')
}

export function renderHtml(doc: MailDoc): string {
  const e = escapeHtml
  const muted = '#57606a'
  const rows = doc.fields
    .map(
      (f) =>
        `<tr><th scope="row" style="text-align:left;vertical-align:top;padding:3px 16px 3px 0;color:${muted};font-weight:normal;white-space:nowrap">${e(f.label)}</th>` +
        `<td style="padding:3px 0;${f.isAlarming === true ? `color:${TONE_COLORS.bad};font-weight:600;` : ''}word-break:break-word">${e(f.value)}</td></tr>`,
    )
    .join('\n')
  const paragraph = (p: string) => `<p style="margin:0 0 12px 0">${e(p)}</p>`
  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(doc.headline)}</title></head>`,
    `<body style="margin:0;padding:16px;background:#f6f8fa;color:#1f2328;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:14px;line-height:1.45">`,
    '<div style="max-width:680px;margin:0 auto;background:#ffffff;border:1px solid #d0d7de;border-radius:6px">',
    `<div style="padding:14px 20px;background:${TONE_COLORS[doc.tone]};color:#ffffff;font-size:18px;font-weight:600;border-radius:5px 5px 0 0">${e(doc.headline)}</div>`,
    '<div style="padding:16px 20px">',
    ...doc.intro.map(paragraph),
    `<table role="presentation" style="border-collapse:collapse;font-size:14px">\n${rows}\n</table>`,
  ]
  if (doc.list !== undefined) {
    parts.push(`<h2 style="font-size:15px;margin:18px 0 6px 0">${e(doc.list.title)}</h2>`)
    parts.push('<ul style="margin:0;padding-left:20px;font-size:13px">')
    for (const item of doc.list.items) {
      parts.push(`<li style="margin:2px 0"><code style="font-family:Menlo,Consolas,monospace;background:#f6f8fa;padding:0 3px;word-break:break-all">${e(item.code)}</code>: ${e(item.text)}</li>`)
    }
    parts.push('</ul>')
    if (doc.list.more !== undefined) parts.push(`<p style="margin:6px 0 0 0;color:${muted}">${e(doc.list.more)}</p>`)
  }
  if (doc.outro.length > 0) parts.push('<div style="margin-top:16px">', ...doc.outro.map(paragraph), '</div>')
  parts.push(
    '</div>',
    `<div style="padding:10px 20px;border-top:1px solid #d0d7de;color:${muted};font-size:12px">${e(doc.footer)}</div>`,
    '</div></body></html>',
    '',
  )
  return parts.join('\n')
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** One line for a subject or a table cell: control characters and runs of spaces become one space, capped. */
export function oneLine(s: string, maxChars = 200): string {
  const flat = s.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim()
  const chars = [...flat]
  return chars.length <= maxChars ? flat : `${chars.slice(0, maxChars - 1).join('')}…`
}

/** 1234567 -> "1,234,567". */
export function formatCount(n: number): string {
  const sign = n < 0 ? '-' : ''
  const digits = String(Math.trunc(Math.abs(n)))
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`
}

/** 3723000 -> "1 h 02 min 03 s"; under 10 s with a tenth: "3.2 s". */
export function formatDuration(ms: number): string {
  const v = Math.max(0, ms)
  if (v < 10_000) return `${(Math.floor(v / 100) / 10).toFixed(1)} s`
  const total = Math.floor(v / 1000)
  const d = Math.floor(total / 86_400)
  const h = Math.floor((total % 86_400) / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const two = (x: number) => String(x).padStart(2, '0')
  if (d > 0) return `${d} d ${two(h)} h ${two(m)} min`
  if (h > 0) return `${h} h ${two(m)} min ${two(s)} s`
  if (m > 0) return `${m} min ${two(s)} s`
  return `${s} s`
}

/** A ratio as "3.25×"; 0 (nothing to compare) as "-". */
export function formatRatio(r: number): string {
  return r > 0 && Number.isFinite(r) ? `${r.toFixed(2)}×` : '-'
}

export function formatSpeed(bytesPerSec: number): string {
  return `${formatBytes(Math.round(bytesPerSec))}/s`
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** An instant as people read it in `timeZone`: "Tue 5 Mar 2024 22:00:03 GMT+1". */
export function formatTime(ms: number, timeZone: string): string {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-GB', {
        timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
        hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'shortOffset',
      })
    } catch {
      throw ArcaError.invalidArgument(`Invalid time zone for the email: expected an IANA name like "Europe/Paris", received ${JSON.stringify(timeZone)}`)
    }
    formatters.set(timeZone, f)
  }
  const p: Record<string, string> = {}
  for (const part of f.formatToParts(ms)) p[part.type] = part.value
  return `${p.weekday} ${p.day} ${p.month} ${p.year} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`
}
