/**
 * POP3 client (RFC 1939, CAPA of RFC 2449, SASL AUTH of RFC 5034) for Exchange Online and other
 * servers that take OAuth2 access tokens through SASL XOAUTH2.
 *
 * Answers are read strictly in order, each one completely (including a RETR body) before the
 * next; with PIPELINING, commands may be written ahead (command-queue.ts). Every wait for the
 * server has a time limit. Failures are M365MailError values; a dropped connection rejects
 * whatever is pending and the client stays closed (it never reconnects by itself — the poller
 * owns that).
 *
 * Lifecycle: `quit()` is the graceful end, and only a clean QUIT lets the server remove messages
 * marked with `dele()`; `close()` drops the socket and the server keeps every message.
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { M365MailError } from '../core/errors';
import { buildXOAuth2 } from '../auth/xoauth2';
import { parseCapabilities, type Pop3Capabilities } from './capabilities';
import { Pop3CommandQueue } from './command-queue';
import type { BodySink, Pop3Connection } from './connection';
import { classifyPop3Error, connectionClosedError, protocolError } from './errors';
import { RetrStream } from './retr-stream';
import { bodyLines, parseScanListing, parseStat, parseUidListing, type MailboxStat } from './responses';
import { authenticateXOAuth2 } from './sasl-xoauth2';
import { openConnection, readGreeting } from './open-connection';
import { wrapInTls } from './transport';
import {
  assertMessageNumber, configError, resolveOptions, statusText, type Pop3ClientOptions, type ResolvedOptions,
} from './client-options';

export type { Pop3Capabilities } from './capabilities';
export type { MailboxStat } from './responses';
export type { Pop3SocketFactory, Pop3TlsMode } from './transport';
export { MAX_COMMAND_LINE_BYTES, type Pop3ClientOptions } from './client-options';

export interface Pop3ClientEvents {
  /** The connection ended (QUIT, close(), or a failure); `error` says why. Emitted once. */
  close: [error: M365MailError];
  /** A failure while no command was pending (e.g. the server hung up while idle). Only emitted when listened to. */
  error: [error: M365MailError];
}

export class Pop3Client extends EventEmitter<Pop3ClientEvents> {
  /** The server's greeting text (after `+OK`). */
  greeting = '';
  /** The last CAPA answer; cleared by STLS, since capabilities may change under TLS. */
  capabilities?: Pop3Capabilities;

  private readonly options: ResolvedOptions;
  private connection?: Pop3Connection;
  private connecting?: Promise<string>;
  private isSecure = false;
  private authenticated = false;
  private closedBeforeConnect?: M365MailError;
  /** quit() was called: nothing may be written after QUIT. */
  private quitting = false;
  private readonly queue = new Pop3CommandQueue({
    requireOpen: () => { this.requireConnection(); },
    sessionPipelines: () => this.authenticated && this.capabilities?.pipelining === true && !this.quitting
      && this.connection !== undefined && !this.connection.isClosed,
    writeLine: (line) => this.requireConnection().writeLine(line),
  });

  constructor(options: Pop3ClientOptions) {
    super();
    this.options = resolveOptions(options);
  }

  /** Creates a client, connects it and reads the greeting (and does STLS when asked to). */
  static async connect(options: Pop3ClientOptions): Promise<Pop3Client> {
    const client = new Pop3Client(options);
    await client.connect();
    return client;
  }

  /** Whether the connection is encrypted (implicit TLS or after STLS). */
  get secure(): boolean {
    return this.isSecure;
  }

  /** Whether the connection has closed (or close() was called before it opened). */
  get closed(): boolean {
    return this.connection ? this.connection.isClosed : this.closedBeforeConnect !== undefined;
  }

  /** Opens the connection and resolves with the greeting text. Calling it again returns the same promise. */
  connect(): Promise<string> {
    if (!this.connecting) {
      this.connecting = this.runConnect();
      // Commands issued before the greeting arrived wait for it.
      this.queue.after(this.connecting);
    }
    return this.connecting;
  }

  /** Asks for the capability list. A server without CAPA (it answers `-ERR`) yields an empty list. */
  capa(): Promise<Pop3Capabilities> {
    return this.queue.exclusive(async () => {
      const { status, body } = await this.multiLine('CAPA', 'CAPA');
      if (!status.ok) {
        this.options.logger.debug?.('POP3 server does not support CAPA');
        this.capabilities = parseCapabilities([]);
        return this.capabilities;
      }
      this.capabilities = parseCapabilities(bodyLines(body));
      return this.capabilities;
    });
  }

  /** Upgrades a plain connection to TLS (RFC 2595). Done by connect() when `tls` is `starttls`. */
  stls(): Promise<void> {
    return this.queue.exclusive(() => this.upgradeWithStls());
  }

  /**
   * Signs in with SASL XOAUTH2 in two steps (see sasl-xoauth2.ts). No password is ever sent; the
   * token appears only in the continuation line, which is never logged.
   */
  authXOAuth2(user: string, accessToken: string): Promise<void> {
    return this.queue.exclusive(async () => {
      if (!user) throw configError('POP3 user (mailbox address) is missing');
      if (!accessToken) throw configError('access token is empty');
      if (/[\r\n\x01]/.test(user)) throw configError('POP3 user name contains control characters');
      const connection = this.requireConnection();
      await authenticateXOAuth2(
        {
          sendCommand: (line) => this.writeCommand(line),
          sendContinuation: (line, logText) => connection.writeLine(line, logText),
          readLine: async () => {
            const line = await connection.readLine('AUTH XOAUTH2');
            this.options.logger.debug?.(`POP3 S: ${line.slice(0, 200)}`);
            return line;
          },
        },
        buildXOAuth2(user, accessToken),
      );
      this.authenticated = true;
    });
  }

  /** Number of messages and their total size. */
  stat(): Promise<MailboxStat> {
    return this.simpleCommand('STAT', 'STAT').then(parseStat);
  }

  /** Message number → size in octets; all messages, or only `msgno`. */
  list(msgno?: number): Promise<Map<number, number>> {
    return this.listing('LIST', msgno, parseScanListing);
  }

  /** Message number → unique id (UIDL), stable across sessions; all messages, or only `msgno`. */
  uidl(msgno?: number): Promise<Map<number, string>> {
    return this.listing('UIDL', msgno, parseUidListing);
  }

  /**
   * Streams message `msgno` (raw RFC 822 bytes, dot-unstuffed). Resolves once the server said
   * `+OK`; the stream ends at the message end. The answer to the next command is read only once
   * this stream was read to its end (with pipelining, that command may already be on its way).
   * Destroying it earlier closes the client: the connection's place in the message would be lost.
   * Read with back-pressure: the socket pauses while the consumer is slow.
   */
  retr(msgno: number): Promise<Readable> {
    return new Promise<Readable>((resolve, reject) => {
      try {
        assertMessageNumber(msgno);
      } catch (error) {
        reject(error);
        return;
      }
      this.queue.command(`RETR ${msgno}`, async () => {
        const body = new RetrStream(msgno, () => this.connection, this.options.logger);
        const response = await this.readAnswer(`RETR ${msgno}`, body.start);
        if (!body.stream || !response.body) throw classifyPop3Error('RETR', response.status);
        resolve(body.stream);
        try {
          await response.body;
        } catch (error) {
          body.fail(error as Error);
          throw error;
        }
        body.end();
      }).catch(reject); // After resolve this is a no-op: body failures reach the stream instead.
    });
  }

  /** Message `msgno` as one Buffer; for small messages or when the whole message is needed anyway. */
  retrBuffer(msgno: number): Promise<Buffer> {
    return this.checked(() => assertMessageNumber(msgno), () => this.queue.command(`RETR ${msgno}`, async () => {
      const { status, body } = await this.multiLineAnswer(`RETR ${msgno}`);
      if (!status.ok) throw classifyPop3Error('RETR', status.line);
      return body;
    }));
  }

  /** Headers of message `msgno` plus its first `lines` body lines (TOP, optional in RFC 1939). */
  top(msgno: number, lines: number): Promise<Buffer> {
    const check = (): void => {
      assertMessageNumber(msgno);
      if (!Number.isInteger(lines) || lines < 0) throw configError(`invalid TOP line count: ${lines}`);
    };
    return this.checked(check, () => this.queue.command(`TOP ${msgno} ${lines}`, async () => {
      const { status, body } = await this.multiLineAnswer(`TOP ${msgno} ${lines}`);
      if (!status.ok) throw classifyPop3Error('TOP', status.line);
      return body;
    }));
  }

  /** Marks message `msgno` for deletion; the server removes it only after a clean `quit()`. */
  dele(msgno: number): Promise<void> {
    return this.checked(() => assertMessageNumber(msgno), () => this.simpleCommand(`DELE ${msgno}`, 'DELE').then(() => undefined));
  }

  /** Unmarks every message marked for deletion in this session. */
  rset(): Promise<void> {
    return this.simpleCommand('RSET', 'RSET').then(() => undefined);
  }

  /** Keeps the session alive; fails if the server does not answer. */
  noop(): Promise<void> {
    return this.simpleCommand('NOOP', 'NOOP').then(() => undefined);
  }

  /**
   * Ends the session gracefully: the server removes messages marked with `dele()` and closes.
   * Rejects when the connection is already gone, since the deletions then did not happen.
   */
  quit(): Promise<void> {
    this.quitting = true;
    return this.queue.exclusive(async () => {
      const connection = this.requireConnection();
      connection.expectServerClose();
      let status: string;
      try {
        status = await this.simple('QUIT', 'QUIT');
      } finally {
        connection.end();
      }
      this.options.logger.debug?.(`POP3 session ended: ${status}`);
    });
  }

  /** Drops the connection at once; queued commands fail and marked messages stay on the server. */
  close(): void {
    if (this.connection) {
      this.connection.fail(connectionClosedError('closed by the client'), true);
    } else if (!this.closedBeforeConnect) {
      this.closedBeforeConnect = connectionClosedError('closed by the client');
    }
  }

  private async runConnect(): Promise<string> {
    if (this.closedBeforeConnect) throw this.closedBeforeConnect;
    const connection = await openConnection(this.options, (error, details) => this.onConnectionClose(error, details));
    this.connection = connection;
    if (this.closedBeforeConnect) connection.fail(this.closedBeforeConnect, true);
    this.isSecure = this.options.tls === 'implicit';
    this.greeting = await readGreeting(connection, this.options);
    if (this.options.tls === 'starttls') await this.upgradeWithStls();
    return this.greeting;
  }

  private async upgradeWithStls(): Promise<void> {
    if (this.isSecure) throw configError('POP3 connection is already encrypted');
    if (this.authenticated) throw configError('STLS is only allowed before authentication');
    await this.simple('STLS', 'STLS');
    const connection = this.requireConnection();
    const raw = connection.detach();
    const secureSocket = wrapInTls(raw, this.options.tlsSettings);
    connection.attach(secureSocket);
    await connection.waitForEvent('TLS handshake after STLS', secureSocket, 'secureConnect');
    this.isSecure = true;
    this.capabilities = undefined;
  }

  private onConnectionClose(error: M365MailError, details: { delivered: boolean; intentional: boolean }): void {
    if (!details.intentional) this.options.logger.debug?.(`POP3 connection closed: ${error.message}`);
    // An error nobody waited for is reported as an event, but only to listeners: an 'error'
    // event without one would crash the process.
    if (!details.delivered && !details.intentional && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error);
  }

  private requireConnection(): Pop3Connection {
    const connection = this.connection;
    if (!connection) throw this.closedBeforeConnect ?? configError('POP3 client is not connected; call connect() first');
    if (connection.closedError) throw connection.closedError;
    return connection;
  }

  /** Runs `check` (argument validation) first, so a bad argument rejects without touching the queue. */
  private checked<T>(check: () => void, run: () => Promise<T>): Promise<T> {
    try {
      check();
    } catch (error) {
      return Promise.reject(error);
    }
    return run();
  }

  /** A single-line transaction command; resolves with the text after `+OK`, throws the classified `-ERR`. */
  private simpleCommand(line: string, commandName: string): Promise<string> {
    return this.queue.command(line, async () => {
      const { status } = await this.readAnswer(line, () => undefined);
      if (!status.startsWith('+OK')) throw classifyPop3Error(commandName, status);
      return statusText(status);
    });
  }

  private writeCommand(line: string): void {
    this.queue.write(line);
  }

  private async readResponse(
    line: string,
    step: string,
    startBody: (status: string) => BodySink | undefined,
  ): Promise<{ status: string; body?: Promise<void> }> {
    this.writeCommand(line);
    return this.readAnswer(step, startBody);
  }

  /** Reads the answer to a command already written: status line, and a body when `startBody` gives a sink. */
  private async readAnswer(
    step: string,
    startBody: (status: string) => BodySink | undefined,
  ): Promise<{ status: string; body?: Promise<void> }> {
    const response = await this.requireConnection().readResponse(step, (status) => {
      this.options.logger.debug?.(`POP3 S: ${status.slice(0, 200)}`);
      if (!status.startsWith('+OK') && !status.startsWith('-ERR')) {
        throw protocolError(`unexpected answer to ${step}: ${status.slice(0, 100)}`);
      }
      return startBody(status);
    });
    return response;
  }

  /** Sends a single-line command; resolves with the text after `+OK`, throws the classified `-ERR`. */
  private async simple(line: string, commandName: string): Promise<string> {
    const { status } = await this.readResponse(line, line, () => undefined);
    if (!status.startsWith('+OK')) throw classifyPop3Error(commandName, status);
    return statusText(status);
  }

  /** Sends a multi-line command and collects its body (only for answers that fit in memory). */
  private async multiLine(
    line: string,
    step: string,
  ): Promise<{ status: { ok: boolean; line: string }; body: Buffer }> {
    this.writeCommand(line);
    return this.multiLineAnswer(step);
  }

  /** Reads a multi-line answer to a command already written. */
  private async multiLineAnswer(step: string): Promise<{ status: { ok: boolean; line: string }; body: Buffer }> {
    const chunks: Buffer[] = [];
    const response = await this.readAnswer(step, (status) =>
      status.startsWith('+OK')
        ? (chunk) => {
            chunks.push(chunk);
            return true;
          }
        : undefined,
    );
    if (response.body) await response.body;
    return { status: { ok: response.body !== undefined, line: response.status }, body: Buffer.concat(chunks) };
  }

  private listing<T>(
    command: 'LIST' | 'UIDL',
    msgno: number | undefined,
    parse: (text: string) => [number, T],
  ): Promise<Map<number, T>> {
    return this.checked(() => { if (msgno !== undefined) assertMessageNumber(msgno); }, async () => {
      const result = new Map<number, T>();
      if (msgno !== undefined) {
        const [number, value] = parse(await this.simpleCommand(`${command} ${msgno}`, command));
        result.set(number, value);
        return result;
      }
      return this.queue.command(command, async () => {
        const { status, body } = await this.multiLineAnswer(command);
        if (!status.ok) throw classifyPop3Error(command, status.line);
        for (const entry of bodyLines(body)) {
          const [number, value] = parse(entry);
          result.set(number, value);
        }
        return result;
      });
    });
  }
}
