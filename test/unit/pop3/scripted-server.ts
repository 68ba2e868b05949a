/**
 * An in-memory POP3 peer for client tests: the client gets `socket` (through `factory`), the test
 * reads each line the client wrote with `expect()` and answers with `send()` in chunks split
 * wherever it likes. `sendWithBackpressure()` honours the client's reading pace, to prove the
 * client streams instead of buffering.
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import type { Pop3SocketFactory } from '../../../src/pop3/transport';

interface LineWaiter {
  resolve(line: string): void;
  reject(error: Error): void;
}

export class ScriptedServer {
  /** Every line the client wrote, without CRLF, in order. */
  readonly received: string[] = [];
  /** Byte length of each received line including its CRLF. */
  readonly receivedBytes: number[] = [];
  /** Bytes pushed towards the client so far. */
  sentBytes = 0;
  readonly socket: Duplex;
  /** Settles when the client destroyed its socket or ended its writing side. */
  readonly clientClosed: Promise<'destroyed' | 'ended'>;

  private pendingText = '';
  private readonly unread: string[] = [];
  private lineWaiter?: LineWaiter;
  private readWanted?: () => void;
  private closedByClient = false;

  constructor() {
    let markClosed: (how: 'destroyed' | 'ended') => void = () => {};
    this.clientClosed = new Promise((resolve) => {
      markClosed = resolve;
    });
    const server = this;
    this.socket = new Duplex({
      allowHalfOpen: false,
      read() {
        const wanted = server.readWanted;
        server.readWanted = undefined;
        wanted?.();
      },
      write(chunk: Buffer, _encoding, callback) {
        server.onClientBytes(chunk);
        callback();
      },
      final(callback) {
        server.closedByClient = true;
        markClosed('ended');
        callback();
      },
      destroy(error, callback) {
        server.closedByClient = true;
        markClosed('destroyed');
        server.lineWaiter?.reject(new Error('client closed the connection'));
        server.lineWaiter = undefined;
        callback(error);
      },
    });
  }

  /** Socket factory for Pop3ClientOptions. */
  readonly factory: Pop3SocketFactory = () => this.socket;

  /** Whether the client has closed or ended its socket. */
  get isClosedByClient(): boolean {
    return this.closedByClient;
  }

  /** The next line the client sends (waits for it, bounded). */
  nextLine(timeoutMs = 2000): Promise<string> {
    const line = this.unread.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lineWaiter = undefined;
        reject(new Error(`client sent no line within ${timeoutMs} ms (so far: ${JSON.stringify(this.received)})`));
      }, timeoutMs);
      this.lineWaiter = {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  /** Waits for the next client line and asserts it equals (or matches) `expected`. */
  async expect(expected: string | RegExp): Promise<string> {
    const line = await this.nextLine();
    if (typeof expected === 'string') assert.equal(line, expected);
    else assert.match(line, expected);
    return line;
  }

  /** Expects `command` and answers with `reply` (one chunk; CRLF added to lines not ending in LF). */
  async answer(command: string | RegExp, ...reply: string[]): Promise<void> {
    await this.expect(command);
    this.send(reply.map((line) => (line.endsWith('\n') ? line : `${line}\r\n`)).join(''));
  }

  /** Pushes each argument as its own chunk, exactly as given. */
  send(...chunks: Array<string | Buffer>): void {
    for (const chunk of chunks) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      this.sentBytes += bytes.length;
      this.socket.push(bytes);
    }
  }

  /**
   * Sends `data` in `chunkSize` pieces, waiting whenever the client's socket buffer is full, as a
   * TCP peer would. Returns the largest number of bytes that were sent but not yet delivered to
   * the consumer, measured through `deliveredBytes()`.
   */
  async sendWithBackpressure(data: Buffer, chunkSize: number, deliveredBytes: () => number): Promise<number> {
    let maxInFlight = 0;
    for (let offset = 0; offset < data.length; offset += chunkSize) {
      const piece = data.subarray(offset, offset + chunkSize);
      this.sentBytes += piece.length;
      maxInFlight = Math.max(maxInFlight, this.sentBytes - deliveredBytes());
      const more = this.socket.push(piece);
      if (!more) await this.waitUntilReadWanted();
      if (this.closedByClient) break;
    }
    return maxInFlight;
  }

  /** Ends the stream towards the client, like a server closing its side. */
  end(): void {
    this.socket.push(null);
  }

  /** Breaks the connection with a socket error, like a reset. */
  cut(code = 'ECONNRESET'): void {
    this.socket.destroy(Object.assign(new Error(`read ${code}`), { code }));
  }

  private waitUntilReadWanted(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.closedByClient) {
        resolve();
        return;
      }
      this.readWanted = resolve;
      void this.clientClosed.then(() => resolve());
    });
  }

  private onClientBytes(chunk: Buffer): void {
    this.pendingText += chunk.toString('utf8');
    let lf = this.pendingText.indexOf('\r\n');
    while (lf >= 0) {
      const line = this.pendingText.slice(0, lf);
      this.pendingText = this.pendingText.slice(lf + 2);
      this.received.push(line);
      this.receivedBytes.push(Buffer.byteLength(line, 'utf8') + 2);
      const waiter = this.lineWaiter;
      this.lineWaiter = undefined;
      if (waiter) waiter.resolve(line);
      else this.unread.push(line);
      lf = this.pendingText.indexOf('\r\n');
    }
  }
}

/** Records unhandled rejections while a test runs; `stop()` removes the listener and returns them. */
export function watchUnhandledRejections(): { stop(): unknown[] } {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', listener);
  return {
    stop() {
      process.off('unhandledRejection', listener);
      return seen;
    },
  };
}

/** A logger that keeps every line, to assert that secrets never reach it. */
export function recordingLogger(): { lines: string[]; debug(m: string): void; info(m: string): void; warn(m: string): void; error(m: string): void } {
  const lines: string[] = [];
  const push = (message: string): void => {
    lines.push(message);
  };
  return { lines, debug: push, info: push, warn: push, error: push };
}
