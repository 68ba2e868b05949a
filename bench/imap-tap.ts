/**
 * An IMAP tap for the connect phase: a TLS endpoint with the server's own certificate (clients
 * still verify it) that relays to Dovecot over a verified TLS connection of its own and notes
 * what the client says, so the bench can list the commands a client sends from connect to its
 * first mail — the same way for every client. Credentials never reach the list: AUTHENTICATE and
 * LOGIN keep only their mechanism, SASL continuation lines are not shown, literals are skipped.
 *
 * It sits behind the delay relay (client → relay → tap → Dovecot), so the client's TLS handshake
 * and every command still cross the delayed link; the tap's own leg is loopback.
 */
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { preciseNow } from './baselines/markers';

export interface TappedLine {
  /** Wall time in ms (sub-millisecond) when the line reached the tap. */
  at: number;
  /** The command without credentials, e.g. "UID FETCH 1:100 (UID FLAGS …)". */
  text: string;
  /**
   * Which client flight the line belongs to: lines sent one after the other without the server
   * answering in between share a flight (pipelined); each new flight waited a round trip.
   */
  flight: number;
}

export interface TappedConnection {
  id: number;
  lines: TappedLine[];
}

/** "A3 UID FETCH 1:* (…)" → "UID FETCH 1:* (…)"; credentials and continuation data left out. */
export function describeClientLine(line: string): string {
  const match = /^[A-Za-z0-9.]+ ([A-Za-z]+)(?: (.*))?$/.exec(line);
  if (!match) return /^DONE$/i.test(line) ? 'DONE' : '(continuation)';
  const command = match[1].toUpperCase();
  const rest = match[2] ?? '';
  if (command === 'AUTHENTICATE') return `AUTHENTICATE ${rest.split(' ')[0]} …`;
  if (command === 'LOGIN') return 'LOGIN …';
  const shown = rest.length > 80 ? `${rest.slice(0, 80)}…` : rest;
  return shown ? `${command} ${shown}` : command;
}

/** Splits the client's byte stream into lines, skipping literals ({n} / {n+} at a line's end). */
export class ClientLines {
  private pending = Buffer.alloc(0);
  private skip = 0;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      if (this.skip > 0) {
        const skipped = Math.min(this.skip, data.length);
        this.skip -= skipped;
        data = data.subarray(skipped);
        if (this.skip > 0) break;
      }
      const end = data.indexOf('\r\n');
      if (end < 0) break;
      const line = data.subarray(0, end).toString('latin1');
      data = data.subarray(end + 2);
      const literal = /\{(\d+)\+?\}$/.exec(line);
      if (literal) this.skip = Number(literal[1]);
      this.onLine(line);
    }
    this.pending = Buffer.from(data);
  }
}

export class ImapTap {
  private server!: tls.Server;
  private readonly sockets = new Set<net.Socket>();
  readonly connections: TappedConnection[] = [];
  host = '127.0.0.1';
  port = 0;

  private constructor(private readonly target: { host: string; port: number; ca: string }) {}

  /** Listens on 127.0.0.1 with `cert`/`key` (the server's own) and relays to `target`, verifying it with `ca`. */
  static async start(options: { cert: string; key: string; ca: string; targetHost: string; targetPort: number }): Promise<ImapTap> {
    const tap = new ImapTap({ host: options.targetHost, port: options.targetPort, ca: options.ca });
    tap.server = tls.createServer({ cert: options.cert, key: options.key }, (client) => tap.accept(client));
    tap.server.on('tlsClientError', () => undefined);
    tap.server.listen(0, '127.0.0.1');
    await once(tap.server, 'listening');
    tap.port = (tap.server.address() as net.AddressInfo).port;
    return tap;
  }

  private accept(client: tls.TLSSocket): void {
    const upstream = tls.connect({ host: this.target.host, port: this.target.port, ca: this.target.ca });
    const connection: TappedConnection = { id: this.connections.length + 1, lines: [] };
    this.connections.push(connection);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let flight = 0;
    let serverSpokeSinceLastLine = true;
    const lines = new ClientLines((line) => {
      if (serverSpokeSinceLastLine) flight++;
      serverSpokeSinceLastLine = false;
      connection.lines.push({ at: preciseNow(), text: describeClientLine(line), flight });
    });
    client.on('data', (chunk: Buffer) => {
      lines.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      serverSpokeSinceLastLine = true;
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
