/**
 * Byte-level decoder for the body of a POP3 multi-line response (RFC 1939 §3): removes the
 * byte-stuffed leading dot (`..x` → `.x`) and stops at the terminating `.` line. It keeps at most
 * two bytes of state between chunks, so lines of any length and a terminator split across any
 * chunk boundary cost no buffering. Line endings are passed through as sent (CRLF or bare LF).
 */

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/** Where in a line the decoder stands between bytes. */
const enum State {
  /** At the first byte of a line. */
  LineStart,
  /** A line began with `.`, not yet known whether stuffed or the terminator. */
  Dot,
  /** Saw `.` + CR at the start of a line. */
  DotCr,
  /** Inside a line's content. */
  Middle,
}

export interface DotDecodeResult {
  /** Decoded message bytes found in this chunk, in order (slices of the input where possible). */
  output: Buffer[];
  /** True once the terminating `.` line was consumed. */
  done: boolean;
  /** Bytes after the terminator: the start of whatever the server sends next. */
  rest: Buffer;
}

const EMPTY = Buffer.alloc(0);
const DOT_BYTES = Buffer.from('.');
const DOT_CR_BYTES = Buffer.from('.\r');
const LF_DOT = Buffer.from('\n.');

export class DotDecoder {
  private state: State = State.LineStart;
  private finished = false;

  /** Whether the terminator has been seen. */
  get done(): boolean {
    return this.finished;
  }

  /**
   * Decodes one chunk. After `done`, further input is returned untouched in `rest`. The output is
   * one slice of the input per run between stuffed dots (usually the whole chunk): a consumer such
   * as mailparser pays per chunk, so handing it every line on its own would cost more than the I/O.
   */
  feed(chunk: Buffer): DotDecodeResult {
    const output: Buffer[] = [];
    if (this.finished) return { output, done: true, rest: chunk };
    let i = 0;
    // Start of the not yet emitted run of content bytes in `chunk`.
    let runStart = 0;
    const flush = (end: number): void => {
      if (end > runStart) output.push(chunk.subarray(runStart, end));
    };
    while (i < chunk.length) {
      const byte = chunk[i];
      switch (this.state) {
        case State.LineStart:
          if (byte === DOT) {
            flush(i);
            this.state = State.Dot;
            i += 1;
            runStart = i;
          } else {
            this.state = State.Middle;
          }
          break;
        case State.Dot:
          if (byte === LF) {
            return this.finish(output, chunk, i + 1);
          }
          if (byte === CR) {
            this.state = State.DotCr;
            i += 1;
            runStart = i;
          } else {
            // `..` is a stuffed dot: drop the first and keep the second. A lone leading dot before
            // other text breaks RFC 1939; keep it, as losing a byte would be worse.
            if (byte !== DOT) output.push(DOT_BYTES);
            this.state = State.Middle;
            runStart = i;
          }
          break;
        case State.DotCr:
          if (byte === LF) {
            return this.finish(output, chunk, i + 1);
          }
          // `.` CR followed by content: not a terminator, pass both through.
          output.push(DOT_CR_BYTES);
          this.state = State.Middle;
          runStart = i;
          break;
        case State.Middle: {
          // Only a line that starts with a dot needs attention: jump to the next one (native search).
          const lineWithDot = chunk.indexOf(LF_DOT, i);
          if (lineWithDot >= 0) {
            i = lineWithDot + 1;
            this.state = State.LineStart;
          } else {
            i = chunk.length;
            if (chunk[chunk.length - 1] === LF) this.state = State.LineStart;
          }
          break;
        }
      }
    }
    flush(chunk.length);
    return { output, done: false, rest: EMPTY };
  }

  private finish(output: Buffer[], chunk: Buffer, restStart: number): DotDecodeResult {
    this.finished = true;
    return { output, done: true, rest: chunk.subarray(restStart) };
  }
}
