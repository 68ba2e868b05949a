/**
 * Opens and ends the one POP3 session a poll uses: implicit TLS, AUTH XOAUTH2 with a token from
 * the account, and at the end a QUIT that never waits long. A login refused as expired (or at all:
 * a cached token may be stale) is retried once with a force-refreshed token.
 */
import type { Readable } from 'node:stream';
import { M365MailError } from '../core/errors';
import type { Logger } from '../core/logger';
import { withTimeout } from '../core/timeout';
import type { AccessTokenSource } from '../auth/token-source';
import type { Pop3Capabilities } from './capabilities';
import { Pop3Client, type Pop3ClientOptions, type Pop3SocketFactory } from './client';
import { callsForFreshToken, explainRefusedToken, toPop3PollError } from './poll-errors';

/** The part of Pop3Client a poll uses; a narrow type so tests can supply a scripted fake. */
export interface Pop3SessionClient {
  readonly closed: boolean;
  connect(): Promise<string>;
  capa(): Promise<Pop3Capabilities>;
  authXOAuth2(user: string, accessToken: string): Promise<void>;
  uidl(): Promise<Map<number, string>>;
  list(): Promise<Map<number, number>>;
  retr(msgno: number): Promise<Readable>;
  dele(msgno: number): Promise<void>;
  quit(): Promise<void>;
  close(): void;
  on(event: 'error', listener: (error: M365MailError) => void): unknown;
}

export type Pop3ClientFactory = (options: Pop3ClientOptions) => Pop3SessionClient;

export interface Pop3SessionSettings {
  host: string;
  port: number;
  /** Address to sign in as (a shared mailbox is allowed when the token may open it). */
  mailbox: string;
  tokenSource: AccessTokenSource;
  /** Extra trusted CAs and the certificate name to check; certificates are always verified. */
  tls?: { ca?: string | Buffer | Array<string | Buffer>; servername?: string };
  logger?: Logger;
  /** Longest silence allowed per step; default 30 s (the client's default). */
  timeoutMs?: number;
  /** Opens the raw connection (e.g. through a proxy tunnel); TLS is added on top. */
  socketFactory?: Pop3SocketFactory;
  /** Replaces `new Pop3Client(...)`, for tests. */
  clientFactory?: Pop3ClientFactory;
}

export interface OpenSessionOptions {
  /** Start with a force-refreshed token (the last session was refused as expired). */
  forceRefresh: boolean;
  /** Told about every client as soon as it exists, so a stop can close it mid-connect. */
  onClient(client: Pop3SessionClient): void;
  /** Checked between steps: when true, no connection is opened. */
  isCancelled(): boolean;
}

const defaultFactory: Pop3ClientFactory = (options) => new Pop3Client(options);

/** Thrown when the poller was stopped or paused while a session was being opened. */
export class SessionCancelled extends Error {
  constructor() {
    super('POP3 session cancelled');
    this.name = 'SessionCancelled';
  }
}

async function connectOnce(settings: Pop3SessionSettings, forceRefresh: boolean, options: OpenSessionOptions): Promise<Pop3SessionClient> {
  let token: string;
  try {
    token = await settings.tokenSource.getAccessToken('pop3', forceRefresh ? { forceRefresh: true } : undefined);
  } catch (error) {
    throw toPop3PollError(error, 'token request');
  }
  if (options.isCancelled()) throw new SessionCancelled();
  const client = (settings.clientFactory ?? defaultFactory)({
    host: settings.host,
    port: settings.port,
    tls: 'implicit',
    ca: settings.tls?.ca,
    servername: settings.tls?.servername,
    timeoutMs: settings.timeoutMs,
    // Client traces never hold tokens.
    logger: settings.logger,
    socketFactory: settings.socketFactory,
  });
  // Failures while no command waits arrive as 'error'; without a listener they would crash the process.
  client.on('error', () => undefined);
  options.onClient(client);
  try {
    await client.connect();
    // CAPA first (RFC 2449): a server without SASL XOAUTH2 gets a clear error, not a refused login.
    const capabilities = await client.capa();
    if (capabilities.saslMechanisms.length > 0 && !capabilities.saslMechanisms.includes('XOAUTH2')) {
      throw new M365MailError(`The POP3 server offers no XOAUTH2 sign-in (SASL ${capabilities.saslMechanisms.join(' ')})`, {
        kind: 'config', fix: 'Check the account\'s POP3 host and port: Exchange Online is outlook.office365.com:995 (see the cloud table).',
      });
    }
  } catch (error) {
    client.close();
    throw toPop3PollError(error, 'connect');
  }
  try {
    await client.authXOAuth2(settings.mailbox, token);
  } catch (error) {
    client.close();
    throw explainRefusedToken(toPop3PollError(error, 'login'), token, settings.tokenSource);
  }
  return client;
}

/**
 * Connects and signs in. Throws an M365MailError (or SessionCancelled); the client of a failed
 * attempt is closed.
 */
export async function openSession(settings: Pop3SessionSettings, options: OpenSessionOptions): Promise<Pop3SessionClient> {
  try {
    return await connectOnce(settings, options.forceRefresh, options);
  } catch (error) {
    const retry = !options.forceRefresh && !(error instanceof SessionCancelled) && callsForFreshToken(toPop3PollError(error));
    if (!retry || options.isCancelled()) throw error;
    settings.logger?.debug?.('POP3 login refused; retrying once with a fresh token');
    return connectOnce(settings, true, options);
  }
}

/**
 * Ends a session with QUIT (the server then removes messages marked with DELE), waiting at most
 * `timeoutMs`, and drops the socket. Resolves true when the server confirmed QUIT. Never throws.
 */
export async function endSession(client: Pop3SessionClient, timeoutMs: number): Promise<boolean> {
  try {
    if (client.closed) return false;
    return await withTimeout(client.quit().then(() => true, () => false), timeoutMs, false);
  } finally {
    client.close();
  }
}
