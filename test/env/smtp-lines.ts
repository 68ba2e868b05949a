/**
 * The wire pieces the bed's SMTP servers share: a line reader over a socket that survives a
 * STARTTLS upgrade, multi-line replies, and DATA (dot-stuffing, end marker).
 */
import type net from 'node:net';

const CRLF = Buffer.from('\r\n');

/** Reads CRLF (or LF) terminated lines from a socket, one at a time, as Buffers (8-bit clean). */
export class LineReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting?: (line: Buffer | null) => void;
  private ended = false;
  private socket?: net.Socket;
  private readonly onData = (chunk: Buffer): void => {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    this.deliver();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.deliver();
  };

  constructor(socket: net.Socket, private readonly maxLineBytes = 1024 * 1024) {
    this.attach(socket);
  }

  /** Starts reading from `socket` (after a TLS upgrade: the TLS socket). */
  attach(socket: net.Socket): void {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
  }

  /**
   * Stops reading from the current socket and throws away what was read ahead: after STARTTLS
   * nothing sent in plain text may count as sent under TLS.
   */
  detach(): void {
    this.socket?.removeListener('data', this.onData);
    this.socket?.removeListener('end', this.onEnd);
    this.socket?.removeListener('close', this.onEnd);
    this.socket = undefined;
    this.buffered = Buffer.alloc(0);
  }

  /** The next line without its line end, or null once the connection has ended. */
  line(): Promise<Buffer | null> {
    if (this.waiting) return Promise.reject(new Error('line() is already pending'));
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.deliver();
    });
  }

  /** Whether a complete line is already waiting (the client pipelined). */
  hasLine(): boolean {
    return this.buffered.includes(0x0a);
  }

  private deliver(): void {
    const resolve = this.waiting;
    if (!resolve) return;
    const newline = this.buffered.indexOf(0x0a);
    if (newline >= 0) {
      const end = newline > 0 && this.buffered[newline - 1] === 0x0d ? newline - 1 : newline;
      const line = this.buffered.subarray(0, end);
      this.buffered = this.buffered.subarray(newline + 1);
      this.waiting = undefined;
      resolve(line);
    } else if (this.ended || this.buffered.length > this.maxLineBytes) {
      this.waiting = undefined;
      resolve(null);
    }
  }
}

/** An SMTP reply: code, the enhanced status code if any, and every line's text. */
export interface SmtpReply {
  code: number;
  lines: string[];
  /** All lines as sent, CRLF-joined, e.g. for passing a reply on unchanged. */
  raw: string;
}

/** Reads one (possibly multi-line) reply; null when the connection ended first. */
export async function readReply(reader: LineReader): Promise<SmtpReply | null> {
  const lines: string[] = [];
  const raw: string[] = [];
  for (;;) {
    const buffer = await reader.line();
    if (buffer === null) return null;
    const line = buffer.toString('utf8');
    raw.push(line);
    lines.push(line.slice(4));
    if (!/^\d{3}-/.test(line)) return { code: Number(line.slice(0, 3)), lines, raw: raw.join('\r\n') };
  }
}

/** Formats a reply: `code` on every line, `-` after it on all but the last. */
export function formatReply(code: number, lines: string[]): string {
  return lines.map((line, i) => `${code}${i < lines.length - 1 ? '-' : ' '}${line}`).join('\r\n') + '\r\n';
}

/**
 * Reads DATA up to the lone "." line. Returns the message as sent on the wire (dot-stuffed, CRLF
 * lines, without the end marker) and as meant (dots removed); null when the connection ended.
 */
export async function readData(reader: LineReader): Promise<{ stuffed: Buffer; message: Buffer } | null> {
  const stuffed: Buffer[] = [];
  const message: Buffer[] = [];
  for (;;) {
    const line = await reader.line();
    if (line === null) return null;
    if (line.length === 1 && line[0] === 0x2e) break;
    stuffed.push(line, CRLF);
    message.push(line[0] === 0x2e ? line.subarray(1) : line, CRLF);
  }
  return { stuffed: Buffer.concat(stuffed), message: Buffer.concat(message) };
}

/** The address inside `MAIL FROM:<...>` / `RCPT TO:<...>` and the parameters after it. */
export function parsePath(argument: string): { address: string; params: string } | undefined {
  const match = /^\s*<([^>]*)>\s*(.*)$/.exec(argument);
  return match ? { address: match[1], params: match[2] } : undefined;
}

/** Header fields of a message (unfolded, names lower-cased); the body is not read. */
export function headerFields(message: Buffer): Map<string, string[]> {
  const end = message.indexOf('\r\n\r\n');
  const head = message.subarray(0, end >= 0 ? end : message.length).toString('utf8').replace(/\r\n[ \t]+/g, ' ');
  const fields = new Map<string, string[]>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    fields.set(name, [...(fields.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return fields;
}

/** The addr-specs in an address header value (`"A" <a@x>, b@y` → a@x, b@y), lower-cased. */
export function headerAddresses(value: string): string[] {
  const angled = [...value.matchAll(/<([^<>@\s]+@[^<>\s]+)>/g)].map((m) => m[1]);
  const bare = angled.length ? [] : [...value.matchAll(/([^\s<>,;"]+@[^\s<>,;"]+)/g)].map((m) => m[1]);
  return [...angled, ...bare].map((address) => address.toLowerCase());
}
