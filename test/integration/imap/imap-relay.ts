/**
 * A scriptable IMAP endpoint for the tests of what Dovecot cannot be made to do, and the bench's
 * window on what a client says: a TLS server on 127.0.0.1 (the test bed's certificate, which
 * clients still verify) that per accepted connection either relays to the real Dovecot behind it
 * over a verified TLS connection of its own — noting every line the client sends, when, and in
 * which flight, and able to inject a line such as Exchange's
 * `* BYE Session invalidated - AccessTokenExpired` — or plays a fake server that refuses the login
 * with a scripted answer (e.g. Exchange's throttling text).
 *
 * The bench's connect phase lists the commands a client sends from connect to its first mail with
 * `describeClientLine`, which keeps no credentials (AUTHENTICATE and LOGIN keep only their
 * mechanism, SASL continuation lines are not shown); literals are never taken for lines.
 */
import net from 'node:net';
import tls from 'node:tls';

/** What to do with one accepted connection. */
export type RelayBehaviour =
  | { kind: 'relay' }
  /** Greets, answers CAPABILITY/ID/LOGOUT, and answers AUTHENTICATE/LOGIN with `tag <loginReply>`. */
  | { kind: 'refuse-login'; loginReply: string };

export interface RelayConnection {
  /** 1-based number of the connection. */
  index: number;
  acceptedAt: number;
  behaviour: RelayBehaviour['kind'];
  /** Lines the client sent, without CRLF; literal data ({n} / {n+} at a line's end) is skipped. */
  clientLines: string[];
  /** When the client sent each line (ms since epoch, by the relay's clock), same order as clientLines. */
  clientLineTimes: number[];
  /**
   * Which client flight each line went in, same order as clientLines: lines sent one after the
   * other without the server answering in between share a flight (pipelined); each new flight
   * waited a round trip.
   */
  clientLineFlights: number[];
  closed: boolean;
}

export interface ImapRelayOptions {
  /** The real server behind the relay. */
  upstream: { host: string; port: number; caPem: string };
  /** Certificate the relay presents (the test bed's server certificate). */
  tls: { certPem: string; keyPem: string };
  /** Chooses the behaviour of connection number `index` (1-based). Default: relay all. */
  behaviour?: (index: number) => RelayBehaviour;
  /** The clock for acceptedAt and the line times (ms since epoch). Default: Date.now. */
  clock?: () => number;
}

export interface ImapRelay {
  readonly host: string;
  readonly port: number;
  readonly connections: RelayConnection[];
  /**
   * Sends `* BYE <text>` to the client of every open relayed connection and closes it (client
   * side and upstream), as Exchange does when it invalidates a session. Returns how many
   * connections it ended.
   */
  injectBye(text: string): number;
  /** IDLE commands the client issued over all connections so far. */
  idleCommands(): number;
  close(): Promise<void>;
}

const FAKE_CAPABILITIES = 'IMAP4rev1 SASL-IR AUTH=XOAUTH2 ID IDLE';

/** "A3 UID FETCH 1:* (…)" → "UID FETCH 1:* (…)"; credentials and continuation data left out. */
export function describeClientLine(line: string): string {
  const match = /^[A-Za-z0-9.]+ ([A-Za-z]+)(?: (.*))?$/.exec(line);
  if (!match) return /^DONE$/i.test(line) ? 'DONE' : '(continuation)';
  const command = match[1].toUpperCase();
  const rest = match[2] ?? '';
  if (command === 'AUTHENTICATE') return `AUTHENTICATE ${rest.split(' ')[0]} …`;
  if (command === 'LOGIN') return 'LOGIN …';
  const shown = rest.length > 80 ? `${rest.slice(0, 80)}…` : rest;
  return shown ? `${command} ${shown}` : command;
}

/** Splits the client's byte stream into lines, skipping literals ({n} / {n+} at a line's end). */
export class ClientLines {
  private pending = Buffer.alloc(0);
  private skip = 0;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      if (this.skip > 0) {
        const skipped = Math.min(this.skip, data.length);
        this.skip -= skipped;
        data = data.subarray(skipped);
        if (this.skip > 0) break;
      }
      const end = data.indexOf('\r\n');
      if (end < 0) break;
      const line = data.subarray(0, end).toString('latin1');
      data = data.subarray(end + 2);
      const literal = /\{(\d+)\+?\}$/.exec(line);
      if (literal) this.skip = Number(literal[1]);
      this.onLine(line);
    }
    this.pending = Buffer.from(data);
  }
}

/** Starts the relay on a free port of 127.0.0.1. */
export function startImapRelay(options: ImapRelayOptions): Promise<ImapRelay> {
  const connections: RelayConnection[] = [];
  const live = new Map<RelayConnection, { client: tls.TLSSocket; upstream?: tls.TLSSocket }>();
  const sockets = new Set<net.Socket>();
  const now = options.clock ?? Date.now;

  const server = tls.createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    const behaviour = options.behaviour?.(connections.length + 1) ?? { kind: 'relay' };
    const record: RelayConnection = {
      index: connections.length + 1, acceptedAt: now(), behaviour: behaviour.kind, clientLines: [], clientLineTimes: [], clientLineFlights: [], closed: false,
    };
    connections.push(record);
    const entry: { client: tls.TLSSocket; upstream?: tls.TLSSocket } = { client };
    live.set(record, entry);
    const finish = (): void => {
      record.closed = true;
      live.delete(record);
      sockets.delete(client);
      client.destroy();
      if (entry.upstream) {
        sockets.delete(entry.upstream);
        entry.upstream.destroy();
      }
    };
    client.on('close', finish);
    let flight = 0;
    let serverSpokeSinceLastLine = true;
    const lines = new ClientLines((line) => {
      if (serverSpokeSinceLastLine) flight++;
      serverSpokeSinceLastLine = false;
      record.clientLines.push(line);
      record.clientLineTimes.push(now());
      record.clientLineFlights.push(flight);
      if (behaviour.kind === 'refuse-login' && answerFake(client, line, behaviour.loginReply, finish)) serverSpokeSinceLastLine = true;
    });
    client.on('data', (chunk: Buffer) => lines.push(chunk));

    if (behaviour.kind === 'refuse-login') {
      client.write(`* OK [CAPABILITY ${FAKE_CAPABILITIES}] The Microsoft Exchange IMAP4 service is ready.\r\n`);
      return;
    }
    const upstream = tls.connect({ host: options.upstream.host, port: options.upstream.port, ca: options.upstream.caPem });
    entry.upstream = upstream;
    sockets.add(upstream);
    upstream.on('error', () => undefined);
    upstream.on('close', finish);
    upstream.on('data', () => { serverSpokeSinceLastLine = true; });
    client.pipe(upstream);
    upstream.pipe(client);
  });

  return new Promise((resolve, reject) => {
    // A client that gives up during the handshake is no failure of the relay.
    server.on('tlsClientError', () => undefined);
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        host: '127.0.0.1',
        port: address.port,
        connections,
        injectBye(text) {
          let ended = 0;
          for (const [record, { client, upstream }] of [...live]) {
            if (record.behaviour !== 'relay') continue;
            // Stop relaying first, so nothing of the real server follows the BYE.
            upstream?.unpipe(client);
            client.end(`* BYE ${text}\r\n`);
            upstream?.destroy();
            ended++;
          }
          return ended;
        },
        idleCommands() {
          return connections.reduce((n, c) => n + c.clientLines.filter((line) => /^\S+ IDLE$/i.test(line)).length, 0);
        },
        close() {
          for (const socket of sockets) socket.destroy();
          return new Promise<void>((done) => server.close(() => done()));
        },
      });
    });
  });
}

/** The fake server's answers: just enough of IMAP for a client to reach the login. Returns whether it answered. */
function answerFake(client: tls.TLSSocket, line: string, loginReply: string, finish: () => void): boolean {
  const [tag, command = ''] = line.split(' ');
  if (!tag || client.destroyed) return false;
  switch (command.toUpperCase()) {
    case 'CAPABILITY':
      client.write(`* CAPABILITY ${FAKE_CAPABILITIES}\r\n${tag} OK CAPABILITY completed.\r\n`);
      break;
    case 'ID':
      client.write(`* ID NIL\r\n${tag} OK ID completed.\r\n`);
      break;
    case 'AUTHENTICATE':
    case 'LOGIN':
      client.write(`${tag} ${loginReply}\r\n`);
      break;
    case 'LOGOUT':
      client.end(`* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n${tag} OK LOGOUT completed.\r\n`);
      client.once('finish', finish);
      break;
    default:
      client.write(`${tag} BAD Command Error. 10\r\n`);
  }
  return true;
}
