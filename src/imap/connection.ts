/**
 * Opens one authenticated imapflow connection as `mailbox` with a fresh XOAUTH2 token. A login
 * refused as expired (or refused at all — a cached token may be stale) is retried once with a
 * force-refreshed token; every other failure is thrown as an M365MailError.
 */
import { explainRefusedLogin } from '../auth/refused-login';
import { decodeJwtPayload } from '../auth/token-explainer';
import type { ConnectionOptions } from 'node:tls';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { AccessTokenSource } from '../auth/token-source';
import { M365MailError } from '../core/errors';
import type { Logger } from '../core/logger';
import { settlesWithin } from '../core/timeout';
import { toImapError } from './errors';
import { createImapflowLogger } from './logger';

/** The imapflow surface the watcher uses; a narrow type so tests can supply a fake. */
export type ImapClient = ImapFlow;

export type ImapClientFactory = (options: ImapFlowOptions) => ImapClient;

export interface ImapConnectionOptions {
  host: string;
  port: number;
  /** Address to log in as (a shared mailbox is allowed when the token may access it). */
  mailbox: string;
  tokenSource: AccessTokenSource;
  /** Extra TLS options (e.g. `ca`, `servername`); certificates are always verified. */
  tls?: ConnectionOptions;
  /** Outbound proxy URL (http:, socks5: …) for the mail connection. */
  proxy?: string;
  logger?: Logger;
  /** Whether the account uses an app-only flow (makes error fix texts concrete). */
  appOnly?: boolean;
  /** ms for TCP+TLS+greeting; default 30 s. */
  connectTimeoutMs?: number;
  /** ms without traffic before the connection counts as dead; default 5 min (IDLE is restarted well before). */
  socketTimeoutMs?: number;
  /** Restart IDLE after this many ms (Exchange ends IDLE after 30 min); default 20 min. */
  idleRestartMs?: number;
  /** Replaces `new ImapFlow(...)`, for tests. */
  clientFactory?: ImapClientFactory;
  /**
   * Leave out the round trips a watcher does not need between login and its first FETCH: ID
   * (before and after login), NAMESPACE, and the LIST (+ LSUB) imapflow sends before SELECT.
   * See {@link withoutSessionExtras}.
   */
  lean?: boolean;
}

export interface OpenedConnection {
  client: ImapClient;
  /** When the token used for this connection expires (ms since epoch), if the token says so. */
  tokenExpiresAt?: number;
  /** The token used; only to tell whether a later one is really new. Never log it. */
  token: string;
}

export const DEFAULT_IDLE_RESTART_MS = 20 * 60_000;

const defaultFactory: ImapClientFactory = (options) => new ImapFlow(options);

/**
 * Reads the `exp` claim of a JWT access token without verifying it (the server does that).
 * @returns expiry in ms since epoch, or undefined for opaque tokens
 */
export function tokenExpiry(token: string): number | undefined {
  const exp = decodeJwtPayload(token)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}

/**
 * When to reconnect with a new token: `marginMs` before it expires, or after three quarters of
 * its remaining life when that is shorter than twice the margin (short-lived test tokens).
 */
export function renewDelay(remainingMs: number, marginMs: number): number {
  if (remainingMs > 2 * marginMs) return remainingMs - marginMs;
  return Math.max(1_000, Math.floor(remainingMs * 0.75));
}

/** Builds the imapflow options for one connection (auto-IDLE off: the watcher starts IDLE itself). */
export function buildImapFlowOptions(options: ImapConnectionOptions, accessToken: string): ImapFlowOptions {
  const secrets = [accessToken];
  return {
    host: options.host,
    port: options.port,
    secure: true,
    servername: options.tls?.servername,
    auth: { user: options.mailbox, accessToken },
    logger: createImapflowLogger(options.logger, () => secrets),
    tls: { minVersion: 'TLSv1.2', ...options.tls },
    proxy: options.proxy || undefined,
    // imapflow's automatic IDLE starts only after 15 s of quiet; mail arriving in that window
    // would be seen late, so the watcher issues IDLE itself right after each check.
    disableAutoIdle: true,
    maxIdleTime: options.idleRestartMs ?? DEFAULT_IDLE_RESTART_MS,
    connectionTimeout: options.connectTimeoutMs ?? 30_000,
    greetingTimeout: Math.min(options.connectTimeoutMs ?? 16_000, 16_000),
    socketTimeout: options.socketTimeoutMs ?? 5 * 60_000,
    clientInfo: { name: 'node-red-m365-mail' },
  };
}

/** The imapflow internals withoutSessionExtras() steps in front of (not in its typings). */
interface ImapFlowInternals {
  run(command: string, ...args: unknown[]): Promise<unknown>;
  folders: Map<string, { path: string }>;
}

/**
 * Makes imapflow skip commands a watcher does not need, each a round trip before the first mail
 * (at 100 ms each way, 0.2 s apiece):
 * - ID, sent before and again after login: Exchange does not need it;
 * - NAMESPACE: Exchange's personal namespace has no prefix, so folder paths need none either.
 *   imapflow also used its answer to notice Exchange's `BAD User is authenticated but not
 *   connected`; that answer now comes to the SELECT and is read the same (kind 'not-connected');
 * - LIST and LSUB before SELECT, which only fill in the folder's delimiter and special use (a
 *   SELECT refused with NO still runs LIST, to tell a missing folder).
 * Steps in front of imapflow's internal `run()`; test/integration/imap/watcher-stream.test.ts
 * checks the commands on the wire, so an imapflow update that changes this shows there.
 */
export function withoutSessionExtras(client: ImapClient): void {
  const internals = client as unknown as ImapFlowInternals;
  const run = internals.run.bind(client);
  internals.run = (command: string, ...args: unknown[]): Promise<unknown> => {
    if (command === 'ID' || command === 'NAMESPACE') return Promise.resolve(undefined);
    if (command === 'SELECT' && typeof args[0] === 'string') {
      const path = args[0].toUpperCase() === 'INBOX' ? 'INBOX' : args[0];
      if (!internals.folders.has(path)) internals.folders.set(path, { path });
    }
    return run(command, ...args);
  };
}

async function connectOnce(options: ImapConnectionOptions, forceRefresh: boolean): Promise<OpenedConnection> {
  let token: string;
  try {
    token = await options.tokenSource.getAccessToken('imap', forceRefresh ? { forceRefresh: true } : undefined);
  } catch (err) {
    throw toImapError(err, { action: 'get access token', mailbox: options.mailbox });
  }
  const client = (options.clientFactory ?? defaultFactory)(buildImapFlowOptions(options, token));
  if (options.lean) withoutSessionExtras(client);
  // imapflow emits 'error' at most once per connection; without a listener it would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    client.close();
    // A refused login is explained by the token that was sent (audience, permission), never printed.
    const refused = toImapError(err, { action: 'login', mailbox: options.mailbox, appOnly: options.appOnly });
    throw explainRefusedLogin(refused, token, 'imap', options.tokenSource.expectedToken?.(), options.appOnly);
  }
  return { client, token, tokenExpiresAt: tokenExpiry(token) };
}

/**
 * Connects and logs in with XOAUTH2.
 * @param forceRefresh start with a force-refreshed token (after the server said it expired)
 * @throws M365MailError
 */
export async function openConnection(options: ImapConnectionOptions, forceRefresh = false): Promise<OpenedConnection> {
  try {
    return await connectOnce(options, forceRefresh);
  } catch (err) {
    const retryWithFreshToken = !forceRefresh && err instanceof M365MailError && (err.kind === 'token-expired' || err.kind === 'auth-failed');
    if (!retryWithFreshToken) throw err;
    return connectOnce(options, true);
  }
}

/**
 * Ends a connection politely: LOGOUT, but never waiting longer than `timeoutMs`, then drops the
 * socket. Never throws.
 */
export async function closeConnection(client: ImapClient, timeoutMs = 1_500): Promise<void> {
  try {
    if (client.usable) await settlesWithin(client.logout(), timeoutMs);
  } finally {
    try { client.close(); } catch { /* already closed */ }
  }
}
