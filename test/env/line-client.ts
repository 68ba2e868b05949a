/**
 * A minimal line-based client for IMAP/POP3 conversations in tests: send a line, read the next
 * line, upgrade with STARTTLS. Lets a test show the exact bytes a server answers, which a
 * full client library would hide.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface LineClientOptions {
  host: string;
  port: number;
  /** Implicit TLS trusting this CA (PEM); plain TCP when absent. */
  caPem?: string;
  /** Per read. Default 5 s. */
  timeoutMs?: number;
}

export class LineClient {
  private buffered = '';
  private waiting?: { resolve: (line: string) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };
  private failure?: Error;
  private readonly timeoutMs: number;

  private constructor(private socket: net.Socket, timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.attach(socket);
  }

  /** Connects and resolves once the socket (and TLS, if asked) is up. */
  static connect(options: LineClientOptions): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = options.caPem
        ? tls.connect({ host: options.host, port: options.port, ca: options.caPem }, () => done())
        : net.connect({ host: options.host, port: options.port }, () => done());
      const client = new LineClient(socket, options.timeoutMs ?? 5000);
      const onError = (error: Error): void => reject(error);
      socket.once('error', onError);
      function done(): void {
        socket.removeListener('error', onError);
        resolve(client);
      }
    });
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      this.deliver();
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.deliver();
  }

  private deliver(): void {
    if (!this.waiting) return;
    const newline = this.buffered.indexOf('\n');
    const { resolve, reject, timer } = this.waiting;
    if (newline >= 0) {
      const line = this.buffered.slice(0, newline).replace(/\r$/, '');
      this.buffered = this.buffered.slice(newline + 1);
      clearTimeout(timer);
      this.waiting = undefined;
      resolve(line);
    } else if (this.failure) {
      clearTimeout(timer);
      this.waiting = undefined;
      reject(this.failure);
    }
  }

  /** Next line from the server, without CRLF. */
  readLine(): Promise<string> {
    if (this.waiting) return Promise.reject(new Error('readLine is already pending'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no line within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting = { resolve, reject, timer };
      this.deliver();
    });
  }

  /** Reads lines until one matches, returning all lines read (the match last). */
  async readUntil(pattern: RegExp): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine();
      lines.push(line);
      if (pattern.test(line)) return lines;
    }
  }

  /** Sends one line (CRLF appended). */
  send(line: string): void {
    this.socket.write(line + '\r\n');
  }

  /** Sends a line and returns the next line. */
  async command(line: string): Promise<string> {
    this.send(line);
    return this.readLine();
  }

  /** Upgrades the connection to TLS after the server agreed to STARTTLS / STLS. */
  async startTls(caPem: string, servername?: string): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    plain.on('error', () => undefined);
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect({ socket: plain, ca: caPem, host: plain.remoteAddress, servername }, () => resolve(socket));
      socket.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  /** Whether the server has closed the connection. */
  get closed(): boolean {
    return this.failure !== undefined;
  }

  close(): void {
    this.socket.destroy();
  }
}
