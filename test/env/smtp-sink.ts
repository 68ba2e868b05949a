/**
 * The relay host of the bed's Dovecot submission service: a plain SMTP server on 127.0.0.1 that
 * takes what Dovecot accepted and hands each message to `deliver` (the bed drops it into the
 * recipients' Maildirs). Exchange routes mail to other organisations onwards; the sink accepts
 * every recipient and `deliver` decides what to keep.
 */
import net from 'node:net';
import { findFreePort } from './ports';
import { formatReply, LineReader, parsePath, readData } from './smtp-lines';

export interface SmtpSinkOptions {
  /** Called once per message with the envelope and the message (dots removed). A throw answers 451. */
  deliver(envelope: { from: string; to: string[] }, message: Buffer): Promise<void> | void;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

async function serve(socket: net.Socket, options: SmtpSinkOptions): Promise<void> {
  const reader = new LineReader(socket);
  const reply = (code: number, ...lines: string[]): void => {
    socket.write(formatReply(code, lines));
  };
  let from: string | undefined;
  let to: string[] = [];
  reply(220, 'relay.testbed ESMTP ready');
  for (;;) {
    const buffer = await reader.line();
    if (buffer === null) return;
    const line = buffer.toString('utf8');
    const verb = line.split(' ', 1)[0].toUpperCase();
    const argument = line.slice(verb.length);
    switch (verb) {
      case 'EHLO': reply(250, 'relay.testbed', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SIZE 157286400'); break;
      case 'HELO': reply(250, 'relay.testbed'); break;
      case 'MAIL': {
        const path = parsePath(argument.replace(/^\s*FROM:/i, ''));
        if (!path) { reply(501, '5.5.4 Syntax: MAIL FROM:<address>'); break; }
        from = path.address;
        to = [];
        reply(250, '2.1.0 Sender OK');
        break;
      }
      case 'RCPT': {
        const path = parsePath(argument.replace(/^\s*TO:/i, ''));
        if (!path || from === undefined) { reply(503, '5.5.1 Need MAIL first'); break; }
        to.push(path.address);
        reply(250, '2.1.5 Recipient OK');
        break;
      }
      case 'DATA': {
        if (from === undefined || to.length === 0) { reply(503, '5.5.1 Need RCPT first'); break; }
        reply(354, 'Start mail input; end with <CRLF>.<CRLF>');
        const data = await readData(reader);
        if (!data) return;
        try {
          await options.deliver({ from, to }, data.message);
          reply(250, '2.6.0 Queued mail for delivery');
        } catch (error) {
          reply(451, `4.3.0 Delivery failed: ${(error as Error).message.replace(/[\r\n]+/g, ' ')}`);
        }
        from = undefined;
        to = [];
        break;
      }
      case 'RSET': from = undefined; to = []; reply(250, '2.0.0 OK'); break;
      case 'NOOP': reply(250, '2.0.0 OK'); break;
      case 'QUIT': reply(221, '2.0.0 Bye'); socket.end(); return;
      default: reply(502, '5.5.2 Command not implemented');
    }
  }
}

/** Starts the sink on a free port of 127.0.0.1. */
export async function startSmtpSink(options: SmtpSinkOptions): Promise<SmtpSink> {
  const host = '127.0.0.1';
  const port = await findFreePort(host);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    serve(socket, options).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    host,
    port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
