import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { M365MailError } from '../../../src/core/errors';
import { Pop3Client } from '../../../src/pop3/client';
import { ScriptedServer, watchUnhandledRejections } from './scripted-server';

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Lets the client write whatever it is going to write now. */
async function turns(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await nextTurn();
}

function retrAnswer(body: string): string {
  return `+OK ${body.length} octets\r\n${body}.\r\n`;
}

/** A client signed in to a scripted server whose CAPA lists `capabilities`. */
async function signedIn(server: ScriptedServer, capabilities: string[]): Promise<Pop3Client> {
  const client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory, timeoutMs: 2000 });
  const connecting = client.connect();
  server.send('+OK ready\r\n');
  await connecting;
  const capa = client.capa();
  await server.answer('CAPA', '+OK', ...capabilities, '.');
  await capa;
  const auth = client.authXOAuth2('alice@contoso.test', 'token');
  await server.answer('AUTH XOAUTH2', '+ ');
  await server.answer(/^[A-Za-z0-9+/=]+$/, '+OK Logged in.');
  await auth;
  return client;
}

describe('pop3 Pop3Client pipelining (RFC 2449, scripted server)', () => {
  let server: ScriptedServer;
  let client: Pop3Client | undefined;

  beforeEach(() => {
    server = new ScriptedServer();
  });

  afterEach(() => {
    client?.close();
    client = undefined;
  });

  it('writes RETR n+1 and DELE n while mail n is still being read, and gives every answer to its own command', async () => {
    client = await signedIn(server, ['UIDL', 'PIPELINING', 'SASL XOAUTH2']);
    const first = client.retr(1);
    const second = client.retr(2);
    const deletion = client.dele(1);
    const noop = client.noop();
    await turns();
    assert.deepEqual(server.received.slice(-4), ['RETR 1', 'RETR 2', 'DELE 1', 'NOOP'], 'all four written before any answer');

    // The answers arrive in order, in one chunk, with a stuffed dot and a split in the middle of the second mail.
    const wire = `${retrAnswer('Subject: one\r\n\r\n..first\r\n')}${retrAnswer('Subject: two\r\n\r\nsecond\r\n')}+OK marked\r\n+OK 7\r\n`;
    const split = wire.indexOf('second');
    server.send(wire.slice(0, split), wire.slice(split));
    assert.equal(await readAll(await first), 'Subject: one\r\n\r\n.first\r\n');
    assert.equal(await readAll(await second), 'Subject: two\r\n\r\nsecond\r\n');
    await deletion;
    await noop;
  });

  it('reads the next mail only as far as its stream buffers while the consumer still holds mail n', async () => {
    client = await signedIn(server, ['PIPELINING']);
    const first = client.retr(1);
    const second = client.retr(2);
    await turns();
    const big = `${'y'.repeat(998)}\r\n`.repeat(2048); // 2 MB
    server.send(retrAnswer('Subject: one\r\n\r\nsmall\r\n'));
    const stream1 = await first;
    let delivered = 0;
    const maxInFlight = server.sendWithBackpressure(Buffer.from(retrAnswer(big)), 32 * 1024, () => delivered);
    // Mail 1 is read only now; mail 2's bytes must not pile up in the client meanwhile.
    await turns(20);
    assert.equal(await readAll(stream1), 'Subject: one\r\n\r\nsmall\r\n');
    for await (const chunk of await second) delivered += (chunk as Buffer).length;
    assert.equal(delivered, big.length);
    assert.ok((await maxInFlight) < 512 * 1024, `at most ${await maxInFlight} bytes held between server and consumer`);
  });

  it('does not pipeline when the server does not announce PIPELINING', async () => {
    client = await signedIn(server, ['UIDL', 'SASL XOAUTH2']);
    const first = client.retr(1);
    const second = client.retr(2);
    await turns();
    assert.deepEqual(server.received.slice(-1), ['RETR 1'], 'RETR 2 waits for the answer to RETR 1');
    await server.expect('RETR 1');
    server.send(retrAnswer('a\r\n'));
    assert.equal(await readAll(await first), 'a\r\n');
    await server.expect('RETR 2');
    server.send(retrAnswer('b\r\n'));
    assert.equal(await readAll(await second), 'b\r\n');
  });

  it('never writes a command ahead of one queued before it, nor anything after QUIT', async () => {
    client = await signedIn(server, ['PIPELINING']);
    const first = client.retr(1);
    const capa = client.capa(); // not pipelined: queued, written when its turn comes
    const second = client.retr(2);
    const quit = client.quit();
    await turns();
    assert.deepEqual(server.received.slice(-1), ['RETR 1'], 'RETR 2 does not overtake the queued CAPA');
    await server.expect('RETR 1');
    server.send(retrAnswer('a\r\n'));
    assert.equal(await readAll(await first), 'a\r\n');
    await server.answer('CAPA', '+OK', 'PIPELINING', '.');
    await capa;
    await server.answer('RETR 2', retrAnswer('b\r\n'));
    assert.equal(await readAll(await second), 'b\r\n');
    await server.answer('QUIT', '+OK bye');
    await quit;
    assert.deepEqual(server.received.slice(-4), ['RETR 1', 'CAPA', 'RETR 2', 'QUIT']);
  });

  it('a cut in the middle of a pipelined run fails the stream and every answer still due, with nothing unhandled', async () => {
    const unhandled = watchUnhandledRejections();
    client = await signedIn(server, ['PIPELINING']);
    const first = client.retr(1);
    const second = client.retr(2);
    const deletion = client.dele(1);
    await turns();
    assert.deepEqual(server.received.slice(-3), ['RETR 1', 'RETR 2', 'DELE 1']);
    server.send('+OK\r\nSubject: one\r\n\r\nhalf of it');
    const reading = readAll(await first);
    server.cut();
    const isNetwork = (error: unknown): boolean => error instanceof M365MailError && error.kind === 'network';
    await assert.rejects(reading, isNetwork);
    await assert.rejects(second, isNetwork);
    await assert.rejects(deletion, isNetwork);
    assert.equal(client.closed, true);
    await turns();
    assert.deepEqual(unhandled.stop(), []);
  });
});
