/**
 * A scriptable TCP proxy for fault injection: clients connect to it instead of the server and it
 * forwards bytes both ways. A test can cut every connection (optionally in the middle of the data
 * that matched a pattern, e.g. a FETCH literal), stall the traffic, and refuse new connections for
 * a while. Plain mode passes TLS through untouched (patterns then see only ciphertext); with
 * `tls` the proxy terminates TLS with the server's own certificate and opens a verified TLS
 * connection upstream, so patterns see the protocol and clients still verify the certificate.
 */
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';

export type Direction = 'to-server' | 'to-client';

export interface TcpProxyOptions {
  targetHost: string;
  targetPort: number;
  /** Where to listen; default 127.0.0.1 on a free port. */
  host?: string;
  port?: number;
  /** Terminate TLS: the certificate clients see (the server's own) and the CA to verify upstream. */
  tls?: { cert: string; key: string; ca: string };
}

/** One client connection and its upstream twin. */
export interface ProxiedConnection {
  readonly id: number;
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Bytes forwarded so far, per direction. */
  readonly bytes: Record<Direction, number>;
  /** Drops both sockets at once (RST where the platform allows it). */
  cut(): void;
}

interface Trigger {
  direction: Direction;
  pattern: RegExp;
  /** Forward only the bytes before the match plus this many, then cut. Undefined = do not cut. */
  cutAfterBytes?: number;
  resolve: (connection: ProxiedConnection) => void;
}

/**
 * Traffic sees the last 4 KiB of each direction, so a pattern split across two chunks still
 * matches; triggers fire on the first chunk whose tail (with that history) matches.
 */
const HISTORY_BYTES = 4096;

/** The first match of `pattern` in `text` that ends after `seenBefore` (older ones were reported already). */
function newMatch(pattern: RegExp, text: string, seenBefore: number): RegExpExecArray | undefined {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  for (let match = global.exec(text); match; match = global.exec(text)) {
    if (match.index + match[0].length > seenBefore) return match;
    if (match[0].length === 0) global.lastIndex++;
  }
  return undefined;
}

/** Closes a socket abruptly: a TCP RST where possible (TLS sockets cannot do that), else destroy. */
function hardClose(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export class TcpProxy extends EventEmitter {
  private server!: net.Server;
  private readonly connections = new Set<ProxiedConnection>();
  private readonly triggers = new Set<Trigger>();
  private readonly stalled = new Set<ProxiedConnection>();
  private nextId = 1;
  private refusing = false;
  private stalling = false;
  /** Connections accepted (and forwarded) since start. */
  accepted = 0;
  /** Connections refused while `refuse()` was on. */
  refused = 0;
  /** Connections cut by `cutAll()` or a trigger. */
  cuts = 0;
  host = '127.0.0.1';
  port = 0;

  private constructor(private readonly options: TcpProxyOptions) {
    super();
  }

  /** Starts listening; resolves once the port is known. */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const proxy = new TcpProxy(options);
    await proxy.listen();
    return proxy;
  }

  private async listen(): Promise<void> {
    const terminate = this.options.tls;
    this.server = terminate
      ? tls.createServer({ cert: terminate.cert, key: terminate.key }, (client) => this.accept(client))
      : net.createServer((client) => this.accept(client));
    // A client that drops during the TLS handshake is not the proxy's problem.
    this.server.on('tlsClientError', () => undefined);
    this.server.on('error', (error) => this.emit('proxy-error', error));
    this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address() as net.AddressInfo;
    this.host = address.address;
    this.port = address.port;
  }

  /** Connections open right now. */
  get active(): number {
    return this.connections.size;
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.refusing) {
      this.refused++;
      hardClose(client);
      return;
    }
    this.accepted++;
    const terminate = this.options.tls;
    const upstream: net.Socket = terminate
      ? tls.connect({ host: this.options.targetHost, port: this.options.targetPort, ca: terminate.ca })
      : net.connect({ host: this.options.targetHost, port: this.options.targetPort });
    upstream.on('error', () => undefined);
    const history: Record<Direction, Buffer> = { 'to-server': Buffer.alloc(0), 'to-client': Buffer.alloc(0) };
    const connection: ProxiedConnection = {
      id: this.nextId++,
      client,
      upstream,
      bytes: { 'to-server': 0, 'to-client': 0 },
      cut: () => {
        if (!this.connections.delete(connection)) return;
        this.stalled.delete(connection);
        this.cuts++;
        hardClose(client);
        hardClose(upstream);
      },
    };
    this.connections.add(connection);
    if (this.stalling) this.stallOne(connection);

    const forward = (direction: Direction, from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!this.connections.has(connection)) return;
        const seen = Buffer.concat([history[direction], chunk]);
        const waiting = [...this.triggers].filter((trigger) => trigger.direction === direction);
        const text = waiting.length ? seen.toString('latin1') : '';
        for (const trigger of waiting) {
          const match = newMatch(trigger.pattern, text, history[direction].length);
          if (!match) continue;
          this.triggers.delete(trigger);
          if (trigger.cutAfterBytes !== undefined) {
            const keep = Math.max(0, match.index + match[0].length + trigger.cutAfterBytes - history[direction].length);
            if (keep > 0) to.write(chunk.subarray(0, Math.min(keep, chunk.length)));
            connection.bytes[direction] += Math.min(keep, chunk.length);
            connection.cut();
            trigger.resolve(connection);
            return;
          }
          trigger.resolve(connection);
        }
        history[direction] = seen.subarray(Math.max(0, seen.length - HISTORY_BYTES));
        connection.bytes[direction] += chunk.length;
        to.write(chunk);
      });
    };
    forward('to-server', client, upstream);
    forward('to-client', upstream, client);
    const end = (): void => {
      if (!this.connections.delete(connection)) return;
      this.stalled.delete(connection);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  }

  /**
   * Resolves with the connection when `pattern` next appears in traffic of `direction`. With
   * `cutAfterBytes`, that connection is cut right there: the peer gets the bytes up to the end of
   * the match plus `cutAfterBytes`, and not one more (a cut in the middle of a FETCH literal).
   */
  when(direction: Direction, pattern: RegExp, options: { cutAfterBytes?: number } = {}): Promise<ProxiedConnection> {
    return new Promise((resolve) => {
      this.triggers.add({ direction, pattern, cutAfterBytes: options.cutAfterBytes, resolve });
    });
  }

  /** Like `when`, but gives up after `timeoutMs` (resolving undefined; the trigger is removed). */
  whenWithin(direction: Direction, pattern: RegExp, timeoutMs: number, options: { cutAfterBytes?: number } = {}): Promise<ProxiedConnection | undefined> {
    return new Promise((resolve) => {
      const trigger: Trigger = {
        direction, pattern, cutAfterBytes: options.cutAfterBytes,
        resolve: (connection) => {
          clearTimeout(timer);
          resolve(connection);
        },
      };
      const timer = setTimeout(() => {
        this.triggers.delete(trigger);
        resolve(undefined);
      }, timeoutMs);
      this.triggers.add(trigger);
    });
  }

  /** Forgets triggers that never fired (so they cannot fire in a later phase). */
  clearTriggers(): void {
    this.triggers.clear();
  }

  /** Drops every open connection; returns how many there were. */
  cutAll(): number {
    const open = [...this.connections];
    for (const connection of open) connection.cut();
    return open.length;
  }

  /** Stops reading from both sides of every connection (and of new ones) until `resume()`. */
  stall(): void {
    this.stalling = true;
    for (const connection of this.connections) this.stallOne(connection);
  }

  private stallOne(connection: ProxiedConnection): void {
    this.stalled.add(connection);
    connection.client.pause();
    connection.upstream.pause();
  }

  /** Lets stalled traffic flow again; nothing is lost, it was only held back. */
  resume(): void {
    this.stalling = false;
    for (const connection of this.stalled) {
      connection.client.resume();
      connection.upstream.resume();
    }
    this.stalled.clear();
  }

  /** New connections are reset at once (open ones stay) until `accept()` or for `forMs`. */
  refuse(forMs?: number): void {
    this.refusing = true;
    if (forMs !== undefined) {
      const timer = setTimeout(() => this.acceptAgain(), forMs);
      timer.unref();
    }
  }

  /** Ends `refuse()`. */
  acceptAgain(): void {
    this.refusing = false;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.triggers.clear();
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
