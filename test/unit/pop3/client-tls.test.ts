/**
 * The client against real sockets on 127.0.0.1: implicit TLS, STLS, certificate checks and a
 * refused connection. The peer is a tiny POP3 responder, enough for the transport paths.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { M365MailError } from '../../../src/core/errors';
import { Pop3Client } from '../../../src/pop3/client';
import { ensureTestCa, type TestCa } from '../../env/ca';

interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** Answers the handful of commands these tests send; `STLS` upgrades when `secure` is false. */
function servePop3(socket: net.Socket | tls.TLSSocket, ca: TestCa, secure: boolean): void {
  let pending = '';
  let inAuth = false;
  const onData = (chunk: Buffer): void => {
    pending += chunk.toString('utf8');
    let end = pending.indexOf('\r\n');
    while (end >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      end = pending.indexOf('\r\n');
      if (inAuth) {
        inAuth = false;
        socket.write(line.length > 0 ? '+OK authenticated\r\n' : '-ERR empty\r\n');
      } else if (line === 'CAPA') {
        socket.write(`+OK\r\nUIDL\r\nSASL XOAUTH2\r\n${secure ? '' : 'STLS\r\n'}.\r\n`);
      } else if (line === 'AUTH XOAUTH2') {
        inAuth = true;
        socket.write('+ \r\n');
      } else if (line === 'STAT') {
        socket.write('+OK 3 300\r\n');
      } else if (line === 'QUIT') {
        socket.end('+OK bye\r\n');
      } else if (line === 'STLS' && !secure) {
        socket.off('data', onData);
        socket.write('+OK Begin TLS negotiation\r\n', () => {
          const upgraded = new tls.TLSSocket(socket, { isServer: true, cert: ca.serverCertPem, key: ca.serverKeyPem });
          upgraded.on('error', () => upgraded.destroy());
          servePop3(upgraded, ca, true);
        });
        return;
      } else {
        socket.write('-ERR unknown command\r\n');
      }
    }
  };
  socket.on('data', onData);
}

async function listen(server: net.Server, sockets: Set<net.Socket>): Promise<RunningServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function startImplicitTlsServer(ca: TestCa): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: ca.serverCertPem, key: ca.serverKeyPem }, (socket) => {
    socket.on('error', () => socket.destroy());
    servePop3(socket, ca, true);
    socket.write('+OK TLS POP3 ready\r\n');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => undefined);
  return listen(server, sockets);
}

function startPlainServer(ca: TestCa): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    servePop3(socket, ca, false);
    socket.write('+OK plain POP3 ready\r\n');
  });
  return listen(server, sockets);
}

function isKind(kind: string, retryable?: boolean): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof M365MailError, String(error));
    assert.equal(error.kind, kind, error.message);
    if (retryable !== undefined) assert.equal(error.retryable, retryable);
    return true;
  };
}

describe('pop3 Pop3Client over real TLS (127.0.0.1, test CA)', function () {
  this.timeout(10_000);
  let ca: TestCa;
  let server: RunningServer | undefined;
  let client: Pop3Client | undefined;

  before(() => {
    ca = ensureTestCa();
  });

  afterEach(async () => {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  it('connects with implicit TLS, verifies the certificate against the given CA and runs a session', async () => {
    server = await startImplicitTlsServer(ca);
    client = await Pop3Client.connect({ host: '127.0.0.1', port: server.port, tls: 'implicit', ca: ca.caCertPem, timeoutMs: 5000 });
    assert.equal(client.greeting, 'TLS POP3 ready');
    assert.equal(client.secure, true);
    assert.deepEqual((await client.capa()).saslMechanisms, ['XOAUTH2']);
    await client.authXOAuth2('alice@contoso.example', 'token');
    assert.deepEqual(await client.stat(), { count: 3, size: 300 });
    await client.quit();
    assert.equal(client.closed, true);
  });

  it('refuses a server certificate from a CA it does not trust with kind tls', async () => {
    server = await startImplicitTlsServer(ca);
    const otherCa = tls.rootCertificates[0];
    await assert.rejects(
      Pop3Client.connect({ host: '127.0.0.1', port: server.port, tls: 'implicit', ca: otherCa, timeoutMs: 5000 }),
      isKind('tls', false),
    );
  });

  it('refuses a certificate that does not name the server with kind tls', async () => {
    server = await startImplicitTlsServer(ca);
    await assert.rejects(
      Pop3Client.connect({
        host: '127.0.0.1', port: server.port, tls: 'implicit', ca: ca.caCertPem, servername: 'pop.wrong.example', timeoutMs: 5000,
      }),
      isKind('tls', false),
    );
  });

  it('upgrades a plain connection with STLS before anything else when tls is starttls', async () => {
    server = await startPlainServer(ca);
    client = await Pop3Client.connect({ host: '127.0.0.1', port: server.port, tls: 'starttls', ca: ca.caCertPem, timeoutMs: 5000 });
    assert.equal(client.secure, true);
    const caps = await client.capa();
    assert.equal(caps.stls, false, 'the capability list was read again under TLS');
    assert.deepEqual(await client.stat(), { count: 3, size: 300 });
  });

  it('reports a refused connection as a retryable network error', async () => {
    const probe = await startPlainServer(ca);
    const port = probe.port;
    await probe.close();
    await assert.rejects(
      Pop3Client.connect({ host: '127.0.0.1', port, tls: 'none', timeoutMs: 5000 }),
      isKind('network', true),
    );
  });
});
