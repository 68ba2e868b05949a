import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { M365MailError } from '../../../src/core/errors';
import { buildXOAuth2 } from '../../../src/auth/xoauth2';
import { MAX_COMMAND_LINE_BYTES, Pop3Client, type Pop3ClientOptions } from '../../../src/pop3/client';
import { recordingLogger, ScriptedServer, watchUnhandledRejections } from './scripted-server';

const USER = 'alice@contoso.example';
/** A 4 KB token, as large as Entra ID tokens with many groups get. */
const TOKEN = `eyJ0eXAiOiJKV1QiLCJhbGciOi.${'A'.repeat(4096)}.sig`;

/** Lets the event loop run a few turns, so anything the client would send has been sent. */
async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i += 1) await nextTurn();
}

function isKind(kind: string, retryable?: boolean): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof M365MailError, `expected M365MailError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    if (retryable !== undefined) assert.equal(error.retryable, retryable);
    return true;
  };
}

describe('pop3 Pop3Client session (scripted server)', () => {
  let server: ScriptedServer;
  let client: Pop3Client;

  async function connect(options: Partial<Pop3ClientOptions> = {}): Promise<void> {
    client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory, timeoutMs: 2000, ...options });
    const connecting = client.connect();
    server.send('+OK The Microsoft Exchange POP3 service is ready. [abc]\r\n');
    await connecting;
  }

  beforeEach(() => {
    server = new ScriptedServer();
  });

  afterEach(() => {
    client?.close();
  });

  describe('greeting', () => {
    it('reads a greeting split across chunks, between CR and LF', async () => {
      client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory });
      const connecting = client.connect();
      await nextTurn();
      server.send('+OK Dove', 'cot ready.\r', '\n');
      assert.equal(await connecting, 'Dovecot ready.');
      assert.equal(client.greeting, 'Dovecot ready.');
      assert.equal(client.secure, false);
    });

    it('rejects a -ERR greeting with a classified, retryable error and closes', async () => {
      client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory });
      const connecting = client.connect();
      server.send('-ERR [SYS/TEMP] Server Unavailable. 21\r\n');
      await assert.rejects(connecting, isKind('server-error', true));
      assert.equal(client.closed, true);
      assert.equal(await server.clientClosed, 'destroyed');
    });

    it('lets commands issued before the greeting wait for it', async () => {
      client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory });
      const connecting = client.connect();
      const noop = client.noop();
      await settle();
      assert.deepEqual(server.received, [], 'nothing is sent before the greeting');
      server.send('+OK hi\r\n');
      await connecting;
      await server.answer('NOOP', '+OK');
      await noop;
    });

    it('refuses an over-long status line as a protocol error', async () => {
      client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory, maxLineBytes: 1024 });
      const connecting = client.connect();
      server.send(`+OK ${'x'.repeat(2000)}`);
      await assert.rejects(connecting, isKind('protocol-error'));
      assert.equal(client.closed, true);
    });
  });

  describe('CAPA', () => {
    it('parses capabilities and keeps them on the client', async () => {
      await connect();
      const capa = client.capa();
      await server.expect('CAPA');
      server.send('+OK\r\nTOP\r\nUIDL\r\nSASL XOAUTH2 PLAIN\r\n', 'USER\r\n..\r\n', '.\r\n');
      const caps = await capa;
      assert.deepEqual(caps.saslMechanisms, ['XOAUTH2', 'PLAIN']);
      assert.equal(caps.uidl, true);
      assert.equal(caps.top, true);
      assert.equal(caps.stls, false);
      assert.equal(client.capabilities, caps);
    });

    it('returns empty capabilities when the server does not know CAPA', async () => {
      await connect();
      const capa = client.capa();
      await server.answer('CAPA', '-ERR unknown command');
      assert.deepEqual((await capa).saslMechanisms, []);
    });
  });

  describe('AUTH XOAUTH2', () => {
    it('sends AUTH XOAUTH2 alone, waits for "+", then the base64 response on its own line', async () => {
      const logger = recordingLogger();
      await connect({ logger });
      const auth = client.authXOAuth2(USER, TOKEN);
      await server.expect('AUTH XOAUTH2');
      await settle();
      assert.equal(server.received.length, 1, 'nothing more is sent before the server says "+"');
      server.send('+ \r\n');
      await server.expect(buildXOAuth2(USER, TOKEN));
      server.send('+OK User successfully authenticated.\r\n');
      await auth;

      const commands = server.received.filter((_, index) => index !== 1);
      for (const index of server.received.keys()) {
        if (index === 1) continue; // the SASL continuation, not a command
        assert.ok(server.receivedBytes[index] <= MAX_COMMAND_LINE_BYTES, `command ${index} is short`);
      }
      assert.ok(server.receivedBytes[1] > MAX_COMMAND_LINE_BYTES, 'a 4 KB token makes a long continuation line');
      assert.ok(!commands.some((line) => /^AUTH XOAUTH2 \S/.test(line)), 'never the one-line form');
      assert.ok(!server.received.some((line) => /^(USER|PASS|APOP)\b/.test(line)), 'never a password');
      assert.ok(!logger.lines.some((line) => line.includes(TOKEN) || line.includes(buildXOAuth2(USER, TOKEN))),
        'the token never reaches the log');
    });

    it('accepts a bare "+" continuation', async () => {
      await connect();
      const auth = client.authXOAuth2(USER, 'tok');
      await server.answer('AUTH XOAUTH2', '+');
      await server.answer(buildXOAuth2(USER, 'tok'), '+OK');
      await auth;
    });

    it('reports the Exchange direct refusal as auth-failed with the fix text, without the token', async () => {
      await connect();
      const auth = client.authXOAuth2(USER, TOKEN);
      await server.answer('AUTH XOAUTH2', '+ ');
      await server.answer(buildXOAuth2(USER, TOKEN), '-ERR Authentication failure: unknown user name or bad password.');
      await assert.rejects(auth, (error: unknown) => {
        isKind('auth-failed', false)(error);
        const failure = error as M365MailError;
        assert.match(failure.message, /Authentication failure/);
        assert.match(failure.fix, /POP\.AccessAsApp/);
        assert.ok(!failure.message.includes(TOKEN) && !failure.fix.includes(TOKEN));
        return true;
      });
      assert.deepEqual(server.received.length, 2, 'no empty line is sent after a direct -ERR');
    });

    it('answers a Dovecot error challenge with an empty line, then reports the final -ERR', async () => {
      await connect();
      const auth = client.authXOAuth2(USER, TOKEN);
      await server.answer('AUTH XOAUTH2', '+');
      const challenge = Buffer.from('{"status":"401","schemes":"bearer","scope":"https://outlook.office.com/POP.AccessAsUser.All"}').toString('base64');
      await server.answer(buildXOAuth2(USER, TOKEN), `+ ${challenge}`);
      await server.answer('', '-ERR [AUTH] Authentication failed.');
      await assert.rejects(auth, (error: unknown) => {
        isKind('auth-failed')(error);
        assert.match((error as M365MailError).message, /"status":"401"/);
        return true;
      });
    });

    it('reports the Exchange one-line protocol error as protocol-error', async () => {
      await connect();
      const auth = client.authXOAuth2(USER, TOKEN);
      await server.answer('AUTH XOAUTH2', '-ERR Protocol error. Connection is closed. 10');
      await assert.rejects(auth, isKind('protocol-error'));
    });

    it('reports "authenticated but not connected" as not-connected', async () => {
      await connect();
      const auth = client.authXOAuth2(USER, TOKEN);
      await server.answer('AUTH XOAUTH2', '+ ');
      await server.answer(buildXOAuth2(USER, TOKEN), '-ERR User is authenticated but not connected.');
      await assert.rejects(auth, isKind('not-connected'));
    });

    it('refuses an empty token before sending anything', async () => {
      await connect();
      await assert.rejects(client.authXOAuth2(USER, ''), isKind('config'));
      assert.deepEqual(server.received, []);
    });
  });

  describe('transaction commands', () => {
    it('parses STAT, LIST and UIDL, for all messages and for one', async () => {
      await connect();
      const stat = client.stat();
      await server.answer('STAT', '+OK 2 320');
      assert.deepEqual(await stat, { count: 2, size: 320 });

      const list = client.list();
      await server.expect('LIST');
      server.send('+OK 2 messages (320 octets)\r\n1 120\r\n2 2', '00\r\n.', '\r\n');
      assert.deepEqual([...(await list)], [[1, 120], [2, 200]]);

      const uidl = client.uidl();
      await server.answer('UIDL', '+OK', '1 AAQkAD1', '2 AAQkAD2', '.');
      assert.deepEqual([...(await uidl)], [[1, 'AAQkAD1'], [2, 'AAQkAD2']]);

      const one = client.uidl(2);
      await server.answer('UIDL 2', '+OK 2 AAQkAD2');
      assert.deepEqual([...(await one)], [[2, 'AAQkAD2']]);

      const size = client.list(1);
      await server.answer('LIST 1', '+OK 1 120');
      assert.deepEqual([...(await size)], [[1, 120]]);
    });

    it('returns headers and the first lines with TOP', async () => {
      await connect();
      const top = client.top(1, 0);
      await server.answer('TOP 1 0', '+OK', 'Subject: hi', '', '.');
      assert.equal((await top).toString(), 'Subject: hi\r\n\r\n');
    });

    it('sends DELE, RSET and NOOP and reports a -ERR without losing the session', async () => {
      await connect();
      const dele = client.dele(1);
      await server.answer('DELE 1', '+OK message 1 deleted');
      await dele;
      const missing = client.dele(9);
      await server.answer('DELE 9', '-ERR no such message');
      await assert.rejects(missing, isKind('server-error', false));
      const rset = client.rset();
      await server.answer('RSET', '+OK');
      await rset;
      const noop = client.noop();
      await server.answer('NOOP', '+OK');
      await noop;
      assert.equal(client.closed, false);
    });

    it('rejects an invalid message number without sending anything', async () => {
      await connect();
      await assert.rejects(client.dele(0), isKind('config'));
      await assert.rejects(client.retr(1.5), isKind('config'));
      await assert.rejects(client.top(1, -1), isKind('config'));
      assert.deepEqual(server.received, []);
    });

    it('ends with QUIT, closes the socket and emits close without an error event', async () => {
      await connect();
      const events: string[] = [];
      client.on('close', () => events.push('close'));
      client.on('error', () => events.push('error'));
      const quit = client.quit();
      await server.answer('QUIT', '+OK Microsoft Exchange Server POP3 server signing off.');
      server.end();
      await quit;
      assert.equal(client.closed, true);
      assert.ok(['ended', 'destroyed'].includes(await server.clientClosed));
      await settle();
      assert.deepEqual(events, ['close']);
      await assert.rejects(client.noop(), isKind('network', true));
    });

    it('rejects quit() when the connection is already gone, since deletions did not happen', async () => {
      await connect();
      client.close();
      await assert.rejects(client.quit(), isKind('network'));
    });
  });

  describe('queueing, failures and timeouts', () => {
    it('writes one command at a time, in call order', async () => {
      await connect();
      const stat = client.stat();
      const noop = client.noop();
      const uidl = client.uidl();
      await server.expect('STAT');
      await settle();
      assert.deepEqual(server.received, ['STAT'], 'NOOP waits for the STAT answer');
      server.send('+OK 1 10\r\n');
      await server.expect('NOOP');
      await settle();
      assert.equal(server.received.length, 2);
      server.send('+OK\r\n');
      await server.answer('UIDL', '+OK', '1 u1', '.');
      assert.deepEqual(await stat, { count: 1, size: 10 });
      await noop;
      assert.equal((await uidl).get(1), 'u1');
    });

    it('fails a stalled command with a retryable timeout and closes the connection', async () => {
      await connect({ timeoutMs: 100 });
      const noop = client.noop();
      await server.expect('NOOP');
      await assert.rejects(noop, (error: unknown) => {
        isKind('timeout', true)(error);
        assert.match((error as M365MailError).message, /NOOP/);
        return true;
      });
      assert.equal(await server.clientClosed, 'destroyed');
      assert.equal(client.closed, true);
    });

    it('times out a greeting that never comes within connectTimeoutMs', async () => {
      client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: server.factory, connectTimeoutMs: 100 });
      await assert.rejects(client.connect(), isKind('timeout', true));
    });

    it('rejects the pending and the queued commands when the connection drops, with no unhandled rejection', async () => {
      const watcher = watchUnhandledRejections();
      await connect();
      const stat = client.stat();
      const queued = client.noop();
      await server.expect('STAT');
      server.cut();
      await assert.rejects(stat, isKind('network', true));
      await assert.rejects(queued, isKind('network', true));
      await settle();
      assert.deepEqual(watcher.stop(), []);
    });

    it('reports a hang-up while idle as an error event (when listened to) and a close event', async () => {
      await connect();
      const errors: M365MailError[] = [];
      const closed = new Promise<M365MailError>((resolve) => client.once('close', resolve));
      client.on('error', (error) => errors.push(error));
      server.end();
      const reason = await closed;
      assert.equal(reason.kind, 'network');
      assert.equal(errors.length, 1);
      await assert.rejects(client.stat(), isKind('network', true));
    });

    it('does not crash when the connection drops while idle and nobody listens for errors', async () => {
      await connect();
      const closed = new Promise<M365MailError>((resolve) => client.once('close', resolve));
      server.cut();
      assert.equal((await closed).kind, 'network');
    });

    it('closes the connection when an answer is neither +OK nor -ERR', async () => {
      await connect();
      const noop = client.noop();
      await server.answer('NOOP', 'HELLO?');
      await assert.rejects(noop, isKind('protocol-error'));
      assert.equal(client.closed, true);
    });

    it('applies the connect timeout to a socket factory that never delivers', async () => {
      client = new Pop3Client({ host: 'pop.test', tls: 'none', socketFactory: () => new Promise(() => undefined), connectTimeoutMs: 50 });
      await assert.rejects(client.connect(), isKind('timeout', true));
    });

    it('refuses plaintext injected after the STLS answer', async () => {
      await connect();
      const stls = client.stls();
      await server.answer('STLS', '+OK Begin TLS negotiation', '+OK injected');
      await assert.rejects(stls, isKind('tls'));
      assert.equal(client.closed, true);
    });

    it('reports a refused STLS as a tls error', async () => {
      await connect();
      const stls = client.stls();
      await server.answer('STLS', '-ERR command not permitted');
      await assert.rejects(stls, isKind('tls'));
    });
  });
});
