import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { LineBuffer } from '../../../src/pop3/line-buffer';

describe('pop3 LineBuffer', () => {
  it('returns lines ending in CRLF or bare LF without their ending', () => {
    const buffer = new LineBuffer();
    buffer.push(Buffer.from('+OK one\r\n+OK two\n'));
    assert.equal(buffer.takeLine()?.toString(), '+OK one');
    assert.equal(buffer.takeLine()?.toString(), '+OK two');
    assert.equal(buffer.takeLine(), undefined);
  });

  it('joins a line split across chunks, including between CR and LF', () => {
    const buffer = new LineBuffer();
    buffer.push(Buffer.from('+O'));
    assert.equal(buffer.takeLine(), undefined);
    buffer.push(Buffer.from('K hi\r'));
    assert.equal(buffer.takeLine(), undefined);
    buffer.push(Buffer.from('\nrest'));
    assert.equal(buffer.takeLine()?.toString(), '+OK hi');
    assert.equal(buffer.takeAll().toString(), 'rest');
  });

  it('refuses an unfinished line longer than the limit with a protocol error', () => {
    const buffer = new LineBuffer(1024);
    buffer.push(Buffer.alloc(1000, 0x41));
    assert.throws(
      () => buffer.push(Buffer.alloc(100, 0x41)),
      (error: unknown) => error instanceof M365MailError && error.kind === 'protocol-error',
    );
  });

  it('refuses a complete line longer than the limit', () => {
    const buffer = new LineBuffer(16);
    buffer.push(Buffer.from('x'.repeat(10) + '\n' + 'y'.repeat(20) + '\n'));
    assert.equal(buffer.takeLine()?.length, 10);
    assert.throws(() => buffer.takeLine(), (error: unknown) => (error as M365MailError).kind === 'protocol-error');
  });
});
