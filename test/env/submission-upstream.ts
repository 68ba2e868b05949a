/**
 * The front end's connection to Dovecot's submission service. It connects from the listener's own
 * address (127.0.0.2 → 127.0.0.2), which Dovecot counts as a secured connection, so AUTH works
 * without a second TLS layer; the front end itself demands STARTTLS from its clients.
 *
 * XOAUTH2 goes in Dovecot's two-step form (`AUTH XOAUTH2`, `334`, response on a line of its own):
 * before login Dovecot reads at most about 1.7 KB of a command line, and a realistic token on the
 * AUTH line itself gets `500 5.5.2 Line too long`. The continuation line has no such limit.
 */
import net from 'node:net';
import { LineReader, readReply, type SmtpReply } from './smtp-lines';

export class SubmissionUpstream {
  private closed = false;

  private constructor(private readonly socket: net.Socket, private readonly reader: LineReader) {
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects, reads the greeting and says EHLO; throws when Dovecot is not there. */
  static async open(host: string, port: number): Promise<SubmissionUpstream> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port, localAddress: host }, () => {
        s.removeListener('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    socket.on('error', () => undefined);
    // Small command lines back to back: without this, Nagle + delayed ACK add 40 ms per mail.
    socket.setNoDelay(true);
    const upstream = new SubmissionUpstream(socket, new LineReader(socket));
    const greeting = await readReply(upstream.reader);
    if (greeting?.code !== 220) throw new Error(`submission greeted ${greeting?.raw ?? '(nothing)'}`);
    const ehlo = await upstream.command('EHLO exchange-frontend.testbed');
    if (ehlo.code !== 250) throw new Error(`submission EHLO: ${ehlo.raw}`);
    return upstream;
  }

  /** Sends one command line; the reply, or a 421 stand-in when Dovecot went away. */
  async command(line: string): Promise<SmtpReply> {
    if (this.closed) return gone();
    this.socket.write(`${line}\r\n`);
    return asLost(await readReply(this.reader));
  }

  /** XOAUTH2 with `initialResponse` (base64): logged in, token refused, or Dovecot unavailable. */
  async authXoauth2(initialResponse: string): Promise<'ok' | 'refused' | 'unavailable'> {
    const start = await this.command('AUTH XOAUTH2');
    if (start.code !== 334) return start.code === 421 ? 'unavailable' : 'refused';
    let answer = await this.command(initialResponse);
    // A refused token gets a 334 with the JSON error first; an empty line ends the exchange.
    if (answer.code === 334) answer = await this.command('');
    if (answer.code === 235) return 'ok';
    return answer.code >= 500 ? 'refused' : 'unavailable';
  }

  /** DATA with an already dot-stuffed message; the final reply. */
  async data(stuffed: Buffer): Promise<SmtpReply> {
    const start = await this.command('DATA');
    if (start.code !== 354) return start;
    this.socket.write(Buffer.concat([stuffed, Buffer.from('.\r\n')]));
    return asLost(await readReply(this.reader));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end('QUIT\r\n');
    this.socket.destroySoon();
  }
}

/**
 * Dovecot's own 421 (a kicked session may say "4.3.2 Shutting down" before it closes, or just
 * close) is, to the client, the same loss of the mailbox server: one reply for both.
 */
function asLost(reply: SmtpReply | null | undefined): SmtpReply {
  return !reply || reply.code === 421 ? gone() : reply;
}

function gone(): SmtpReply {
  const line = '421 4.4.2 Connection to the mailbox server was lost';
  return { code: 421, lines: [line.slice(4)], raw: line };
}
