/**
 * One SMTP submission session over nodemailer's SMTPConnection: connect (directly or through the
 * proxy's CONNECT tunnel), EHLO, STARTTLS (required: nodemailer refuses to go on without it, so
 * AUTH never travels in plain text), TLS verified against the host name, AUTH XOAUTH2, then any
 * number of mails. No transaction log is kept: nothing of the AUTH line can reach a log.
 */
import net from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { buildXOAuth2 } from '../auth/xoauth2';
import { openTunnel } from '../net/proxy';
import type { SmtpEnvelope } from './compile';

export interface SmtpSessionOptions {
  host: string;
  port: number;
  /** The mailbox that logs in (XOAUTH2 user). */
  mailbox: string;
  /** HTTP CONNECT proxy; undefined = direct. */
  proxy?: URL;
  /** Extra CA for the server (tests); the runtime's NODE_EXTRA_CA_CERTS applies anyway. */
  ca?: string;
  /** Name sent with EHLO; default: nodemailer's (the machine's FQDN or [127.0.0.1]). */
  clientName?: string;
  connectTimeoutMs?: number;
  /** Inactivity on an open connection after which it is dropped. */
  socketTimeoutMs?: number;
}

/** What the server said to one mail. */
export interface SmtpSendInfo {
  accepted: string[];
  rejected: string[];
  /** The final reply, e.g. "250 2.0.0 OK <id> [Hostname=…]". */
  response: string;
}

/** Returns a token; `renew` asks for a fresh one (nodemailer's retry after a 334 error challenge). */
export type TokenFetcher = (renew: boolean) => Promise<string>;

export class SmtpSession {
  private open = true;
  /** The token the last AUTH sent (explains a refusal; never printed). */
  lastToken = '';

  private constructor(private readonly connection: SMTPConnection) {
    connection.on('error', () => {
      this.open = false;
    });
    connection.on('end', () => {
      this.open = false;
    });
  }

  /** Connects, secures and logs in; rejects with nodemailer's error (see ./errors). */
  static async start(options: SmtpSessionOptions, fetchToken: TokenFetcher): Promise<SmtpSession> {
    const timeout = options.connectTimeoutMs ?? 30_000;
    let socket: net.Socket | undefined;
    // The tunnel comes paused, so the server's greeting waits until nodemailer listens (and resumes it).
    if (options.proxy) socket = await openTunnel({ proxy: options.proxy, host: options.host, port: options.port, timeoutMs: timeout });
    const connection = new SMTPConnection({
      host: options.host,
      port: options.port,
      secure: false,
      requireTLS: true,
      name: options.clientName,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: options.socketTimeoutMs ?? 120_000,
      tls: { ...(net.isIP(options.host) ? {} : { servername: options.host }), rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(options.ca ? { ca: options.ca } : {}) },
      ...(socket ? { connection: socket } : {}),
      logger: false,
      debug: false,
    } as SMTPConnection.Options);
    const session = new SmtpSession(connection);
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        connection.once('error', onError);
        connection.connect(() => {
          connection.off('error', onError);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        connection.login({
          user: options.mailbox,
          oauth2: {
            getToken: (renew: boolean, callback: (err: Error | null, token?: string) => void) => {
              fetchToken(renew).then((token) => {
                session.lastToken = token;
                callback(null, token);
              }, (error: Error) => callback(error));
            },
            buildXOAuth2Token: (token: string) => buildXOAuth2(options.mailbox, token),
          },
        } as unknown as SMTPConnection.AuthenticationOAuth2, (error) => (error ? reject(error) : resolve()));
      });
    } catch (error) {
      session.close();
      throw error;
    }
    return session;
  }

  get usable(): boolean {
    return this.open;
  }

  /** Sends one mail; rejects with nodemailer's error (EENVELOPE / EMESSAGE / connection codes). */
  send(envelope: SmtpEnvelope, raw: Buffer): Promise<SmtpSendInfo> {
    return new Promise((resolve, reject) => {
      this.connection.send({ from: envelope.from, to: envelope.to }, raw, (error, info) => {
        if (error) return reject(error);
        resolve({ accepted: [...(info.accepted ?? [])].map(String), rejected: [...(info.rejected ?? [])].map(String), response: info.response ?? '' });
      });
    });
  }

  /** Says QUIT and closes. */
  quit(): void {
    if (!this.open) return this.close();
    this.open = false;
    try {
      this.connection.quit();
    } catch {
      this.connection.close();
    }
  }

  /** Drops the connection. */
  close(): void {
    this.open = false;
    this.connection.close();
  }
}
