/**
 * arca init, arca key add|list|remove|passwd|recovery, arca repair.
 */
import { ArcaError } from '../core/errors.js'
import { repairStore } from '../node/repair.js'
import { Repository } from '../repo/repository.js'
import { parseArgs, single } from './args.js'
import { kdfParams, openStore, passphrase, REPO_OPTIONS, repoDir, storeLabel, withRepository, type Io } from './context.js'

export async function initCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('init', argv, { ...REPO_OPTIONS, json: {} })
  if (args.positionals.length > 0) throw ArcaError.invalidArgument(`Unexpected argument for arca init: "${args.positionals[0]}"`)
  const pass = passphrase(args, io)
  if (pass === undefined) throw ArcaError.invalidArgument('No passphrase given: set ARCA_PASSPHRASE or pass --passphrase-file FILE')
  const store = await openStore(args, io, { create: true })
  try {
    const repo = await Repository.init(store, pass, { clock: io.clock, kdf: kdfParams(io) })
    if (args.flags.has('json')) io.out(JSON.stringify({ vault: repo.vaultIdHex, repo: storeLabel(args, io) }))
    else {
      io.out(`Created vault ${repo.vaultIdHex.slice(0, 16)} in ${storeLabel(args, io)}`)
      io.out('Keep the passphrase safe: without it (or the recovery key, see "arca key recovery") the data cannot be read.')
    }
  } finally {
    await store.close()
  }
  return 0
}

function newPassphrase(args: ReturnType<typeof parseArgs>, io: Io): string {
  const file = single(args, 'new-passphrase-file')
  if (file !== undefined) {
    return passphrase(parseArgs('key', ['--passphrase-file', file], REPO_OPTIONS), io)!
  }
  const env = io.env.ARCA_NEW_PASSPHRASE
  if (env === undefined) throw ArcaError.invalidArgument('No new passphrase given: set ARCA_NEW_PASSPHRASE or pass --new-passphrase-file FILE')
  return env
}

export async function keyCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv
  const args = parseArgs(`key ${sub ?? ''}`.trim(), rest, { ...REPO_OPTIONS, json: {}, label: { value: true }, 'new-passphrase-file': { value: true } })
  switch (sub) {
    case 'list':
      return withRepository(args, io, async (repo) => {
        const slots = await repo.listKeySlots()
        if (args.flags.has('json')) io.out(JSON.stringify(slots))
        else for (const s of slots) io.out(`${s.id.slice(0, 16)}  ${new Date(s.createdAt).toISOString()}  scrypt N=2^${s.kdf.logN} r=${s.kdf.r} p=${s.kdf.p}  ${s.label}`)
        return 0
      })
    case 'add':
      return withRepository(args, io, async (repo) => {
        const id = await repo.addKeySlot(newPassphrase(args, io), { clock: io.clock, kdf: kdfParams(io), label: single(args, 'label') })
        io.out(`Added key slot ${id.slice(0, 16)}`)
        return 0
      })
    case 'passwd':
      return withRepository(args, io, async (repo) => {
        const current = passphrase(args, io)
        const oldSlot = current === undefined ? undefined : await repo.slotOpenedBy(current)
        if (oldSlot === undefined) throw ArcaError.invalidArgument('arca key passwd needs the current passphrase (ARCA_PASSPHRASE or --passphrase-file)')
        const id = await repo.addKeySlot(newPassphrase(args, io), { clock: io.clock, kdf: kdfParams(io), label: single(args, 'label') })
        await repo.removeKeySlot(oldSlot)
        io.out(`Changed passphrase: key slot ${oldSlot.slice(0, 16)} replaced by ${id.slice(0, 16)}`)
        return 0
      })
    case 'remove': {
      const [ref, ...extra] = args.positionals
      if (ref === undefined || extra.length > 0) throw ArcaError.invalidArgument('Usage: arca key remove --repo DIR SLOT_ID')
      return withRepository(args, io, async (repo) => {
        const removed = await repo.removeKeySlot(ref)
        io.out(`Removed key slot ${removed.slice(0, 16)}`)
        return 0
      })
    }
    case 'recovery':
      return withRepository(args, io, async (repo) => {
        io.out(repo.recoveryKey())
        return 0
      })
    default:
      throw ArcaError.invalidArgument(`Unknown subcommand "arca key ${sub ?? ''}": expected add, list, remove, passwd or recovery`)
  }
}

export async function repairCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('repair', argv, { repo: { value: true }, json: {} })
  const report = await repairStore(repoDir(args, io), { log: (m) => io.err(`arca: ${m}`) })
  if (args.flags.has('json')) io.out(JSON.stringify(report))
  else {
    io.out(`Rebuilt the index from ${report.packs} packs: ${report.objects} objects, ${report.snapshots} snapshots, ${report.keySlots} key slots`)
    if (report.truncatedBytes > 0) io.out(`Cut ${report.truncatedBytes} bytes of damaged or unfinished pack tails`)
  }
  return 0
}

