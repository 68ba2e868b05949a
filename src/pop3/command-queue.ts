/**
 * The order of a POP3 client's commands. Answers are read strictly in order, each completely
 * before the next. A command is written when its turn comes, or, once the session allows
 * pipelining (RFC 2449 §6.6: signed in to a server that announces PIPELINING), at once when every
 * command before it was written: a caller that asks for RETR n+1 while it still reads mail n has
 * the server prepare the next mail meanwhile. Callers that await each command see no difference.
 */
import { configError, MAX_COMMAND_LINE_BYTES } from './client-options';

export interface CommandQueueHooks {
  /** Throws when there is no usable connection (not connected yet, or closed). */
  requireOpen(): void;
  /** Whether the session allows pipelining now (signed in, PIPELINING announced, not quitting, open). */
  sessionPipelines(): boolean;
  /** Writes a checked command line to the connection. */
  writeLine(line: string): void;
}

export class Pop3CommandQueue {
  /** Tail of the queue; each command's answer is read when the one before settled. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Queued commands whose line is not written yet; a pipelined command must not overtake them. */
  private unwritten = 0;

  constructor(private readonly hooks: CommandQueueHooks) {}

  /** Commands queued from now on wait for `ready` (e.g. the greeting) to settle first. */
  after(ready: Promise<unknown>): void {
    this.tail = ready.catch(() => undefined);
  }

  /**
   * Runs `task` after every command queued before it settled; never two at once. The task writes
   * its command line synchronously when it starts (until then it counts as unwritten).
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    this.unwritten++;
    const run = this.tail.then(() => {
      this.unwritten--;
      this.hooks.requireOpen();
      return task();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * A transaction command: `line` is written at once when pipelining allows it (else when its turn
   * comes), and `readAnswer` runs in turn, after every answer before it was read.
   */
  command<T>(line: string, readAnswer: () => Promise<T>): Promise<T> {
    if (!this.mayPipeline()) {
      return this.exclusive(() => {
        this.write(line);
        return readAnswer();
      });
    }
    try {
      this.write(line);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.tail.then(readAnswer);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Writes a command line, refusing line breaks and lines over the 512-byte limit. */
  write(line: string): void {
    if (/[\r\n]/.test(line)) throw configError('POP3 command contains a line break');
    const bytes = Buffer.byteLength(line, 'utf8') + 2;
    if (bytes > MAX_COMMAND_LINE_BYTES) {
      throw configError(`POP3 command is ${bytes} bytes, over the ${MAX_COMMAND_LINE_BYTES}-byte limit`);
    }
    this.hooks.writeLine(line);
  }

  /** Whether a command may be written before the answers to earlier ones arrived. */
  private mayPipeline(): boolean {
    return this.unwritten === 0 && this.hooks.sessionPipelines();
  }
}
