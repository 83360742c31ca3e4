/**
 * Include/exclude globs. `*` matches within one path component, `**` across components, `?` one character,
 * `[abc]` a class. A pattern without "/" matches the entry's name at any depth (`*.tmp`, `node_modules`); a
 * pattern with "/" matches the absolute path (`/home/USER/cache`, or a double star for any depth). Includes apply to files only:
 * when any are given, a file is kept only if it matches one; directories are always walked.
 */
import { ArcaError } from '../core/errors.js'

export interface PathFilter {
  isExcluded(absPath: string, name: string): boolean
  isIncludedFile(absPath: string, name: string): boolean
}

interface Compiled {
  regex: RegExp
  matchesName: boolean
}

export function globToRegExp(pattern: string): RegExp {
  let out = '^'
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++
        if (pattern[i + 1] === '/') {
          i++
          out += '(?:.*/)?'
        } else out += '.*'
      } else out += '[^/]*'
    } else if (c === '?') out += '[^/]'
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2)
      if (close < 0) throw ArcaError.invalidArgument(`Invalid glob "${pattern}": unclosed "[" at position ${i + 1}`)
      let body = pattern.slice(i + 1, close)
      if (body.startsWith('!')) body = '^' + body.slice(1)
      out += '[' + body.replace(/\\/g, '\\\\') + ']'
      i = close
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp(out + '$', 's')
}

function compile(patterns: readonly string[], what: string): Compiled[] {
  return patterns.map((p) => {
    if (p === '') throw ArcaError.invalidArgument(`Invalid ${what} pattern: empty`)
    return { regex: globToRegExp(p.endsWith('/') && p.length > 1 ? p.slice(0, -1) : p), matchesName: !p.includes('/') }
  })
}

function matches(list: Compiled[], absPath: string, name: string): boolean {
  for (const c of list) if (c.regex.test(c.matchesName ? name : absPath)) return true
  return false
}

export function createPathFilter(options: { excludes?: readonly string[]; includes?: readonly string[] } = {}): PathFilter {
  const excludes = compile(options.excludes ?? [], 'exclude')
  const includes = compile(options.includes ?? [], 'include')
  return {
    isExcluded: (absPath, name) => excludes.length > 0 && matches(excludes, absPath, name),
    isIncludedFile: (absPath, name) => includes.length === 0 || matches(includes, absPath, name),
  }
}
