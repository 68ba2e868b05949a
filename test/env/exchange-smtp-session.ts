/**
 * One client connection to the bed's Exchange SMTP front end: speaks Exchange Online's client
 * submission dialect (greeting, EHLO lists before and after STARTTLS, reply texts), does STARTTLS
 * itself, and relays AUTH, MAIL, RCPT and DATA to Dovecot's submission service, whose oauth2
 * passdb decides whether the token may send. Commands are handled one at a time in the order
 * they came, so a pipelining client gets its replies in order.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { SmtpFaults, SmtpStage } from './smtp-faults';
import { formatReply, LineReader, parsePath, readData, type SmtpReply } from './smtp-lines';
import { SubmissionUpstream } from './submission-upstream';

/** Exchange Online's reply texts, as its servers send them (the `[host]` suffix is added). */
export const EXCHANGE_SMTP_TEXTS = {
  authSucceeded: '235 2.7.0 Authentication successful',
  authFailed: '535 5.7.3 Authentication unsuccessful',
  authDisabled: (scope: 'Mailbox' | 'Tenant') => `535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the ${scope}. Visit https://aka.ms/smtp_auth_disabled for more information.`,
  /** Since Basic authentication for SMTP AUTH was retired (2026) every password is refused so. */
  basicAuthRefused: '550 5.7.30 Basic authentication is not supported for Client Submission.',
  authBeforeTls: '504 5.7.4 Unrecognized authentication type',
  alreadyAuthenticated: '503 5.5.2 Already authenticated',
  notAuthenticated: '530 5.7.57 Client not authenticated to send mail.',
  tlsRequired: '451 5.7.3 STARTTLS is required to send mail',
  throttled: '421 4.7.66 Too many messages submitted by this mailbox in a short time. Try again later.',
  mailboxServerUnavailable: '451 4.4.0 Mailbox server not available, try again later',
  busy: '451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (AS77712344)',
  tooManyConnections: '421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel',
  recipientNotFound: (address: string) => `550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient ${address} not found by SMTP address lookup`,
  /** Send As refused at MAIL FROM on some front ends (the other form of SendAsDenied). */
  sendAsNotPermitted: '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
  /** The sending mailbox is blocked for sending (e.g. after outbound spam). */
  senderBlocked: '550 5.1.8 Access denied, bad outbound sender',
  sendAsDenied: '554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.',
} as const;

/** Advertised with and without TLS; Exchange offers AUTH only after STARTTLS. */
const EXTENSIONS = ['SIZE 157286400', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', '8BITMIME'];

export interface SessionContext {
  hostname: string;
  secureContext: tls.SecureContext;
  faults: SmtpFaults;
  upstream: { host: string; port: number };
  /** Called with the socket in use (plain, then TLS) so the server can drop it on `down()`. */
  track(socket: net.Socket): void;
}

export class ExchangeSmtpSession {
  private socket: net.Socket;
  private readonly reader: LineReader;
  private secure = false;
  private mailbox?: string;
  private upstream?: SubmissionUpstream;
  private envelope?: { from: string; to: string[] };
  private readonly connection: number;

  constructor(socket: net.Socket, private readonly ctx: SessionContext) {
    this.socket = socket;
    this.reader = new LineReader(socket);
    this.connection = ++ctx.faults.counters.connections;
  }

  /** Serves the connection until the client quits or goes away. */
  async run(): Promise<void> {
    try {
      if (this.refused('connect')) return;
      this.reply(`220 ${this.ctx.hostname} Microsoft ESMTP MAIL Service ready at ${new Date().toUTCString().replace('GMT', '+0000')}`);
      for (;;) {
        const line = await this.reader.line();
        if (line === null) return;
        if (!(await this.handle(line.toString('utf8')))) return;
      }
    } finally {
      this.upstream?.close();
      this.socket.destroySoon();
    }
  }

  private reply(line: string, withHost = false): void {
    this.socket.write(`${line}${withHost ? ` [${this.ctx.hostname}]` : ''}\r\n`);
  }

  /** Sends a refusal the tests asked for at `stage`; true when the session must end. */
  private refused(stage: SmtpStage): boolean | 'replied' {
    const refusal = this.ctx.faults.takeRefusal(stage);
    if (!refusal) return false;
    if (refusal.reply) this.reply(refusal.reply, true);
    if (refusal.close) {
      // Without a reply the connection just breaks, as a network failure would.
      if (refusal.reply) this.socket.end();
      else this.socket.destroy();
      return true;
    }
    return 'replied';
  }

  /** Handles one command; false ends the session. */
  private async handle(line: string): Promise<boolean> {
    const verb = line.split(' ', 1)[0].toUpperCase();
    const argument = line.slice(verb.length).trim();
    switch (verb) {
      case 'EHLO': {
        const lines = [`${this.ctx.hostname} Hello [127.0.0.1]`, ...EXTENSIONS, this.secure ? 'AUTH LOGIN XOAUTH2' : 'STARTTLS'];
        this.socket.write(formatReply(250, lines));
        this.envelope = undefined;
        return true;
      }
      case 'HELO': this.reply(`250 ${this.ctx.hostname} Hello [127.0.0.1]`); return true;
      case 'STARTTLS': return this.startTls();
      case 'AUTH': return this.auth(argument);
      case 'MAIL': return this.mail(argument);
      case 'RCPT': return this.rcpt(argument);
      case 'DATA': return this.data();
      case 'RSET':
        if (this.envelope && this.upstream) await this.upstream.command('RSET');
        this.envelope = undefined;
        this.reply('250 2.0.0 Resetting');
        return true;
      case 'NOOP': this.reply('250 2.0.0 OK'); return true;
      case 'QUIT':
        this.reply('221 2.0.0 Service closing transmission channel');
        this.socket.end();
        return false;
      default: this.reply('500 5.3.3 Unrecognized command', true); return true;
    }
  }

  private async startTls(): Promise<boolean> {
    if (this.secure) {
      this.reply('503 5.5.1 TLS already active', true);
      return true;
    }
    this.reply('220 2.0.0 SMTP server ready');
    this.reader.detach();
    const secure = new tls.TLSSocket(this.socket, { isServer: true, secureContext: this.ctx.secureContext });
    secure.on('error', () => secure.destroy());
    const ok = await new Promise<boolean>((resolve) => {
      secure.once('secure', () => resolve(true));
      secure.once('close', () => resolve(false));
    });
    if (!ok) return false;
    this.socket = secure;
    this.ctx.track(secure);
    this.reader.attach(secure);
    this.secure = true;
    this.mailbox = undefined;
    this.envelope = undefined;
    return true;
  }

  private async readResponse(prompt: string): Promise<string | undefined> {
    this.reply(`334 ${prompt}`);
    const line = await this.reader.line();
    const text = line?.toString('utf8');
    if (text === undefined || text === '*') {
      if (text === '*') this.reply('501 5.7.0 Authentication aborted');
      return undefined;
    }
    return text;
  }

  private async auth(argument: string): Promise<boolean> {
    const [mechanism = '', initial] = argument.split(/\s+/);
    if (!this.secure) return this.replied(EXCHANGE_SMTP_TEXTS.authBeforeTls, true);
    if (this.mailbox) return this.replied(EXCHANGE_SMTP_TEXTS.alreadyAuthenticated, true);
    const mech = mechanism.toUpperCase();
    if (mech === 'LOGIN') {
      // Basic authentication is off, as in every tenant after 2026: read the user and password, refuse.
      if (initial === undefined && (await this.readResponse('VXNlcm5hbWU6')) === undefined) return true;
      if ((await this.readResponse('UGFzc3dvcmQ6')) === undefined) return true;
      this.ctx.faults.counters.failedLogins++;
      return this.replied(EXCHANGE_SMTP_TEXTS.basicAuthRefused, true);
    }
    if (mech !== 'XOAUTH2') return this.replied(EXCHANGE_SMTP_TEXTS.authBeforeTls, true);
    const response = initial ?? (await this.readResponse(''));
    if (response === undefined) return true;
    const user = /^user=([^\x01]*)\x01/.exec(Buffer.from(response, 'base64').toString('utf8'))?.[1] ?? '';
    const refusal = this.refused('auth');
    if (refusal) return refusal !== true;
    const disabled = user ? this.ctx.faults.smtpAuthDisabledFor(user) : undefined;
    if (disabled) {
      this.ctx.faults.counters.failedLogins++;
      return this.replied(EXCHANGE_SMTP_TEXTS.authDisabled(disabled), true);
    }
    let upstream: SubmissionUpstream;
    try {
      upstream = await SubmissionUpstream.open(this.ctx.upstream.host, this.ctx.upstream.port);
    } catch {
      return this.replied(EXCHANGE_SMTP_TEXTS.mailboxServerUnavailable, true);
    }
    const outcome = user ? await upstream.authXoauth2(response) : 'refused';
    if (outcome !== 'ok') {
      upstream.close();
      if (outcome === 'unavailable') return this.replied(EXCHANGE_SMTP_TEXTS.mailboxServerUnavailable, true);
      this.ctx.faults.counters.failedLogins++;
      return this.replied(EXCHANGE_SMTP_TEXTS.authFailed, true);
    }
    this.upstream = upstream;
    this.mailbox = user;
    this.ctx.faults.counters.logins++;
    return this.replied(EXCHANGE_SMTP_TEXTS.authSucceeded);
  }

  private replied(line: string, withHost = false): true {
    this.reply(line, withHost);
    return true;
  }

  /** Passes Dovecot's refusal on; a 421 (Dovecot went away) ends the session, as 421 means. */
  private relayed(answer: SmtpReply): boolean {
    this.reply(answer.raw);
    if (answer.code !== 421) return true;
    this.socket.end();
    return false;
  }

  private async mail(argument: string): Promise<boolean> {
    if (!this.secure) return this.replied(EXCHANGE_SMTP_TEXTS.tlsRequired, true);
    if (!this.mailbox || !this.upstream) return this.replied(EXCHANGE_SMTP_TEXTS.notAuthenticated, true);
    if (this.envelope) return this.replied('503 5.5.2 Sender already specified', true);
    const path = parsePath(argument.replace(/^FROM:/i, ''));
    if (!path) return this.replied('501 5.5.4 Invalid arguments', true);
    const refusal = this.refused('mail');
    if (refusal) return refusal !== true;
    const overLimit = this.ctx.faults.overRateLimit(this.mailbox);
    if (overLimit) {
      this.reply(overLimit, true);
      this.socket.end();
      return false;
    }
    // Dovecot knows BODY and SIZE; DSN and SMTPUTF8 parameters (which Exchange takes) are dropped.
    const params = path.params.split(/\s+/).filter((param) => /^(BODY|SIZE)=/i.test(param));
    const answer = await this.upstream.command(`MAIL FROM:<${path.address}>${params.map((param) => ` ${param}`).join('')}`);
    if (answer.code === 250) {
      this.envelope = { from: path.address, to: [] };
      return this.replied(`250 2.1.0 Sender OK`);
    }
    return this.relayed(answer);
  }

  private async rcpt(argument: string): Promise<boolean> {
    if (!this.envelope || !this.upstream) return this.replied('503 5.5.1 Bad sequence of commands', true);
    const path = parsePath(argument.replace(/^TO:/i, ''));
    if (!path) return this.replied('501 5.5.4 Invalid arguments', true);
    const rejection = this.ctx.faults.recipientRefusal(path.address);
    if (rejection) return this.replied(rejection, true);
    const refusal = this.refused('rcpt');
    if (refusal) return refusal !== true;
    const answer = await this.upstream.command(`RCPT TO:<${path.address}>`);
    if (answer.code !== 250) return this.relayed(answer);
    this.envelope.to.push(path.address);
    return this.replied('250 2.1.5 Recipient OK');
  }

  private async data(): Promise<boolean> {
    const envelope = this.envelope;
    if (!envelope || envelope.to.length === 0 || !this.upstream || !this.mailbox) {
      return this.replied('503 5.5.2 Need rcpt command', true);
    }
    this.reply('354 Start mail input; end with <CRLF>.<CRLF>');
    const data = await readData(this.reader);
    if (!data) return false;
    this.envelope = undefined;
    if (!this.ctx.faults.sendAsAllowed(this.mailbox, envelope.from, data.message)) {
      await this.upstream.command('RSET');
      return this.replied(EXCHANGE_SMTP_TEXTS.sendAsDenied, true);
    }
    const refusal = this.refused('data');
    if (refusal) {
      if (refusal === 'replied') await this.upstream.command('RSET');
      return refusal !== true;
    }
    const answer = await this.upstream.data(data.stuffed);
    if (answer.code !== 250) return this.relayed(answer);
    const mail = this.ctx.faults.record({ mailbox: this.mailbox, from: envelope.from, to: envelope.to, raw: data.message, connection: this.connection });
    const cut = this.refused('accepted');
    if (cut) return cut !== true;
    return this.replied(`250 2.0.0 OK <${mail.messageId ?? 'no-message-id'}> [Hostname=${this.ctx.hostname}]`);
  }
}
