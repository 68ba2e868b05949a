/**
 * Outbound proxy support shared by token requests and IMAP/POP3 connections: which proxy
 * applies to a target (explicit account setting, else HTTPS_PROXY with NO_PROXY honoured, the way
 * curl reads them), and an HTTP CONNECT tunnel that yields a plain socket to the target.
 */
import net from 'node:net';
import tls from 'node:tls';
import { M365MailError } from '../core/errors';

export interface ProxyTarget {
  host: string;
  port: number;
  /** `https:` (default) or `http:`; chooses HTTPS_PROXY or HTTP_PROXY. TLS mail ports count as https. */
  protocol?: string;
}

type Env = Record<string, string | undefined>;

function envValue(env: Env, name: string): string | undefined {
  // Lower-case first, as curl does; an empty value means "unset".
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value && value.trim() ? value.trim() : undefined;
}

function toTarget(target: string | URL | ProxyTarget): ProxyTarget {
  if (typeof target === 'object' && !(target instanceof URL)) return target;
  const url = typeof target === 'string' ? new URL(target) : target;
  const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
  return { host: url.hostname, port, protocol: url.protocol };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Parses "host", "host:port", ".suffix", "*.suffix", "[v6]:port", "10.0.0.0/8". */
function parseNoProxyEntry(entry: string): { host: string; port?: number; cidr?: number } {
  let value = entry.trim().toLowerCase();
  let port: number | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (v6) return { host: v6[1], port: v6[2] ? Number(v6[2]) : undefined };
  const cidr = /^([^/]+)\/(\d{1,3})$/.exec(value);
  if (cidr) return { host: cidr[1], cidr: Number(cidr[2]) };
  const hostPort = /^([^:]+):(\d+)$/.exec(value);
  if (hostPort) {
    value = hostPort[1];
    port = Number(hostPort[2]);
  }
  return { host: value, port };
}

function matchesNoProxyEntry(entry: string, host: string, port: number): boolean {
  const parsed = parseNoProxyEntry(entry);
  if (!parsed.host) return false;
  if (parsed.port !== undefined && parsed.port !== port) return false;
  if (parsed.cidr !== undefined) {
    const family = net.isIP(parsed.host);
    if (!family || net.isIP(host) !== family) return false;
    const list = new net.BlockList();
    list.addSubnet(parsed.host, parsed.cidr, family === 6 ? 'ipv6' : 'ipv4');
    return list.check(host, family === 6 ? 'ipv6' : 'ipv4');
  }
  if (parsed.host === '*') return true;
  if (net.isIP(parsed.host) || net.isIP(host)) return parsed.host === host;
  // ".example.com", "*.example.com" and "example.com" all cover example.com and its subdomains.
  const suffix = parsed.host.replace(/^\*?\./, '');
  return host === suffix || host.endsWith(`.${suffix}`);
}

/** Whether NO_PROXY (a comma/space separated list) exempts host:port. */
export function isNoProxy(noProxy: string | undefined, host: string, port: number): boolean {
  if (!noProxy) return false;
  const normalizedHost = stripBrackets(host.toLowerCase()).replace(/\.$/, '');
  return noProxy.split(/[\s,]+/).filter(Boolean).some((entry) => matchesNoProxyEntry(entry, normalizedHost, port));
}

/**
 * The proxy for `target`, or undefined for a direct connection. An explicit proxy (the account's
 * `proxy` property) always applies; otherwise HTTPS_PROXY/https_proxy (HTTP_PROXY for http targets)
 * unless NO_PROXY/no_proxy exempts the target. Invalid proxy URLs are reported, not ignored.
 */
export function resolveProxy(target: string | URL | ProxyTarget, explicitProxy?: string, env: Env = process.env): URL | undefined {
  const parsedTarget = toTarget(target);
  let raw = explicitProxy?.trim();
  // Where the setting came from, so the message says what to change.
  let source = 'The account\'s proxy';
  let change = 'the account\'s proxy';
  if (!raw) {
    const name = parsedTarget.protocol === 'http:' ? 'http_proxy' : 'https_proxy';
    raw = envValue(env, name);
    if (!raw) return undefined;
    if (isNoProxy(envValue(env, 'no_proxy'), parsedTarget.host, parsedTarget.port)) return undefined;
    source = `${name.toUpperCase()} in Node-RED's environment`;
    change = `${name.toUpperCase()} (or unset it, or set the account's proxy, which takes precedence)`;
  }
  // "proxy:3128" without a scheme is common in HTTPS_PROXY; curl assumes http://.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new M365MailError(`${source} is not a valid proxy URL.`, {
      kind: 'config', fix: `Set ${change} to http://host:port.`,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new M365MailError(`${source} uses the proxy scheme "${url.protocol}", which is not supported.`, {
      kind: 'config', fix: `Use an HTTP proxy that supports CONNECT: set ${change} to http://host:port.`,
    });
  }
  return url;
}

/**
 * The proxy for a mail connection (IMAP, POP3, SMTP): the account's `proxy`, else HTTPS_PROXY /
 * NO_PROXY from the environment; mail ports count as https targets. Undefined = connect directly.
 * Readers, Test connection and the folder picker all decide here, so they reach servers alike.
 */
export function mailProxy(host: string, port: number, accountProxy: string | undefined, env: Env = process.env): URL | undefined {
  return resolveProxy({ host, port, protocol: 'https:' }, accountProxy || undefined, env);
}

/** Opens connections through `proxy` with HTTP CONNECT (e.g. a POP3 client's socket factory). */
export function tunnelFactory(proxy: URL): (target: { host: string; port: number }) => Promise<net.Socket> {
  return ({ host, port }) => openTunnel({ proxy, host, port });
}

/** A proxy URL for logs and messages: credentials replaced. */
export function describeProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.username ? '***@' : ''}${proxy.host}`;
}

export interface TunnelOptions {
  proxy: URL;
  host: string;
  port: number;
  /** Connect + CONNECT handshake must finish within this time. */
  timeoutMs?: number;
  /** CA for a proxy reached over https:. */
  proxyCa?: string | Buffer | Array<string | Buffer>;
}

function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

/**
 * Opens an HTTP CONNECT tunnel through `proxy` to host:port and resolves with the connected socket
 * (plain TCP to the target, paused; wrap it in TLS yourself or listen and resume it). Rejects with an M365MailError of kind
 * 'network' or 'timeout'; the socket is destroyed on failure.
 */
export function openTunnel(options: TunnelOptions): Promise<net.Socket> {
  const { proxy, host, port } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const proxyPort = proxy.port ? Number(proxy.port) : proxy.protocol === 'https:' ? 443 : 80;
  const proxyHost = stripBrackets(proxy.hostname);
  const label = describeProxy(proxy);

  return new Promise<net.Socket>((resolve, reject) => {
    const socket: net.Socket = proxy.protocol === 'https:'
      ? tls.connect({ host: proxyHost, port: proxyPort, servername: net.isIP(proxyHost) ? undefined : proxyHost, ca: options.proxyCa })
      : net.connect({ host: proxyHost, port: proxyPort });
    let received = Buffer.alloc(0);
    let settled = false;

    const timer = setTimeout(() => fail(new M365MailError(`The proxy ${label} did not open a tunnel to ${host}:${port} in time.`, {
      kind: 'timeout', retryable: true, fix: 'Check that the proxy is reachable and allows CONNECT to this host and port.',
    })), timeoutMs);

    function cleanup(): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    }
    function fail(error: M365MailError): void {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(error);
    }
    function onError(err: Error): void {
      const code = (err as NodeJS.ErrnoException).code ?? err.name;
      fail(new M365MailError(`The proxy ${label} could not be reached (${code}).`, {
        kind: 'network', retryable: true, cause: err, fix: 'Check the proxy host and port (account setting or HTTPS_PROXY).',
      }));
    }
    function onClose(): void {
      fail(new M365MailError(`The proxy ${label} closed the connection before the tunnel was open.`, {
        kind: 'network', retryable: true, fix: 'Check that the proxy allows CONNECT to this host and port.',
      }));
    }
    function onData(chunk: Buffer): void {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        if (received.length > 16 * 1024) fail(new M365MailError(`The proxy ${label} sent an oversized reply.`, { kind: 'network', retryable: false }));
        return;
      }
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const status = Number(/^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(statusLine)?.[1] ?? 0);
      if (status === 407) {
        fail(new M365MailError(`The proxy ${label} requires authentication (HTTP 407).`, {
          kind: 'config', retryable: false, code: 'HTTP407',
          fix: 'Enter the proxy user and password in the account (Proxy user, Proxy password); for HTTPS_PROXY use http://user:password@host:port (URL-encode special characters).',
        }));
        return;
      }
      if (status < 200 || status >= 300) {
        fail(new M365MailError(`The proxy ${label} refused the tunnel to ${host}:${port} (${statusLine.slice(0, 100) || 'no status'}).`, {
          kind: 'network', retryable: status >= 500, code: status ? `HTTP${status}` : undefined,
          fix: 'Ask the proxy administrator to allow CONNECT to this host and port.',
        }));
        return;
      }
      settled = true;
      cleanup();
      // Paused, so nothing the target sends (an SMTP greeting) is emitted before the caller listens:
      // a flowing socket without a 'data' listener would drop it. TLS wrapping and a 'data'
      // listener followed by resume() both pick up what is buffered.
      socket.pause();
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    }

    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    const connectEvent = proxy.protocol === 'https:' ? 'secureConnect' : 'connect';
    socket.once(connectEvent, () => {
      const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
      const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
      const auth = proxyAuthorization(proxy);
      if (auth) lines.push(`Proxy-Authorization: ${auth}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  });
}
