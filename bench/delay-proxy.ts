/**
 * A TCP relay that puts distance between a client and a server: every chunk is held for
 * `delayMs` before it is passed on, in each direction, so one round trip costs 2 × `delayMs`
 * (20 ms each way = the 40 ms round trip of a user near the datacentre). Bytes are relayed as
 * they are: TLS stays end to end between client and server.
 *
 * Each direction is a queue of (chunk, due time) drained by one timer for its head, so order is
 * kept and no chunk leaves early (the due time is checked against the monotonic clock). The relay
 * holds at most `windowBytes` per direction (in flight plus what the receiver has not taken yet):
 * beyond that the sending side is paused until the receiver took half of it. That is the receive
 * window a TCP connection over a long path grows to; without it the window would be the loopback
 * socket buffers, which stay small (their autotuning sees loopback's round trip), and a receiver
 * that stops reading for a moment would pay a whole delay each time it starts again.
 * A half-close (FIN) travels with the same delay, after the data before it; a reset or error
 * drops the other side at once.
 *
 * Per connection the relay counts bytes, chunks and flights — a flight is a run of chunks in one
 * direction; the client's flights are the round trips it waited for (TLS handshake included;
 * add one for TCP's own handshake).
 */
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export type Direction = 'to-server' | 'to-client';

export interface LinkStats {
  readonly id: number;
  /** Date.now() when the client's TCP connection was accepted. */
  readonly openedAt: number;
  /** Date.now() when both sockets were closed. */
  closedAt?: number;
  readonly bytes: Record<Direction, number>;
  readonly chunks: Record<Direction, number>;
  /** Runs of chunks in one direction (arrival order at the relay). */
  readonly flights: Record<Direction, number>;
  /** How often the relay paused the sending side because its window was full. */
  readonly pauses: Record<Direction, number>;
  /** Date.now() at the start of each client flight (to see how many came before some event). */
  readonly clientFlightStarts: number[];
}

export interface DelayProxyOptions {
  targetHost: string;
  targetPort: number;
  /** One-way delay in ms; the round trip costs twice this. 0 relays at once. */
  delayMs: number;
  /** Most bytes held per direction before the sender is paused; default 4 MiB (Linux's TCP window over a long path). */
  windowBytes?: number;
  /** Where to listen; default 127.0.0.1 on a free port. */
  host?: string;
  port?: number;
}

interface Queued {
  /** null = the sender's FIN. */
  chunk: Buffer | null;
  due: number;
}

/** One direction of one connection: from `source` to `sink`, each chunk `delayMs` later. */
class DelayedPipe {
  private readonly queue: Queued[] = [];
  private timer?: NodeJS.Timeout;
  /** Bytes read from the source and not yet written to the sink. */
  private queuedBytes = 0;
  private paused = false;
  private waitingForDrain = false;

  constructor(
    private readonly source: net.Socket,
    private readonly sink: net.Socket,
    private readonly delayMs: number,
    private readonly windowBytes: number,
    private readonly direction: Direction,
    private readonly stats: LinkStats,
    private readonly onArrival: (direction: Direction) => void,
  ) {
    source.on('data', (chunk: Buffer) => {
      stats.bytes[direction] += chunk.length;
      stats.chunks[direction]++;
      onArrival(direction);
      this.queuedBytes += chunk.length;
      this.enqueue(chunk);
      if (!this.paused && this.held() > this.windowBytes) {
        // Back-pressure: the window is full; stop reading the sender.
        this.paused = true;
        this.stats.pauses[this.direction]++;
        this.source.pause();
        this.awaitDrain();
      }
    });
    source.on('end', () => this.enqueue(null));
  }

  private enqueue(chunk: Buffer | null): void {
    if (this.delayMs === 0 && this.queue.length === 0) {
      this.deliver(chunk);
      return;
    }
    this.queue.push({ chunk, due: performance.now() + this.delayMs });
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, Math.ceil(this.queue[0].due - performance.now())));
  }

  private flush(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0].due <= now) this.deliver((this.queue.shift() as Queued).chunk);
    this.relieve();
    this.arm();
  }

  /** Bytes the relay holds for this direction: in flight plus written but not yet taken by the receiver's socket. */
  private held(): number {
    return this.queuedBytes + this.sink.writableLength;
  }

  private deliver(chunk: Buffer | null): void {
    if (this.sink.destroyed) return;
    if (chunk === null) {
      this.sink.end();
      return;
    }
    this.queuedBytes -= chunk.length;
    if (!this.sink.write(chunk)) this.awaitDrain();
  }

  private awaitDrain(): void {
    if (this.waitingForDrain || this.sink.writableLength === 0) return;
    this.waitingForDrain = true;
    this.sink.once('drain', () => {
      this.waitingForDrain = false;
      this.relieve();
    });
  }

  /** Resumes a paused sender once the receiver took half the window. */
  private relieve(): void {
    if (!this.paused || this.held() > this.windowBytes / 2) return;
    this.paused = false;
    this.source.resume();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

/** A TCP reset where the socket still allows it, else a plain destroy. */
function resetOrDestroy(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export class DelayProxy {
  private server!: net.Server;
  private readonly open = new Set<{ client: net.Socket; upstream: net.Socket }>();
  /** Every connection since start, in the order they were accepted (closed ones included). */
  readonly links: LinkStats[] = [];
  host = '127.0.0.1';
  port = 0;

  private constructor(private readonly options: DelayProxyOptions) {}

  /** Starts listening; resolves once the port is known. */
  static async start(options: DelayProxyOptions): Promise<DelayProxy> {
    const proxy = new DelayProxy(options);
    proxy.server = net.createServer({ allowHalfOpen: true }, (client) => proxy.accept(client));
    proxy.server.on('error', () => undefined);
    proxy.server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
    await once(proxy.server, 'listening');
    const address = proxy.server.address() as net.AddressInfo;
    proxy.host = address.address;
    proxy.port = address.port;
    return proxy;
  }

  get delayMs(): number {
    return this.options.delayMs;
  }

  get windowBytes(): number {
    return this.options.windowBytes ?? 4 * 1024 * 1024;
  }

  private accept(client: net.Socket): void {
    const perDirection = (): Record<Direction, number> => ({ 'to-server': 0, 'to-client': 0 });
    const stats: LinkStats = {
      id: this.links.length + 1, openedAt: Date.now(),
      bytes: perDirection(), chunks: perDirection(), flights: perDirection(), pauses: perDirection(), clientFlightStarts: [],
    };
    this.links.push(stats);
    const upstream = net.connect({ host: this.options.targetHost, port: this.options.targetPort, allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair = { client, upstream };
    this.open.add(pair);
    let last: Direction | undefined;
    const onArrival = (direction: Direction): void => {
      if (direction !== last) {
        stats.flights[direction]++;
        if (direction === 'to-server') stats.clientFlightStarts.push(Date.now());
      }
      last = direction;
    };
    const pipes = [
      new DelayedPipe(client, upstream, this.options.delayMs, this.windowBytes, 'to-server', stats, onArrival),
      new DelayedPipe(upstream, client, this.options.delayMs, this.windowBytes, 'to-client', stats, onArrival),
    ];
    // An error or reset on one side drops the other: there is nothing left to relay to.
    const drop = (): void => {
      for (const pipe of pipes) pipe.stop();
      resetOrDestroy(client);
      resetOrDestroy(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    const closed = new Set<net.Socket>();
    const onClose = (socket: net.Socket, other: net.Socket) => (hadError: boolean): void => {
      closed.add(socket);
      if (hadError) drop();
      if (closed.size < 2) {
        // The other side goes too, once the FIN queued before this close had its time to travel.
        const timer = setTimeout(() => other.destroy(), this.options.delayMs + 1000);
        timer.unref();
        other.once('close', () => clearTimeout(timer));
        return;
      }
      for (const pipe of pipes) pipe.stop();
      stats.closedAt = Date.now();
      this.open.delete(pair);
    };
    client.on('close', onClose(client, upstream));
    upstream.on('close', onClose(upstream, client));
  }

  /** Stops listening and drops every open connection. */
  async close(): Promise<void> {
    for (const { client, upstream } of this.open) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
