/**
 * What the POP3 integration tests need from the test bed: POP3 clients signed in with the daemon
 * app's real MSAL token, a plaintext view of every line a client writes, and mailbox helpers.
 */
import type { Readable } from 'node:stream';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import { Pop3Client, type Pop3ClientOptions } from '../../../src/pop3/client';
import type { Pop3SocketFactory } from '../../../src/pop3/transport';
import type { TestBed } from '../../env/testbed';

export { daemonTokenSource } from '../imap/bed';

/** Options for a Pop3Client against the bed's Dovecot (implicit TLS, trusting the test CA). */
export function pop3Options(bed: TestBed, extra: Partial<Pop3ClientOptions> = {}): Pop3ClientOptions {
  return { host: bed.dovecot.host, port: bed.dovecot.pop3Port, ca: bed.ca.caCertPem, timeoutMs: 5000, ...extra };
}

/** A client connected and signed in as `mailbox`. */
export async function signedInClient(bed: TestBed, tokens: AccessTokenSource, mailbox: string, extra: Partial<Pop3ClientOptions> = {}): Promise<Pop3Client> {
  const client = new Pop3Client(pop3Options(bed, extra));
  client.on('error', () => undefined);
  await client.connect();
  await client.authXOAuth2(mailbox, await tokens.getAccessToken('pop3'));
  return client;
}

/** UIDLs the server lists now, in message-number order, seen from a separate session. */
export async function serverUidls(bed: TestBed, tokens: AccessTokenSource, mailbox: string): Promise<string[]> {
  const client = await signedInClient(bed, tokens, mailbox);
  try {
    const listing = await client.uidl();
    return [...listing.entries()].sort(([a], [b]) => a - b).map(([, uidl]) => uidl);
  } finally {
    await client.quit();
  }
}

/** Deletes every mail of the mailbox's INBOX (DELE all + QUIT). */
export async function emptyMailbox(bed: TestBed, tokens: AccessTokenSource, mailbox: string): Promise<void> {
  const client = await signedInClient(bed, tokens, mailbox);
  const { count } = await client.stat();
  for (let msgno = 1; msgno <= count; msgno++) await client.dele(msgno);
  await client.quit();
}

/**
 * A socket factory that does the TLS itself and hands the client the decrypted stream (so the
 * client runs with `tls: 'none'`), recording every byte the client writes in plaintext.
 */
export function recordingTlsFactory(bed: TestBed): { factory: Pop3SocketFactory; written: () => string } {
  const chunks: Buffer[] = [];
  const factory: Pop3SocketFactory = ({ host, port }) => {
    const secure = tls.connect({ host, port, ca: bed.ca.caCertPem, minVersion: 'TLSv1.2' });
    return recordWrites(secure, chunks);
  };
  return { factory, written: () => Buffer.concat(chunks).toString('utf8') };
}

/** A Duplex over `inner` that copies every written chunk into `chunks`. */
function recordWrites(inner: tls.TLSSocket, chunks: Buffer[]): Duplex {
  const outer = new Duplex({
    read() {
      inner.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      inner.write(chunk, callback);
    },
    final(callback) {
      inner.end(callback);
    },
    destroy(error, callback) {
      inner.destroy();
      callback(error);
    },
  });
  inner.on('data', (data: Buffer) => {
    if (!outer.push(data)) inner.pause();
  });
  inner.on('end', () => outer.push(null));
  inner.on('error', (error) => outer.destroy(error));
  inner.on('close', () => outer.destroy());
  return outer;
}

export function rawMail(subject: string, body = 'hello'): string {
  return `From: sender@example.com\r\nTo: alice@contoso.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@test>\r\n\r\n${body}\r\n`;
}

export async function readSource(source: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(source)) return source;
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function subjectOf(raw: Buffer): string {
  return /^Subject: (.*)$/m.exec(raw.toString('utf8'))?.[1]?.trim() ?? '';
}
