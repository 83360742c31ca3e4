/** What a rendered email is, and where it goes: the shapes shared by the renderers, the mailer and the outbox. */

export interface MailMessage {
  /** One line; the mailer encodes it for the header. */
  subject: string
  text: string
  /** A whole HTML document, inline styles only. */
  html: string
}

export interface MailRecipients {
  /** The main address. */
  to: string
  /** Tried when sending to `to` fails. */
  auxTo?: string
}
