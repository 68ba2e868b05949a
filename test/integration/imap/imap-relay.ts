/**
 * A scriptable IMAP endpoint for the tests of what Dovecot cannot be made to do: a TLS server on
 * 127.0.0.1 (the test bed's certificate) that per accepted connection either relays to the real
 * Dovecot behind it — watching what the client sends and able to inject a line such as Exchange's
 * `* BYE Session invalidated - AccessTokenExpired` — or plays a fake server that refuses the login
 * with a scripted answer (e.g. Exchange's throttling text).
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
  /** Lines the client sent (literal data included as it came), without CRLF. */
  clientLines: string[];
  /** When the client sent each line (ms since epoch), same order as clientLines. */
  clientLineTimes: number[];
  closed: boolean;
}

export interface ImapRelayOptions {
  /** The real server behind the relay. */
  upstream: { host: string; port: number; caPem: string };
  /** Certificate the relay presents (the test bed's server certificate). */
  tls: { certPem: string; keyPem: string };
  /** Chooses the behaviour of connection number `index` (1-based). Default: relay all. */
  behaviour?: (index: number) => RelayBehaviour;
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

/** Calls `onLine` for every CRLF-terminated line arriving on `socket`. */
function readLines(socket: net.Socket, onLine: (line: string) => void): void {
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    let end: number;
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      onLine(buffered.slice(0, end));
      buffered = buffered.slice(end + 2);
    }
  });
}

/** Starts the relay on a free port of 127.0.0.1. */
export function startImapRelay(options: ImapRelayOptions): Promise<ImapRelay> {
  const connections: RelayConnection[] = [];
  const live = new Map<RelayConnection, { client: tls.TLSSocket; upstream?: tls.TLSSocket }>();
  const sockets = new Set<net.Socket>();

  const server = tls.createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    const behaviour = options.behaviour?.(connections.length + 1) ?? { kind: 'relay' };
    const record: RelayConnection = {
      index: connections.length + 1, acceptedAt: Date.now(), behaviour: behaviour.kind, clientLines: [], clientLineTimes: [], closed: false,
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
    readLines(client, (line) => {
      record.clientLines.push(line);
      record.clientLineTimes.push(Date.now());
      if (behaviour.kind === 'refuse-login') answerFake(client, line, behaviour.loginReply, finish);
    });

    if (behaviour.kind === 'refuse-login') {
      client.write(`* OK [CAPABILITY ${FAKE_CAPABILITIES}] The Microsoft Exchange IMAP4 service is ready.\r\n`);
      return;
    }
    const upstream = tls.connect({ host: options.upstream.host, port: options.upstream.port, ca: options.upstream.caPem });
    entry.upstream = upstream;
    sockets.add(upstream);
    upstream.on('error', () => undefined);
    upstream.on('close', finish);
    client.pipe(upstream);
    upstream.pipe(client);
  });

  return new Promise((resolve, reject) => {
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

/** The fake server's answers: just enough of IMAP for a client to reach the login. */
function answerFake(client: tls.TLSSocket, line: string, loginReply: string, finish: () => void): void {
  const [tag, command = ''] = line.split(' ');
  if (!tag || client.destroyed) return;
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
}
