/**
 * A strict argument parser: declared options only, clear errors naming the command and the option.
 */
import { ArcaError } from '../core/errors.js'

export interface OptionSpec {
  /** takes a value */
  value?: boolean
  /** may be given more than once (values collected in order) */
  repeat?: boolean
}

export interface ParsedArgs {
  options: Map<string, string[]>
  flags: Set<string>
  positionals: string[]
}

export function parseArgs(command: string, argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const out: ParsedArgs = { options: new Map(), flags: new Set(), positionals: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('--') || arg === '-') {
      out.positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    const opt = spec[name]
    if (opt === undefined) {
      const known = Object.keys(spec).map((k) => '--' + k).join(', ')
      throw ArcaError.invalidArgument(`Unknown option "--${name}" for arca ${command}${known ? `: expected one of ${known}` : ''}`)
    }
    if (!opt.value) {
      if (eq >= 0) throw ArcaError.invalidArgument(`Option --${name} of arca ${command} takes no value`)
      out.flags.add(name)
      continue
    }
    let value: string
    if (eq >= 0) value = arg.slice(eq + 1)
    else {
      if (i + 1 >= argv.length) throw ArcaError.invalidArgument(`Option --${name} of arca ${command} needs a value`)
      value = argv[++i]
    }
    const list = out.options.get(name) ?? []
    if (list.length > 0 && !opt.repeat) throw ArcaError.invalidArgument(`Option --${name} of arca ${command} given more than once`)
    list.push(value)
    out.options.set(name, list)
  }
  return out
}

export function single(args: ParsedArgs, name: string): string | undefined {
  return args.options.get(name)?.[0]
}

export function all(args: ParsedArgs, name: string): string[] {
  return args.options.get(name) ?? []
}
