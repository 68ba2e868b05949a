import { openTunnel, resolveProxy } from '../../net/proxy';
import type { Pop3SocketFactory } from '../../pop3';

/**
 * The proxy for a mail connection: the account's `proxy`, else HTTPS_PROXY / NO_PROXY from the
 * environment (mail ports count as https targets). Undefined = connect directly.
 */
export function mailProxy(host: string, port: number, accountProxy: string | undefined): URL | undefined {
  return resolveProxy({ host, port, protocol: 'https:' }, accountProxy || undefined, process.env);
}

/** A POP3 socket factory that tunnels through the proxy with HTTP CONNECT. */
export function pop3TunnelFactory(proxy: URL): Pop3SocketFactory {
  return ({ host, port }) => openTunnel({ proxy, host, port });
}
