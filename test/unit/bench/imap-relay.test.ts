import assert from 'node:assert/strict';
import { ClientLines, describeClientLine } from '../../integration/imap/imap-relay';

describe('IMAP relay (tests and the bench\'s connect phase)', () => {
  it('lists commands without the credentials they carry', () => {
    assert.equal(describeClientLine('A2 AUTHENTICATE XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciBzZWNyZXQBAQ=='), 'AUTHENTICATE XOAUTH2 …');
    assert.equal(describeClientLine('A2 LOGIN alice s3cret'), 'LOGIN …');
    // A SASL response sent on its own line (no SASL-IR) is not shown either.
    assert.equal(describeClientLine('dXNlcj1hbGljZQFhdXRoPUJlYXJlciBzZWNyZXQBAQ=='), '(continuation)');
    assert.equal(describeClientLine('A5 uid fetch 1:100 (UID FLAGS)'), 'UID fetch 1:100 (UID FLAGS)');
    assert.equal(describeClientLine('A1 CAPABILITY'), 'CAPABILITY');
    assert.equal(describeClientLine('DONE'), 'DONE');
  });

  it('splits the client stream into lines across chunks and skips literals', () => {
    const lines: string[] = [];
    const reader = new ClientLines((line) => lines.push(line));
    reader.push(Buffer.from('A1 NOOP\r\nA2 APP'));
    reader.push(Buffer.from('END INBOX {7}\r\nhel'));
    // The literal (7 bytes, "hello\r\n") is data, not a line; the APPEND line then ends.
    reader.push(Buffer.from('lo\r\n\r\nA3 L'));
    reader.push(Buffer.from('OGOUT\r\n'));
    assert.deepEqual(lines, ['A1 NOOP', 'A2 APPEND INBOX {7}', '', 'A3 LOGOUT']);
  });
});
