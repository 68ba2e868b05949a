/**
 * The POP3 client's options: what a caller may set, their defaults (implicit TLS on 995, 30 s per
 * step) and their validation, resolved once when the client is made.
 */
import { M365MailError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { Pop3SocketFactory, Pop3TlsMode, Pop3TlsSettings } from './transport';

/** Exchange Online's POP3 command line limit, CRLF included; RFC 2449 allows less (255). */
export const MAX_COMMAND_LINE_BYTES = 512;

export interface Pop3ClientOptions {
  host: string;
  /** Default 995 for implicit TLS, 110 otherwise. */
  port?: number;
  /** Default `implicit`. `starttls` connects in plain text and upgrades with STLS before anything else. */
  tls?: Pop3TlsMode;
  /** Extra trusted CA certificates (PEM). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Certificate name to check, when it differs from `host`. */
  servername?: string;
  /** Default true. Turning it off accepts any certificate; only for tests. */
  rejectUnauthorized?: boolean;
  /** Longest silence allowed while waiting for the server, per step. Default 30 000 ms. */
  timeoutMs?: number;
  /** Time for TCP connect, TLS handshake and greeting together. Default `timeoutMs`. */
  connectTimeoutMs?: number;
  /** Opens the raw stream instead of a TCP connection (tests, proxies); TLS is still added per `tls`. */
  socketFactory?: Pop3SocketFactory;
  /** Receives protocol traces at debug level; never tokens nor message contents. */
  logger?: Logger;
  /** Longest status line accepted. Default 64 KiB. */
  maxLineBytes?: number;
}

export interface ResolvedOptions {
  host: string;
  port: number;
  tls: Pop3TlsMode;
  tlsSettings: Pop3TlsSettings;
  timeoutMs: number;
  connectTimeoutMs: number;
  socketFactory?: Pop3SocketFactory;
  logger: Logger;
  maxLineBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function configError(message: string): M365MailError {
  return new M365MailError(message, { kind: 'config' });
}

export function resolveOptions(options: Pop3ClientOptions): ResolvedOptions {
  if (!options.host) throw configError('POP3 host is missing');
  const tls = options.tls ?? 'implicit';
  if (tls !== 'implicit' && tls !== 'starttls' && tls !== 'none') throw configError(`unknown POP3 TLS mode: ${String(tls)}`);
  const port = options.port ?? (tls === 'implicit' ? 995 : 110);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw configError(`invalid POP3 port: ${port}`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw configError(`invalid POP3 timeout: ${timeoutMs}`);
  return {
    host: options.host,
    port,
    tls,
    tlsSettings: {
      host: options.host,
      servername: options.servername,
      ca: options.ca,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    },
    timeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? timeoutMs,
    socketFactory: options.socketFactory,
    logger: options.logger ?? {},
    maxLineBytes: options.maxLineBytes,
  };
}

export function assertMessageNumber(msgno: number): void {
  if (!Number.isInteger(msgno) || msgno < 1) throw configError(`invalid POP3 message number: ${msgno}`);
}

/** Text after the status indicator, e.g. `+OK 2 320` → `2 320`. */
export function statusText(status: string): string {
  return status.replace(/^(\+OK|-ERR)\s?/, '');
}
