/**
 * Failures below the mail and identity protocols (DNS, TCP, TLS, proxy, timeouts), as Node.js,
 * undici and imapflow report them in an error's `code`. Token requests, the IMAP watcher and the
 * POP3 client all classify them with this one table, so ECONNREFUSED or a self-signed certificate
 * gets the same kind, fix text and retry advice wherever it happens.
 */
import { M365MailError } from './errors';

/** The failures the table tells apart; each has its own fix text. */
export type TransportFailureName = 'timeout' | 'dns' | 'unreachable' | 'dropped' | 'proxy' | 'certificate' | 'handshake';

export interface TransportFailure {
  name: TransportFailureName;
  kind: 'network' | 'timeout' | 'tls';
  /** Whether trying again later can succeed without a configuration change. */
  retryable: boolean;
  /** One sentence without a full stop, e.g. "The connection timed out". */
  summary: string;
  fix: string;
}

const PROXY_SETTING = 'the account\'s proxy, or HTTPS_PROXY/NO_PROXY';
const TRUST_PROXY_CA = 'Behind a TLS-inspecting proxy or firewall, start Node-RED with NODE_EXTRA_CA_CERTS=/path/to/ca.pem; never turn certificate checks off.';

const FAILURES: Record<TransportFailureName, Omit<TransportFailure, 'name'>> = {
  timeout: {
    kind: 'timeout', retryable: true, summary: 'The connection timed out',
    fix: `The server or the network did not answer in time; this is retried automatically. If it persists, check the network connection, firewall and proxy settings (${PROXY_SETTING}).`,
  },
  dns: {
    kind: 'network', retryable: true, summary: 'The server name could not be resolved',
    fix: `Check the host name and DNS, and behind a proxy the proxy setting (${PROXY_SETTING}); this is retried automatically.`,
  },
  unreachable: {
    kind: 'network', retryable: true, summary: 'The server could not be reached',
    fix: `Check host, port, firewall and proxy settings (${PROXY_SETTING}); this is retried automatically.`,
  },
  dropped: {
    kind: 'network', retryable: true, summary: 'The connection was closed unexpectedly',
    fix: 'This is retried automatically. If it keeps happening, check firewall and proxy settings (some close long-lived connections).',
  },
  proxy: {
    kind: 'network', retryable: true, summary: 'The proxy connection failed',
    fix: `Check the proxy setting (${PROXY_SETTING}) and that the proxy allows CONNECT to this host and port; this is retried automatically.`,
  },
  certificate: {
    kind: 'tls', retryable: false, summary: 'The TLS certificate was not accepted',
    fix: `Check the host name (it must match the server's certificate). ${TRUST_PROXY_CA}`,
  },
  handshake: {
    kind: 'tls', retryable: false, summary: 'The TLS handshake failed',
    fix: `Check that host and port are the server's TLS port (IMAP 993, POP3 995). ${TRUST_PROXY_CA}`,
  },
};

/** Error codes of Node.js (net, dns, tls), undici and imapflow. */
const CODES: Record<string, TransportFailureName> = {
  ETIMEDOUT: 'timeout', ESOCKETTIMEDOUT: 'timeout', UND_ERR_CONNECT_TIMEOUT: 'timeout', ERR_TLS_HANDSHAKE_TIMEOUT: 'timeout',
  CONNECT_TIMEOUT: 'timeout', GREETING_TIMEOUT: 'timeout', UPGRADE_TIMEOUT: 'timeout', ETIMEOUT: 'timeout',
  ENOTFOUND: 'dns', EAI_AGAIN: 'dns',
  ECONNREFUSED: 'unreachable', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable', EHOSTDOWN: 'unreachable', ENETDOWN: 'unreachable',
  ECONNRESET: 'dropped', EPIPE: 'dropped', ECONNABORTED: 'dropped', UND_ERR_SOCKET: 'dropped',
  // imapflow: the connection is gone. ClosedAfterConnectTLS is a drop before the greeting, not a
  // certificate problem; NoMailboxSelected means the folder was deselected because the connection is closing.
  NoConnection: 'dropped', EConnectionClosed: 'dropped', ClosedAfterConnectText: 'dropped', ClosedAfterConnectTLS: 'dropped',
  StateLogout: 'dropped', NoMailboxSelected: 'dropped',
  EPROXY: 'proxy', ProxyError: 'proxy',
};

/** Certificate verification codes of OpenSSL/Node (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, …). */
const CERTIFICATE_CODE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|DEPTH_ZERO|HOSTNAME|ALTNAME/i;
/** Other TLS failures, e.g. ERR_SSL_WRONG_VERSION_NUMBER (plain text where TLS was expected: a wrong port). */
const HANDSHAKE_CODE = /SSL|TLS/i;

/** The table row for a failure the caller already knows by name (e.g. imapflow's `tlsFailed`). */
export function transportFailure(name: TransportFailureName): TransportFailure {
  return { name, ...FAILURES[name] };
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && code ? code : undefined;
}

/**
 * Classifies a socket, DNS, TLS or proxy failure by its `code`; an error without a code counts as
 * a timeout when its message says so. `undefined` when it is none of these.
 */
export function classifyTransportError(error: unknown): TransportFailure | undefined {
  const code = codeOf(error);
  if (!code) {
    const message = error instanceof Error ? error.message : String(error);
    return /timed? ?out/i.test(message) ? transportFailure('timeout') : undefined;
  }
  const name = CODES[code] ?? (CERTIFICATE_CODE.test(code) ? 'certificate' : HANDSHAKE_CODE.test(code) ? 'handshake' : undefined);
  return name ? transportFailure(name) : undefined;
}

/** Maps a Node.js socket/TLS/HTTP failure (or a proxy refusal) to an M365MailError; undefined if it isn't one. */
export function errorFromTransport(err: unknown): M365MailError | undefined {
  if (err instanceof M365MailError) return err;
  const failure = classifyTransportError(err);
  if (!failure) return undefined;
  const code = codeOf(err);
  return new M365MailError(`${failure.summary} (${code ?? failure.kind}).`, {
    kind: failure.kind, fix: failure.fix, code, retryable: failure.retryable, cause: err,
  });
}
