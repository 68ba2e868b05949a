/**
 * Baseline for the POP3 drain: a raw RETR loop over one TLS socket (AUTH XOAUTH2, STAT, then
 * RETR 1..n one after the other), each mail dot-unstuffed and parsed by simpleParser.
 * Env: BENCH_HOST, BENCH_PORT, BENCH_USER, BENCH_TOKEN.
 */
import tls from 'node:tls';
import { simpleParser } from 'mailparser';
import { mark, peakRssMb } from './markers';

/** Reads CRLF lines and dot-terminated multi-line responses from a socket. */
class Reader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting?: () => void;

  constructor(socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.waiting?.();
    });
  }

  private async more(): Promise<void> {
    await new Promise<void>((resolve) => { this.waiting = resolve; });
    this.waiting = undefined;
  }

  async line(): Promise<string> {
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffer.subarray(0, end).toString('latin1');
        this.buffer = this.buffer.subarray(end + 2);
        return line;
      }
      await this.more();
    }
  }

  /** The body of a multi-line response, up to "\r\n.\r\n", dot-unstuffed. */
  async multiline(): Promise<Buffer> {
    let from = 0;
    for (;;) {
      if (this.buffer.subarray(0, 3).toString('latin1') === '.\r\n') {
        this.buffer = this.buffer.subarray(3);
        return Buffer.alloc(0);
      }
      const end = this.buffer.indexOf('\r\n.\r\n', from);
      if (end >= 0) {
        const body = this.buffer.subarray(0, end + 2);
        this.buffer = this.buffer.subarray(end + 5);
        return Buffer.from(body.toString('latin1').replace(/^\.\./gm, '.'), 'latin1');
      }
      from = Math.max(0, this.buffer.length - 4);
      await this.more();
    }
  }
}

async function main(): Promise<void> {
  mark('start');
  const socket = tls.connect({ host: String(process.env.BENCH_HOST), port: Number(process.env.BENCH_PORT) });
  socket.on('error', (error) => {
    mark('error', error.message.replace(/\s+/g, '_'));
    process.exit(1);
  });
  const reader = new Reader(socket);
  const expectOk = async (): Promise<string> => {
    const line = await reader.line();
    if (!line.startsWith('+OK') && !line.startsWith('+ ')) throw new Error(`unexpected: ${line}`);
    return line;
  };
  await expectOk();
  const sasl = Buffer.from(`user=${process.env.BENCH_USER}\x01auth=Bearer ${process.env.BENCH_TOKEN}\x01\x01`).toString('base64');
  socket.write(`AUTH XOAUTH2 ${sasl}\r\n`);
  await expectOk();
  socket.write('STAT\r\n');
  const count = Number((await expectOk()).split(' ')[1]);
  for (let i = 1; i <= count; i++) {
    socket.write(`RETR ${i}\r\n`);
    await expectOk();
    await simpleParser(await reader.multiline());
    if (i === 1) mark('first');
  }
  mark('done', count);
  mark('rss', peakRssMb().toFixed(1));
  socket.write('QUIT\r\n');
  socket.end();
}

main().catch((error: unknown) => {
  mark('error', String(error instanceof Error ? error.message : error).replace(/\s+/g, '_'));
  process.exit(1);
});
