/**
 * arca mail set|show|test|off (the device's report mails, in agent.json) and arca node mail set|show|test|off
 * (the admin address of the node for missed-backup alerts, in its registry).
 */
import { readAgentConfig, writeAgentConfig } from '../agent/agent-config.js'
import { arcaHome } from '../agent/device-config.js'
import { ArcaError } from '../core/errors.js'
import { Mailer, type MailMessage, type MailSettings } from '../mail/index.js'
import { parseArgs } from './args.js'
import type { Io } from './context.js'
import { describeMail, MAIL_OPTIONS, MAIL_USAGE, mailSettingsFromFlags } from './mail-setup.js'

export interface MailStore {
  read(): Promise<MailSettings | undefined>
  write(settings: MailSettings | undefined): Promise<void>
}

export function agentMailStore(io: Io): MailStore {
  const home = arcaHome(io.env)
  return {
    read: async () => readAgentConfig(home).mail,
    write: async (settings) => {
      const config = readAgentConfig(home)
      if (settings === undefined) delete config.mail
      else config.mail = settings
      writeAgentConfig(home, config)
    },
  }
}

/** `sub` of arca [node] mail against `store`; `who` names the command in messages. */
export async function mailCommand(sub: string | undefined, rest: string[], store: MailStore, who: string, io: Io): Promise<number> {
  const args = parseArgs(`${who} ${sub ?? ''}`.trim(), rest, { ...MAIL_OPTIONS, data: { value: true }, json: {} })
  switch (sub) {
    case 'set': {
      const settings = mailSettingsFromFlags(args, `arca ${who} set`)
      await store.write(settings)
      io.out(`Mail ${describeMail(settings)}`)
      return 0
    }
    case 'show': {
      const settings = await store.read()
      if (args.flags.has('json')) io.out(JSON.stringify(settings ?? null))
      else io.out(settings === undefined ? `No mail settings: arca ${who} set ${MAIL_USAGE}` : `Mail ${describeMail(settings)}`)
      return 0
    }
    case 'off':
      await store.write(undefined)
      io.out('Mail turned off')
      return 0
    case 'test': {
      const settings = await store.read()
      if (settings === undefined) throw ArcaError.invalidArgument(`No mail settings to test: arca ${who} set ${MAIL_USAGE}`)
      const message: MailMessage = {
        subject: '[Arca] Test message',
        text: 'This is a test message from Arca: report and alert mails will reach this address.\n',
        html: '<!doctype html><html><body><p>This is a test message from Arca: report and alert mails will reach this address.</p></body></html>',
      }
      const mailer = new Mailer(settings.smtp, { timeoutMs: 10_000 })
      try {
        const d = await mailer.sendWithFallback(message, { to: settings.to, auxTo: settings.auxTo })
        io.out(`Test message delivered to ${d.deliveredTo}${d.isAuxiliary ? ` (the main address failed: ${d.mainError})` : ''}`)
      } finally {
        mailer.close()
      }
      return 0
    }
    default:
      io.out(`Usage: arca ${who} set ${MAIL_USAGE}\n       arca ${who} show|test|off`)
      return sub === undefined || sub === 'help' ? 0 : 2
  }
}
