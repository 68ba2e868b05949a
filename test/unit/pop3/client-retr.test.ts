import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { M365MailError } from '../../../src/core/errors';
import { Pop3Client } from '../../../src/pop3/client';
import { ScriptedServer, watchUnhandledRejections } from './scripted-server';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function isKind(kind: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof M365MailError, String(error));
    assert.equal(error.kind, kind, error.message);
    return true;
  };
}

describe('pop3 Pop3Client RETR (scripted server)', () => {
  let server: ScriptedServer;
  let client: Pop3Client;

  beforeEach(async () => {
    server = new ScriptedServer();
    client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory, timeoutMs: 2000 });
    const connecting = client.connect();
    server.send('+OK ready\r\n');
    await connecting;
  });

  afterEach(() => {
    client.close();
  });

  it('reads the message wherever the answer is split, and stays in step for the next command', async () => {
    const message = 'Subject: a\r\n\r\n..dot\r\nbody\r\n';
    const wire = `+OK 27 octets\r\n${message}.\r\n`;
    const expected = 'Subject: a\r\n\r\n.dot\r\nbody\r\n';
    for (let split = 0; split <= wire.length; split += 1) {
      const viaStream = split % 2 === 0;
      const retr = viaStream ? client.retr(1).then(readAll) : client.retrBuffer(1);
      await server.expect('RETR 1');
      server.send(wire.slice(0, split), wire.slice(split));
      assert.equal((await retr).toString(), expected, `split at ${split}`);
      const noop = client.noop();
      await server.answer('NOOP', `+OK ${split}`);
      await noop;
    }
  });

  it('finds the terminator split at every position of CRLF.CRLF, also with the next answer in the same chunks', async () => {
    const tail = '\r\n.\r\n+OK after\r\n';
    for (let first = 0; first <= 5; first += 1) {
      for (let second = first; second <= 5; second += 1) {
        const retr = client.retrBuffer(1);
        const noop = client.noop();
        await server.expect('RETR 1');
        server.send(`+OK\r\nline`, tail.slice(0, first), tail.slice(first, second), tail.slice(second));
        assert.equal((await retr).toString(), 'line\r\n', `split ${first}/${second}`);
        await server.expect('NOOP');
        await noop;
      }
    }
  });

  it('keeps bare LF line endings and unstuffs dots after them', async () => {
    const retr = client.retrBuffer(2);
    await server.expect('RETR 2');
    server.send('+OK\nA: b\n\n..x\n.\n');
    assert.equal((await retr).toString(), 'A: b\n\n.x\n');
  });

  it('reads a body with a single 1 MB line', async () => {
    const line = Buffer.alloc(1024 * 1024, 0x42);
    const retr = client.retr(3).then(readAll);
    await server.expect('RETR 3');
    server.send('+OK\r\n');
    for (let offset = 0; offset < line.length; offset += 60_000) server.send(line.subarray(offset, offset + 60_000));
    server.send('\r\n.\r\n');
    const body = await retr;
    assert.equal(body.length, line.length + 2);
    assert.ok(body.subarray(0, line.length).equals(line));
  });

  it('streams a 5 MB message with back-pressure instead of holding it', async () => {
    const lineText = `${'x'.repeat(998)}\r\n`;
    const body = Buffer.from(lineText.repeat(5 * 1024));
    const wire = Buffer.concat([Buffer.from('+OK 5242880 octets\r\n'), body, Buffer.from('.\r\n')]);
    const stream = await (async () => {
      const retr = client.retr(4);
      await server.expect('RETR 4');
      server.send(wire.subarray(0, 20));
      return retr;
    })();
    let delivered = 0;
    let sentAtFirstChunk = -1;
    const consumed = (async () => {
      for await (const chunk of stream) {
        if (sentAtFirstChunk < 0) sentAtFirstChunk = server.sentBytes;
        delivered += (chunk as Buffer).length;
      }
    })();
    const maxInFlight = await server.sendWithBackpressure(wire.subarray(20), 32 * 1024, () => delivered);
    await consumed;
    assert.equal(delivered, body.length);
    assert.ok(sentAtFirstChunk < wire.length / 2, `first chunk arrived after ${sentAtFirstChunk} of ${wire.length} bytes`);
    assert.ok(maxInFlight < 512 * 1024, `at most ${maxInFlight} bytes were held between server and consumer`);
    const noop = client.noop();
    await server.answer('NOOP', '+OK');
    await noop;
  });

  it('reports -ERR for a missing message and keeps the session', async () => {
    const retr = client.retr(9);
    await server.answer('RETR 9', '-ERR no such message');
    await assert.rejects(retr, isKind('server-error'));
    const noop = client.noop();
    await server.answer('NOOP', '+OK');
    await noop;
  });

  it('closes the client when the stream is abandoned before its end', async () => {
    const retr = client.retr(1);
    await server.expect('RETR 1');
    server.send('+OK\r\nfirst part\r\n');
    const stream = await retr;
    for await (const chunk of stream) {
      assert.ok((chunk as Buffer).length > 0);
      break;
    }
    assert.equal(await server.clientClosed, 'destroyed');
    assert.equal(client.closed, true);
    await assert.rejects(client.noop(), isKind('network'));
  });

  it('errors the stream and rejects queued commands when the connection is cut mid-RETR', async () => {
    const watcher = watchUnhandledRejections();
    const retr = client.retr(1);
    const queued = client.noop();
    await server.expect('RETR 1');
    server.send('+OK\r\npart of the mess');
    const stream = await retr;
    const reading = readAll(stream);
    server.cut();
    await assert.rejects(reading, isKind('network'));
    await assert.rejects(queued, isKind('network'));
    assert.equal(client.closed, true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(watcher.stop(), []);
  });

  it('does not crash when the connection drops before the stream has a consumer', async () => {
    const retr = client.retr(1);
    await server.expect('RETR 1');
    server.send('+OK\r\npartial');
    const stream = await retr;
    const closed = new Promise((resolve) => client.once('close', resolve));
    server.cut();
    await closed;
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(isKind('network')(stream.errored));
  });

  it('fails a RETR whose body stalls with a timeout on the stream', async () => {
    client.close();
    server = new ScriptedServer();
    client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory, timeoutMs: 100 });
    const connecting = client.connect();
    server.send('+OK ready\r\n');
    await connecting;
    const retr = client.retr(1);
    await server.expect('RETR 1');
    server.send('+OK\r\nhalf');
    await assert.rejects(readAll(await retr), isKind('timeout'));
  });
});
