import assert from 'node:assert/strict';
import { classifyTransportError, errorFromTransport, type TransportFailureName } from '../../../src/core/transport-errors';
import { toImapError } from '../../../src/imap/errors';
import { isTlsError, socketError } from '../../../src/pop3/errors';

const failing = (code: string, message = `socket failed: ${code}`): Error => Object.assign(new Error(message), { code });

describe('auth/transport-errors: one table for socket, DNS, TLS and proxy failures', () => {
  const table: Array<[string, TransportFailureName, 'network' | 'timeout' | 'tls', boolean]> = [
    ['ETIMEDOUT', 'timeout', 'timeout', true],
    ['UND_ERR_CONNECT_TIMEOUT', 'timeout', 'timeout', true],
    ['GREETING_TIMEOUT', 'timeout', 'timeout', true],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', 'timeout', 'timeout', true],
    ['ENOTFOUND', 'dns', 'network', true],
    ['EAI_AGAIN', 'dns', 'network', true],
    ['ECONNREFUSED', 'unreachable', 'network', true],
    ['EHOSTUNREACH', 'unreachable', 'network', true],
    ['ECONNRESET', 'dropped', 'network', true],
    ['EPIPE', 'dropped', 'network', true],
    ['NoConnection', 'dropped', 'network', true],
    ['ClosedAfterConnectTLS', 'dropped', 'network', true],
    ['NoMailboxSelected', 'dropped', 'network', true],
    ['EPROXY', 'proxy', 'network', true],
    ['ProxyError', 'proxy', 'network', true],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'certificate', 'tls', false],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'certificate', 'tls', false],
    ['CERT_SIGNATURE_FAILURE', 'certificate', 'tls', false],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'certificate', 'tls', false],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'handshake', 'tls', false],
  ];
  for (const [code, name, kind, retryable] of table) {
    it(`classifies ${code} as ${name} (${kind}, ${retryable ? 'retryable' : 'not retryable'})`, () => {
      const failure = classifyTransportError(failing(code));
      assert.equal(failure?.name, name);
      assert.equal(failure?.kind, kind);
      assert.equal(failure?.retryable, retryable);
      assert.ok((failure?.fix.length ?? 0) > 40, 'has a fix text');
    });
  }

  it('gives the token requests, the IMAP watcher and the POP3 client the same kind, fix and retry advice', () => {
    for (const [code] of table) {
      const fromTransport = errorFromTransport(failing(code));
      const fromImap = toImapError(failing(code), { action: 'connect' });
      const fromPop3 = socketError(failing(code), 'outlook.office365.com', 995);
      for (const error of [fromImap, fromPop3]) {
        assert.equal(error.kind, fromTransport?.kind, code);
        assert.equal(error.fix, fromTransport?.fix, code);
        assert.equal(error.retryable, fromTransport?.retryable, code);
        assert.equal(error.code, code);
      }
    }
  });

  it('sends a certificate problem to NODE_EXTRA_CA_CERTS and a plain-text answer on a TLS port to the port setting', () => {
    const certificate = errorFromTransport(failing('SELF_SIGNED_CERT_IN_CHAIN'));
    assert.match(certificate?.message ?? '', /^The TLS certificate was not accepted \(SELF_SIGNED_CERT_IN_CHAIN\)\.$/);
    assert.match(certificate?.fix ?? '', /NODE_EXTRA_CA_CERTS=\/path\/to\/ca\.pem/);
    assert.match(certificate?.fix ?? '', /never turn certificate checks off/);
    const wrongPort = errorFromTransport(failing('ERR_SSL_WRONG_VERSION_NUMBER'));
    assert.match(wrongPort?.fix ?? '', /IMAP 993, POP3 995/);
    assert.equal(isTlsError(failing('ERR_SSL_WRONG_VERSION_NUMBER')), true);
    assert.equal(isTlsError(failing('ECONNRESET')), false);
  });

  it('names the proxy in the fix of a proxy failure and keeps the proxy\'s answer in the IMAP message', () => {
    const error = toImapError(failing('EPROXY', 'Invalid response from proxy: 403'), { action: 'connect' });
    assert.equal(error.kind, 'network');
    assert.match(error.fix, /HTTPS_PROXY/);
    assert.match(error.message, /^The proxy connection failed: Invalid response from proxy: 403 \(connect\)$/);
  });

  it('counts an error without a code as a timeout only when its message says so', () => {
    assert.equal(classifyTransportError(new Error('Connection timed out'))?.kind, 'timeout');
    assert.equal(errorFromTransport(new Error('Connection timed out'))?.message, 'The connection timed out (timeout).');
    assert.equal(classifyTransportError(new Error('something else')), undefined);
    assert.equal(classifyTransportError(failing('EWHATEVER')), undefined);
  });

  it('still reports an unknown POP3 socket failure as a retryable network error', () => {
    const error = socketError(failing('EWHATEVER'), 'h', 995);
    assert.equal(error.kind, 'network');
    assert.equal(error.retryable, true);
    assert.equal(error.message, 'Connection to POP3 server h:995 failed: socket failed: EWHATEVER');
  });
});
