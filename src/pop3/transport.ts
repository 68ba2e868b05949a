/**
 * Opens the byte stream to a POP3 server: plain TCP, implicit TLS, or TLS over an existing stream
 * (STLS, or a tunnel from a socket factory such as a proxy). Certificate checks stay on unless the
 * caller turns them off explicitly.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export type Pop3TlsMode = 'implicit' | 'starttls' | 'none';

/** Returns a connected byte stream to host:port, e.g. through a proxy; TLS is layered on top by the client. */
export type Pop3SocketFactory = (target: { host: string; port: number }) => Duplex | Promise<Duplex>;

export interface Pop3TlsSettings {
  host: string;
  /** SNI and certificate name; defaults to `host` unless that is an IP address. */
  servername?: string;
  /** Extra trusted CA certificates (PEM); the system store is used when absent. */
  ca?: string | Buffer | Array<string | Buffer>;
  rejectUnauthorized: boolean;
}

function tlsOptions(settings: Pop3TlsSettings): tls.ConnectionOptions {
  const servername = settings.servername ?? (net.isIP(settings.host) ? undefined : settings.host);
  return {
    host: settings.host,
    servername,
    ca: settings.ca,
    rejectUnauthorized: settings.rejectUnauthorized,
    minVersion: 'TLSv1.2',
  };
}

/**
 * Starts the connection and returns the socket at once (before it is connected), so the caller
 * can listen for 'error' before anything can fail. With a socket factory the raw stream comes from
 * the factory; `raw` is then the stream beneath the TLS socket (it needs its own 'error' listener).
 */
export async function openPop3Socket(options: {
  host: string;
  port: number;
  tls: Pop3TlsMode;
  tlsSettings: Pop3TlsSettings;
  socketFactory?: Pop3SocketFactory;
}): Promise<{ socket: Duplex; raw?: Duplex }> {
  const { host, port } = options;
  if (!options.socketFactory) {
    if (options.tls === 'implicit') return { socket: tls.connect({ ...tlsOptions(options.tlsSettings), port }) };
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    return { socket };
  }
  const raw = await options.socketFactory({ host, port });
  if (options.tls !== 'implicit') return { socket: raw };
  return { socket: wrapInTls(raw, options.tlsSettings), raw };
}

/** Starts a TLS client session over an existing stream (STLS or a tunnel). */
export function wrapInTls(raw: Duplex, settings: Pop3TlsSettings): tls.TLSSocket {
  return tls.connect({ ...tlsOptions(settings), socket: raw });
}
