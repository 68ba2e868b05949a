/**
 * One POP3 byte stream: reads status lines and multi-line bodies from the socket, writes command
 * lines, and owns the step timer. It knows nothing of POP3 commands; Pop3Client builds on it.
 *
 * Failure model: the first socket error, end of stream, timeout or protocol violation closes the
 * connection for good (`fail`). Whoever waits for the server then gets the error as a rejection,
 * so no failure goes unobserved and none is raised twice.
 */
import type { Duplex } from 'node:stream';
import { M365MailError } from '../core/errors';
import type { Logger } from '../core/logger';
import { DotDecoder } from './dot-decoder';
import { connectionClosedError, socketError, timeoutError } from './errors';
import { DEFAULT_MAX_LINE_BYTES, LineBuffer } from './line-buffer';


export interface Pop3ConnectionOptions {
  host: string;
  port: number;
  /** Time the server may stay silent while the client waits for it. */
  timeoutMs: number;
  maxLineBytes?: number;
  logger: Logger;
  /** Called once when the connection closes; `delivered` tells whether a waiter got the error. */
  onClose(error: M365MailError, details: { delivered: boolean; intentional: boolean }): void;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: M365MailError): void;
}

/**
 * Bytes held for no reader before the socket is paused. With pipelining the server may answer the
 * next command before anyone reads that answer; this bounds what piles up meanwhile.
 */
const MAX_UNREAD_BYTES = 64 * 1024;

/** Receives decoded body bytes; returning false asks for a pause until `resumeBody`. */
export type BodySink = (chunk: Buffer) => boolean;

export interface Pop3Response {
  /** The status line, e.g. `+OK 2 messages`. */
  status: string;
  /** Present when a body followed; settles once its terminator was read. */
  body?: Promise<void>;
}

interface BodyReader extends Waiter<void> {
  decoder: DotDecoder;
  sink: BodySink;
  paused: boolean;
}

export class Pop3Connection {
  private socket: Duplex;
  private readonly lines: LineBuffer;
  private lineWaiter?: Waiter<string>;
  private eventWaiter?: Waiter<void>;
  private body?: BodyReader;
  private timer?: NodeJS.Timeout;
  private timerStep = '';
  private timerMs = 0;
  private closedWith?: M365MailError;
  private serverCloseExpected = false;
  /** The socket is paused because MAX_UNREAD_BYTES arrived while nobody was reading. */
  private unreadPaused = false;
  /** Every socket this connection ever read from, so each keeps an 'error' listener for its whole life. */
  private readonly ownedSockets = new Set<Duplex>();

  constructor(socket: Duplex, private readonly options: Pop3ConnectionOptions) {
    this.lines = new LineBuffer(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.socket = socket;
    this.attach(socket);
  }

  /** The error the connection closed with, or undefined while open. */
  get closedError(): M365MailError | undefined {
    return this.closedWith;
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  /** The socket currently read from and written to. */
  get currentSocket(): Duplex {
    return this.socket;
  }

  /**
   * Takes responsibility for a stream beneath the current socket (e.g. a proxy tunnel under TLS):
   * its errors close the connection and it is destroyed with it.
   */
  adopt(socket: Duplex): void {
    if (this.ownedSockets.has(socket)) return;
    this.ownedSockets.add(socket);
    socket.on('error', this.onError);
    if (this.closedWith) socket.destroy();
  }

  /**
   * Announces that the server will close the connection (after QUIT), so its end of stream is
   * not reported as a failure.
   */
  expectServerClose(): void {
    this.serverCloseExpected = true;
  }

  /** Starts reading from `socket` (used again after STLS with the TLS socket over the old one). */
  attach(socket: Duplex): void {
    this.socket = socket;
    if (!this.ownedSockets.has(socket)) {
      this.ownedSockets.add(socket);
      // Never removed: a socket without an 'error' listener would crash the process.
      socket.on('error', this.onError);
    }
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    if (this.closedWith) socket.destroy();
  }

  /**
   * Stops reading from the current socket and returns it, for STLS. Bytes already received but not
   * read are a protocol error: they would be plaintext injected before the TLS handshake.
   */
  detach(): Duplex {
    this.assertOpen();
    if (this.lines.size > 0) {
      const error = new M365MailError('POP3 server sent data after its STLS answer, before the TLS handshake', {
        kind: 'tls',
        fix: 'Something between this client and the server tampers with the connection; use implicit TLS (port 995).',
      });
      this.fail(error);
      throw error;
    }
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onEnd);
    return socket;
  }

  /** Writes one line plus CRLF. `logText` is what the debug log shows instead of the line. */
  writeLine(line: string, logText: string = line): void {
    this.assertOpen();
    this.options.logger.debug?.(`POP3 C: ${logText}`);
    this.socket.write(`${line}\r\n`);
  }

  /** Resolves with the next line from the server (without its line ending). */
  readLine(step: string, timeoutMs: number = this.options.timeoutMs): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (this.closedWith) {
        reject(this.closedWith);
        return;
      }
      this.lineWaiter = { resolve, reject };
      this.armTimer(step, timeoutMs);
      this.resumeUnread();
      this.guard(() => this.pumpLines());
    });
  }

  /**
   * Reads a status line and, when `startBody` returns a sink for it (a `+OK` of a multi-line
   * command), switches to the body in the same tick, so no body byte is ever taken for a status
   * line. The body arrives dot-unstuffed in the sink until the terminator; `body` settles then.
   * When the sink returns false the socket is paused until `resumeBody()`, and the step timer with
   * it: a slow consumer is not a slow server.
   */
  readResponse(step: string, startBody: (status: string) => BodySink | undefined): Promise<Pop3Response> {
    return new Promise<Pop3Response>((resolve, reject) => {
      if (this.closedWith) {
        reject(this.closedWith);
        return;
      }
      const waiter: Waiter<string> = {
        reject,
        resolve: (status) => {
          let sink: BodySink | undefined;
          try {
            sink = startBody(status);
          } catch (error) {
            // A status line the caller cannot accept leaves the stream out of step: close it,
            // with this waiter put back so it receives the error.
            this.lineWaiter = waiter;
            this.fail(error);
            return;
          }
          if (!sink) {
            resolve({ status });
            return;
          }
          const body = new Promise<void>((bodyResolve, bodyReject) => {
            this.body = { decoder: new DotDecoder(), sink, paused: false, resolve: bodyResolve, reject: bodyReject };
          });
          // The caller awaits `body` right after; this only keeps a failure in between from being "unhandled".
          body.catch(() => undefined);
          this.armTimer(step, this.options.timeoutMs);
          resolve({ status, body });
          const leftover = this.lines.takeAll();
          if (leftover.length > 0) this.feedBody(leftover);
        },
      };
      this.lineWaiter = waiter;
      this.armTimer(step, this.options.timeoutMs);
      this.resumeUnread();
      this.guard(() => this.pumpLines());
    });
  }

  /** Lets a paused body continue once its consumer wants more. */
  resumeBody(): void {
    const body = this.body;
    if (!body || !body.paused || this.closedWith) return;
    body.paused = false;
    this.socket.resume();
    this.armTimer(this.timerStep, this.timerMs);
  }

  /** Waits for a one-off socket event such as 'secureConnect', under the step timer. */
  waitForEvent(step: string, emitter: Duplex, event: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closedWith) {
        reject(this.closedWith);
        return;
      }
      const onEvent = (): void => {
        if (this.eventWaiter !== waiter) return;
        this.eventWaiter = undefined;
        this.clearTimer();
        resolve();
      };
      const waiter: Waiter<void> = {
        resolve,
        reject: (error) => {
          emitter.off(event, onEvent);
          reject(error);
        },
      };
      this.eventWaiter = waiter;
      emitter.once(event, onEvent);
      this.armTimer(step, this.options.timeoutMs);
    });
  }

  /**
   * Closes the connection with `error` (first call wins) and rejects whoever waits.
   * `intentional` marks a close the caller asked for, which is not reported as an error event.
   */
  fail(error: unknown, intentional = false): void {
    if (this.closedWith) return;
    const closedWith = error instanceof M365MailError ? error : socketError(error, this.options.host, this.options.port);
    this.closedWith = closedWith;
    this.clearTimer();
    const waiters: Array<{ reject(error: M365MailError): void }> = [];
    if (this.lineWaiter) waiters.push(this.lineWaiter);
    if (this.body) waiters.push(this.body);
    if (this.eventWaiter) waiters.push(this.eventWaiter);
    this.lineWaiter = undefined;
    this.body = undefined;
    this.eventWaiter = undefined;
    for (const socket of this.ownedSockets) socket.destroy();
    for (const waiter of waiters) waiter.reject(closedWith);
    this.options.onClose(closedWith, { delivered: waiters.length > 0, intentional });
  }

  /** Graceful end after QUIT: flush what was written, then release the socket. */
  end(): void {
    if (this.closedWith) return;
    const socket = this.socket;
    this.closedWith = connectionClosedError('the session ended with QUIT');
    this.clearTimer();
    socket.end(() => {
      for (const owned of this.ownedSockets) owned.destroy();
    });
    this.options.onClose(this.closedWith, { delivered: false, intentional: true });
  }

  private assertOpen(): void {
    if (this.closedWith) throw this.closedWith;
  }

  private readonly onData = (chunk: Buffer | string): void => {
    if (this.closedWith) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    this.guard(() => {
      if (this.body) {
        this.feedBody(bytes);
      } else {
        this.lines.push(bytes);
        this.pumpLines();
        if (!this.lineWaiter && !this.body && this.lines.size > MAX_UNREAD_BYTES) this.pauseUnread();
      }
    });
  };

  private pauseUnread(): void {
    if (this.unreadPaused) return;
    this.unreadPaused = true;
    this.socket.pause();
  }

  /** A reader is back: let the bytes flow again (what is held is read first). */
  private resumeUnread(): void {
    if (!this.unreadPaused) return;
    this.unreadPaused = false;
    this.socket.resume();
  }

  private readonly onError = (error: Error): void => {
    this.fail(socketError(error, this.options.host, this.options.port));
  };

  private readonly onEnd = (): void => {
    this.fail(connectionClosedError('the server closed the connection'), this.serverCloseExpected);
  };

  /** Runs `work`, turning a thrown protocol error into a closed connection. */
  private guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.fail(error);
    }
  }

  private pumpLines(): void {
    const waiter = this.lineWaiter;
    if (!waiter) return;
    const line = this.lines.takeLine();
    if (line === undefined) {
      this.timer?.refresh();
      return;
    }
    this.lineWaiter = undefined;
    this.clearTimer();
    waiter.resolve(line.toString('utf8'));
  }

  private feedBody(chunk: Buffer): void {
    const body = this.body;
    if (!body) return;
    const result = body.decoder.feed(chunk);
    for (const piece of result.output) {
      if (!body.sink(piece) && !body.paused) {
        body.paused = true;
        this.socket.pause();
        this.clearTimer();
      }
    }
    if (!result.done) {
      if (!body.paused) this.timer?.refresh();
      return;
    }
    this.body = undefined;
    this.clearTimer();
    // The consumer's back-pressure ends with the body; the next answer must flow again.
    if (body.paused) this.socket.resume();
    body.resolve();
    this.lines.push(result.rest);
  }

  private armTimer(step: string, timeoutMs: number): void {
    this.clearTimer();
    this.timerStep = step;
    this.timerMs = timeoutMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fail(timeoutError(this.timerStep, this.timerMs));
    }, timeoutMs);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
