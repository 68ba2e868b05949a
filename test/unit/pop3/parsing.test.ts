import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { parseCapabilities } from '../../../src/pop3/capabilities';
import { bodyLines, parseScanListing, parseStat, parseUidListing } from '../../../src/pop3/responses';

const isProtocolError = (error: unknown): boolean => error instanceof M365MailError && error.kind === 'protocol-error';

describe('pop3 response parsing', () => {
  it('parses an Exchange-like CAPA answer into flags and SASL mechanisms', () => {
    const caps = parseCapabilities([
      'TOP', 'UIDL', 'SASL PLAIN XOAUTH2 gssapi', 'USER', 'STLS', 'PIPELINING',
      'RESP-CODES', 'AUTH-RESP-CODE', 'EXPIRE NEVER', 'LOGIN-DELAY 900', 'IMPLEMENTATION Dovecot (Ubuntu)',
    ]);
    assert.deepEqual(caps.saslMechanisms, ['PLAIN', 'XOAUTH2', 'GSSAPI']);
    assert.equal(caps.top && caps.uidl && caps.user && caps.stls && caps.pipelining && caps.respCodes && caps.authRespCode, true);
    assert.equal(caps.expire, 'NEVER');
    assert.equal(caps.loginDelaySeconds, 900);
    assert.equal(caps.implementation, 'Dovecot (Ubuntu)');
    assert.deepEqual(caps.entries.get('SASL'), ['PLAIN', 'XOAUTH2', 'gssapi']);
  });

  it('reports absent capabilities as false and empty', () => {
    const caps = parseCapabilities(['user']);
    assert.equal(caps.user, true);
    assert.equal(caps.uidl, false);
    assert.deepEqual(caps.saslMechanisms, []);
    assert.equal(caps.loginDelaySeconds, undefined);
  });

  it('parses STAT, LIST and UIDL lines', () => {
    assert.deepEqual(parseStat('2 320'), { count: 2, size: 320 });
    assert.deepEqual(parseStat('0 0 extra words'), { count: 0, size: 0 });
    assert.deepEqual(parseScanListing('1 120'), [1, 120]);
    assert.deepEqual(parseUidListing('7 AAMkAGI2+/=x'), [7, 'AAMkAGI2+/=x']);
  });

  it('rejects malformed listings with a protocol error instead of skipping them', () => {
    assert.throws(() => parseStat('two 320'), isProtocolError);
    assert.throws(() => parseScanListing('0 120'), isProtocolError);
    assert.throws(() => parseUidListing('1'), isProtocolError);
    assert.throws(() => parseUidListing(`1 ${'x'.repeat(71)}`), isProtocolError);
  });

  it('splits a body into lines for CRLF and LF endings', () => {
    assert.deepEqual(bodyLines(Buffer.from('1 a\r\n2 b\n3 c\r\n')), ['1 a', '2 b', '3 c']);
    assert.deepEqual(bodyLines(Buffer.alloc(0)), []);
  });
});
