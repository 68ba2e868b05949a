/**
 * The body of a RETR answer as a Readable: filled by the connection as lines arrive, read with
 * back-pressure (the socket pauses while the consumer is slow). Destroying it before its end
 * closes the connection, since the connection's place in the message would be lost.
 */
import { Readable } from 'node:stream';
import type { Logger } from '../core/logger';
import type { BodySink, Pop3Connection } from './connection';
import { connectionClosedError } from './errors';

export class RetrStream {
  /** The stream, once the server said `+OK`. */
  stream?: Readable;
  private finished = false;

  constructor(
    private readonly msgno: number,
    private readonly connection: () => Pop3Connection | undefined,
    private readonly logger: Logger,
  ) {}

  /** The body sink for the answer's status line: a stream on `+OK`, none on `-ERR`. */
  readonly start = (status: string): BodySink | undefined => {
    if (!status.startsWith('+OK')) return undefined;
    const readable = new Readable({
      highWaterMark: 64 * 1024,
      read: () => this.connection()?.resumeBody(),
      destroy: (error, callback) => {
        if (!this.finished) {
          this.finished = true;
          this.connection()?.fail(
            connectionClosedError(`the RETR ${this.msgno} stream was destroyed before its end`),
            true,
          );
        }
        callback(error);
      },
    });
    // The failure also reaches 'error' listeners, async iteration and pipeline(); this
    // listener only keeps a stream whose consumer attached nothing yet from crashing the process.
    readable.on('error', (error) => this.logger.debug?.(`POP3 RETR ${this.msgno} stream failed: ${error.message}`));
    this.stream = readable;
    return (chunk) => readable.push(chunk);
  };

  /** The body failed before its end: the stream fails with the same error. */
  fail(error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.stream?.destroy(error);
  }

  /** The body was read to its end. */
  end(): void {
    this.finished = true;
    this.stream?.push(null);
  }
}
