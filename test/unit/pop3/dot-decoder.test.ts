import assert from 'node:assert/strict';
import { DotDecoder } from '../../../src/pop3/dot-decoder';

/** Feeds `chunks` and returns the decoded bytes, whether it finished, and what followed the terminator. */
function decode(chunks: Buffer[]): { body: string; done: boolean; rest: string } {
  const decoder = new DotDecoder();
  const output: Buffer[] = [];
  const rest: Buffer[] = [];
  let done = false;
  for (const chunk of chunks) {
    const result = decoder.feed(chunk);
    output.push(...result.output);
    rest.push(result.rest);
    done = result.done;
  }
  return { body: Buffer.concat(output).toString('latin1'), done, rest: Buffer.concat(rest).toString('latin1') };
}

describe('pop3 DotDecoder', () => {
  it('unstuffs leading dots and stops at the terminator, keeping the bytes that follow', () => {
    const result = decode([Buffer.from('Subject: x\r\n\r\n..hidden\r\n...two\r\nend.\r\n.\r\n+OK next\r\n')]);
    assert.deepEqual(result, { body: 'Subject: x\r\n\r\n.hidden\r\n..two\r\nend.\r\n', done: true, rest: '+OK next\r\n' });
  });

  it('finds the terminator and unstuffs at every split position of the input', () => {
    const wire = 'a\r\n..b\r\n...\r\n\r\nc\r\n.\r\nX';
    for (let first = 0; first <= wire.length; first += 1) {
      for (let second = first; second <= wire.length; second += 1) {
        const chunks = [wire.slice(0, first), wire.slice(first, second), wire.slice(second)].map((part) =>
          Buffer.from(part, 'latin1'),
        );
        const result = decode(chunks);
        assert.deepEqual(result, { body: 'a\r\n.b\r\n..\r\n\r\nc\r\n', done: true, rest: 'X' }, `split ${first}/${second}`);
      }
    }
  });

  it('accepts bare LF line endings and a bare LF terminator', () => {
    assert.deepEqual(decode([Buffer.from('one\n..two\n.\nrest')]), { body: 'one\n.two\n', done: true, rest: 'rest' });
  });

  it('treats an empty body (terminator first) as done with no bytes', () => {
    assert.deepEqual(decode([Buffer.from('.\r\n')]), { body: '', done: true, rest: '' });
  });

  it('passes a lone leading dot and a dot before CR inside content through unchanged', () => {
    assert.deepEqual(decode([Buffer.from('.x\r\n.\rY\r\n.\r\n')]), { body: '.x\r\n.\rY\r\n', done: true, rest: '' });
  });

  it('does not treat a dot line in the middle of a line as the terminator', () => {
    assert.deepEqual(decode([Buffer.from('abc\r'), Buffer.from('.\r\n')]), { body: 'abc\r.\r\n', done: false, rest: '' });
  });

  it('hands over a chunk as one slice of the input, split only where a stuffed dot is dropped', () => {
    const decoder = new DotDecoder();
    const plain = Buffer.from('Subject: x\r\n\r\n' + 'line of text\r\n'.repeat(500));
    const first = decoder.feed(plain);
    assert.equal(first.output.length, 1, 'mailparser pays per chunk: not one piece per line');
    assert.equal(first.output[0].buffer, plain.buffer, 'a view of the input, no copy');
    const stuffed = decoder.feed(Buffer.from('a\r\n..b\r\nc\r\n.\r\n'));
    assert.deepEqual(stuffed.output.map((piece) => piece.toString('latin1')), ['a\r\n', '.b\r\nc\r\n']);
    assert.equal(stuffed.done, true);
  });

  it('streams a 1 MB line in pieces without waiting for its end', () => {
    const decoder = new DotDecoder();
    const piece = Buffer.alloc(64 * 1024, 0x41);
    let emitted = 0;
    for (let i = 0; i < 16; i += 1) {
      const result = decoder.feed(piece);
      emitted += result.output.reduce((sum, part) => sum + part.length, 0);
      assert.equal(emitted, (i + 1) * piece.length, 'each chunk is emitted as soon as it arrives');
    }
    const end = decoder.feed(Buffer.from('\r\n.\r\n'));
    assert.equal(end.done, true);
  });
});
