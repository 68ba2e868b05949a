/**
 * The bed's SMTP submission endpoint: Exchange Online's `smtp.office365.com:587` stand-in.
 *
 * How to use it (tests of m365-mail-out and anything else that sends):
 *
 *     const bed = await startTestBed({ smtp: true });
 *     const account = bed.accountFor('daemon');        // smtpHost / smtpPort point at the front end
 *     const { host, port } = bed.smtp!;                 // 127.0.0.1, STARTTLS (test CA), XOAUTH2
 *     ... send as account.mailbox (alice) to USERS.bob ...
 *     const [mail] = await bed.smtp!.waitForAccepted(1); // raw MIME, Message-ID, envelope
 *     await bed.dovecot.folderStatus(USERS.bob);         // it is in bob's INBOX: read it over IMAP
 *
 * Accounts: `daemon` (secret), `cert` and `public` (device code, consented to SMTP.Send) can send
 * as alice (and as the shared mailbox support); `reader` has IMAP/POP roles but no SMTP.SendAsApp,
 * so its token is refused here and still reads. Tokens are Microsoft's size (about 2 KB).
 *
 * What is real: the front end (test/env/exchange-smtp-session.ts) speaks Exchange's texts and
 * does STARTTLS, then relays to Dovecot's submission service, whose oauth2 passdb posts the token
 * to the identity server's SMTP introspection: audience, expiry, signature, SMTP.Send (delegated)
 * or SMTP.SendAsApp + Exchange service principal + mailbox permission (app-only), and the mailbox
 * (XOAUTH2 user=) are all checked there. Dovecot relays accepted mail to the bed's sink, which
 * drops it into the recipients' Maildirs (addresses outside the bed are accepted and only recorded).
 *
 * Without knobs: AUTH before STARTTLS `504 5.7.4`, MAIL before STARTTLS `451 5.7.3`, MAIL before
 * AUTH `530 5.7.57`, a refused token `535 5.7.3 Authentication unsuccessful`, AUTH LOGIN (a
 * password) `550 5.7.30`, a successful mail `250 2.0.0 OK <Message-ID> [Hostname=...]`. The texts
 * are in EXCHANGE_SMTP_TEXTS, for `refuse()` too (e.g. `senderBlocked`, `sendAsNotPermitted`).
 *
 * Knobs (`reset()` undoes all but `down()`, which `up()` undoes):
 * - `down()` / `up()`: stop listening and cut every connection / listen again on the same port.
 * - `throttle({messages, forMs})`: `421 4.7.66` (connection closed) at MAIL FROM for the next
 *   `messages` mails or for `forMs` ms; `busy(...)` the same with `451 4.7.500` (stays open).
 * - `rateLimit({messages, windowMs})`: Exchange's 30 messages a minute per mailbox, enforced: a
 *   mailbox's MAIL FROM beyond `messages` within the last `windowMs` gets `421 4.7.66` and the
 *   connection is closed (default 30 per 60,000 ms; off until called).
 * - `refuse({at, reply, times, forMs, close})`: any reply at connect / auth / mail / rcpt / data.
 * - `cutAfterAccept({messages})`: deliver the next mails but break the connection instead of
 *   answering 250 (the client cannot know they went through; a resend is a duplicate).
 * - `rejectRecipient(address, reply?)`: a permanent `550 5.1.10` (or `reply`) at RCPT TO.
 * - `disableSmtpAuth(mailbox | 'tenant')`: `535 5.7.139 ... SmtpClientAuthentication is disabled`.
 * - `denySendAs(address)`: `554 5.2.0 ...SendAsDeniedException...` when the envelope sender or the
 *   From header is that address. By default a mailbox may send as itself only, plus alice as the
 *   shared mailbox support (`grantSendAs(mailbox, address)` adds more).
 * - `accepted` / `waitForAccepted(n)` / `duplicateMessageIds()`: every mail delivered (answered
 *   250, or cut by `cutAfterAccept`), in order, with envelope, raw MIME as the client sent it and
 *   Message-ID; `counters`: connections, logins, failed logins.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ExchangeSmtpSession, EXCHANGE_SMTP_TEXTS } from './exchange-smtp-session';
import { findFreePort } from './ports';
import { SmtpFaults, type AcceptedMail, type SmtpCounters, type SmtpRefusal } from './smtp-faults';

export { EXCHANGE_SMTP_TEXTS } from './exchange-smtp-session';
export type { AcceptedMail, SmtpCounters, SmtpRefusal, SmtpStage } from './smtp-faults';

/** The name Exchange's front end puts in its greeting and replies. */
export const EXCHANGE_SMTP_HOSTNAME = 'AM6PR04CA0042.outlook.office365.com';

export interface ExchangeSmtpOptions {
  tls: { cert: string; key: string };
  /** Dovecot's submission listener (127.0.0.2). */
  upstream: { host: string; port: number };
  /** Send As rights a mailbox has besides itself, restored by `reset()`. */
  sendAsGrants?: Array<[mailbox: string, address: string]>;
}

export interface ExchangeSmtp {
  /** 127.0.0.1; STARTTLS with the test CA's server certificate. */
  readonly host: string;
  readonly port: number;
  readonly hostname: string;
  /** Every mail delivered (answered 250, or cut by `cutAfterAccept`), oldest first. */
  readonly accepted: readonly AcceptedMail[];
  readonly counters: Readonly<SmtpCounters>;
  readonly isUp: boolean;
  waitForAccepted(count: number, timeoutMs?: number): Promise<AcceptedMail[]>;
  duplicateMessageIds(): string[];
  down(): Promise<void>;
  up(): Promise<void>;
  throttle(options: { messages?: number; forMs?: number }): void;
  busy(options: { messages?: number; forMs?: number }): void;
  rateLimit(options?: { messages?: number; windowMs?: number }): void;
  refuse(refusal: SmtpRefusal): void;
  cutAfterAccept(options: { messages?: number }): void;
  rejectRecipient(address: string, reply?: string): void;
  disableSmtpAuth(target: string): void;
  enableSmtpAuth(target: string): void;
  denySendAs(address: string): void;
  grantSendAs(mailbox: string, address: string): void;
  reset(): void;
  close(): Promise<void>;
}

class ExchangeSmtpServer implements ExchangeSmtp {
  readonly host = '127.0.0.1';
  readonly hostname = EXCHANGE_SMTP_HOSTNAME;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly faults: SmtpFaults;
  private readonly secureContext: tls.SecureContext;

  constructor(readonly port: number, private readonly options: ExchangeSmtpOptions) {
    this.faults = new SmtpFaults(options.sendAsGrants ?? []);
    this.secureContext = tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key });
  }

  get accepted(): readonly AcceptedMail[] {
    return this.faults.accepted;
  }

  get counters(): Readonly<SmtpCounters> {
    return this.faults.counters;
  }

  get isUp(): boolean {
    return this.server !== undefined;
  }

  waitForAccepted(count: number, timeoutMs = 20_000): Promise<AcceptedMail[]> {
    return this.faults.waitForAccepted(count, timeoutMs);
  }

  duplicateMessageIds(): string[] {
    return this.faults.duplicateMessageIds();
  }

  private track = (socket: net.Socket): void => {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  };

  async up(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((socket) => {
      this.track(socket);
      socket.on('error', () => undefined);
      socket.setNoDelay(true);
      const session = new ExchangeSmtpSession(socket, {
        hostname: this.hostname,
        secureContext: this.secureContext,
        faults: this.faults,
        upstream: this.options.upstream,
        track: this.track,
      });
      session.run().catch(() => socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  throttle({ messages, forMs }: { messages?: number; forMs?: number }): void {
    this.faults.refuse({ at: 'mail', reply: EXCHANGE_SMTP_TEXTS.throttled, times: messages, forMs });
  }

  busy({ messages, forMs }: { messages?: number; forMs?: number }): void {
    this.faults.refuse({ at: 'mail', reply: EXCHANGE_SMTP_TEXTS.busy, times: messages, forMs });
  }

  rateLimit({ messages = 30, windowMs = 60_000 }: { messages?: number; windowMs?: number } = {}): void {
    this.faults.setRateLimit({ messages, windowMs, reply: EXCHANGE_SMTP_TEXTS.throttled });
  }

  refuse(refusal: SmtpRefusal): void {
    this.faults.refuse(refusal);
  }

  cutAfterAccept({ messages = 1 }: { messages?: number }): void {
    this.faults.refuse({ at: 'accepted', reply: '', times: messages, close: true });
  }

  rejectRecipient(address: string, reply: string = EXCHANGE_SMTP_TEXTS.recipientNotFound(address)): void {
    this.faults.rejectRecipient(address, reply);
  }

  disableSmtpAuth(target: string): void {
    this.faults.setSmtpAuthDisabled(target, true);
  }

  enableSmtpAuth(target: string): void {
    this.faults.setSmtpAuthDisabled(target, false);
  }

  denySendAs(address: string): void {
    this.faults.denySendAs(address);
  }

  grantSendAs(mailbox: string, address: string): void {
    this.faults.grantSendAs(mailbox, address);
  }

  reset(): void {
    this.faults.reset();
  }

  close(): Promise<void> {
    return this.down();
  }
}

/** Starts the front end on a free port of 127.0.0.1. */
export async function startExchangeSmtp(options: ExchangeSmtpOptions): Promise<ExchangeSmtp> {
  const server = new ExchangeSmtpServer(await findFreePort('127.0.0.1'), options);
  await server.up();
  return server;
}
