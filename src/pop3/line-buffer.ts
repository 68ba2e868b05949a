/**
 * Collects socket chunks and hands out complete status lines (CRLF or bare LF). A line longer
 * than `maxLineBytes` is a protocol error, so a broken or hostile server cannot make the client
 * buffer without bound while it waits for a line ending.
 */
import { protocolError } from './errors';

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/** RFC 2449 allows 512-byte response lines; far more than that is not a POP3 server talking. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

export class LineBuffer {
  private pending: Buffer = EMPTY;
  /** Bytes of `pending` already known to hold no LF, so a long line is not rescanned per chunk. */
  private scanned = 0;

  constructor(private readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {}

  /** Number of bytes held that no one has taken yet. */
  get size(): number {
    return this.pending.length;
  }

  /** Adds bytes; throws a protocol error when an unfinished line grows past the limit. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.pending.indexOf(LF, this.scanned) < 0) {
      this.scanned = this.pending.length;
      if (this.pending.length > this.maxLineBytes) {
        throw protocolError(`server line longer than ${this.maxLineBytes} bytes`);
      }
    }
  }

  /** Takes the next complete line without its line ending, or returns undefined if none is complete. */
  takeLine(): Buffer | undefined {
    const lf = this.pending.indexOf(LF, this.scanned);
    if (lf < 0) {
      this.scanned = this.pending.length;
      return undefined;
    }
    if (lf > this.maxLineBytes) {
      throw protocolError(`server line longer than ${this.maxLineBytes} bytes`);
    }
    const end = lf > 0 && this.pending[lf - 1] === CR ? lf - 1 : lf;
    const line = this.pending.subarray(0, end);
    this.pending = this.pending.subarray(lf + 1);
    this.scanned = 0;
    return line;
  }

  /** Takes every byte held, e.g. to hand the rest of a chunk to a multi-line body decoder. */
  takeAll(): Buffer {
    const all = this.pending;
    this.pending = EMPTY;
    this.scanned = 0;
    return all;
  }
}
