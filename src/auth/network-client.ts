/**
 * MSAL's network module over node:https, because MSAL's own (fetch) client knows no proxy and no
 * extra CA. It tunnels through an outbound proxy when one applies (see proxy.ts), adds an extra CA,
 * enforces a timeout and hands back status + headers, so MSAL's throttling sees Retry-After.
 */
import https from 'node:https';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { openTunnel, resolveProxy } from '../net/proxy';

export interface HttpExchange {
  method: 'GET' | 'POST';
  /** Origin and path only; no query string. */
  url: string;
  status: number;
  /** From Retry-After (seconds or HTTP date), when present. */
  retryAfterMs?: number;
  /** The OAuth error of a failed response: MSAL drops the AADSTS code on some paths (discovery, device code polling). */
  oauthError?: OAuthErrorSummary;
}

export interface OAuthErrorSummary {
  error: string;
  /** AADSTS number, e.g. "90002". */
  aadsts?: string;
  /** error_description (Entra's text, which names IDs but never secrets). */
  description?: string;
}

export interface NetworkClientOptions {
  /** Explicit proxy URL; empty = HTTPS_PROXY/NO_PROXY from `env`. */
  proxy?: string;
  env?: Record<string, string | undefined>;
  /** Extra CA certificates (PEM) trusted besides the system ones. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Per-request timeout (connect + response). Default 30 s. */
  timeoutMs?: number;
  /** Sees every completed exchange (no bodies, no headers other than Retry-After). */
  onResponse?: (exchange: HttpExchange) => void;
  /** Sees every transport failure (socket, TLS, proxy, timeout) before MSAL wraps it. */
  onTransportError?: (error: Error, url: string) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Parses Retry-After: delta seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function withoutQuery(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Setting `ca` on a request replaces Node's default trust store, so the extra CA is combined with
 * the bundled roots and with NODE_EXTRA_CA_CERTS (which Node would otherwise have added itself).
 */
function trustStore(extra: NetworkClientOptions['ca'], env: Record<string, string | undefined>): Array<string | Buffer> | undefined {
  if (!extra || (Array.isArray(extra) && extra.length === 0)) return undefined;
  const store: Array<string | Buffer> = [...tls.rootCertificates];
  const extraFile = env.NODE_EXTRA_CA_CERTS;
  if (extraFile) {
    try {
      store.push(readFileSync(extraFile));
    } catch {
      // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; do the same (stay silent).
    }
  }
  return store.concat(extra);
}

function parseBody(text: string, status: number, url: URL): unknown {
  if (text.trim()) {
    try {
      return JSON.parse(text);
    } catch {
      // fall through: e.g. an HTML error page from a proxy or load balancer
    }
  }
  if (status >= 200 && status < 300) return {};
  // MSAL reads OAuth errors from the body; give it one it understands, so the status is not lost.
  return {
    error: status === 429 ? 'throttled' : status >= 500 ? 'temporarily_unavailable' : 'invalid_response',
    error_description: `HTTP ${status} from ${url.host} without a JSON body.`,
  };
}

function summarizeOAuthError(body: unknown): OAuthErrorSummary | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const { error, error_codes: codes, error_description: description } = body as Record<string, unknown>;
  if (typeof error !== 'string' || !error || error === 'authorization_pending') return undefined;
  const first = Array.isArray(codes) ? codes[0] : undefined;
  return {
    error,
    aadsts: typeof first === 'number' || typeof first === 'string' ? String(first) : undefined,
    description: typeof description === 'string' ? description : undefined,
  };
}

/** The network module handed to MSAL (`system.networkClient`). */
export class ProxyAwareNetworkClient implements INetworkModule {
  private readonly env: Record<string, string | undefined>;
  private readonly ca: Array<string | Buffer> | undefined;

  constructor(private readonly options: NetworkClientOptions = {}) {
    this.env = options.env ?? process.env;
    this.ca = trustStore(options.ca, this.env);
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  private async send<T>(method: 'GET' | 'POST', rawUrl: string, options: NetworkRequestOptions = {}, timeout?: number): Promise<NetworkResponse<T>> {
    const url = new URL(rawUrl);
    const timeoutMs = Math.min(timeout ?? Number.POSITIVE_INFINITY, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      const { status, headers, text } = await this.request(method, url, options, timeoutMs);
      const flat = flattenHeaders(headers);
      const body = parseBody(text, status, url);
      this.options.onResponse?.({
        method, url: withoutQuery(url), status, retryAfterMs: parseRetryAfter(flat['retry-after']), oauthError: summarizeOAuthError(body),
      });
      return { status, headers: flat, body: body as T };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.options.onTransportError?.(error, withoutQuery(url));
      // MSAL passes AuthErrors through unchanged; anything else it replaces by a bare "network_error".
      const code = (error as NodeJS.ErrnoException).code ?? error.name;
      const authError = new AuthError('network_error', '', `Network request to ${url.host} failed: ${code}`);
      authError.cause = error;
      throw authError;
    }
  }

  private async request(method: 'GET' | 'POST', url: URL, options: NetworkRequestOptions, timeoutMs: number):
    Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    const deadline = Date.now() + timeoutMs;
    const port = url.port ? Number(url.port) : 443;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const proxy = resolveProxy({ host, port, protocol: url.protocol }, this.options.proxy, this.env);
    const tunnel = proxy ? await openTunnel({ proxy, host, port, timeoutMs, proxyCa: this.ca }) : undefined;

    return new Promise((resolve, reject) => {
      const body = method === 'POST' ? options.body ?? '' : undefined;
      const headers: Record<string, string | number> = { ...(options.headers ?? {}) };
      if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
      const request = https.request(url, {
        method,
        headers,
        ca: this.ca,
        // Through a tunnel, TLS to the target runs over the tunnel socket; SNI and certificate checks stay on.
        createConnection: tunnel
          ? () => tls.connect({ socket: tunnel, host, servername: net.isIP(host) ? undefined : host, ca: this.ca })
          : undefined,
        agent: tunnel ? undefined : false,
      }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }));
      });
      const remaining = Math.max(1, deadline - Date.now());
      request.setTimeout(remaining, () => {
        const error = Object.assign(new Error(`No answer from ${url.host} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
        request.destroy(error);
      });
      request.on('error', (err) => {
        tunnel?.destroy();
        reject(err);
      });
      request.end(body);
    });
  }
}

/** Creates the MSAL network module for an account. */
export function createNetworkClient(options: NetworkClientOptions = {}): ProxyAwareNetworkClient {
  return new ProxyAwareNetworkClient(options);
}
