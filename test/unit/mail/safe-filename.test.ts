import assert from 'node:assert/strict';
import { MAX_FILENAME_BYTES, toSafeFilename, withDuplicateSuffix } from '../../../src/mail/safe-filename';

const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8');

describe('toSafeFilename', () => {
  it('keeps an ordinary name unchanged', () => {
    assert.equal(toSafeFilename('Quarterly report 2025.pdf'), 'Quarterly report 2025.pdf');
  });

  it('keeps only the last segment of Unix and Windows paths', () => {
    assert.equal(toSafeFilename('../../etc/passwd'), 'passwd');
    assert.equal(toSafeFilename('..\\..\\Windows\\win.ini'), 'win.ini');
    assert.equal(toSafeFilename('/abs/path'), 'path');
    assert.equal(toSafeFilename('C:\\x\\y.txt'), 'y.txt');
  });

  it('drops drive letters and characters Windows forbids', () => {
    assert.equal(toSafeFilename('C:evil.txt'), 'evil.txt');
    assert.equal(toSafeFilename('a<b>c:d"e|f?g*h.txt'), 'a_b_c_d_e_f_g_h.txt');
  });

  it('never returns an empty name, "." or ".."', () => {
    for (const name of ['', '.', '..', '...', '   ', '/', '\\', '../', undefined, null]) {
      assert.equal(toSafeFilename(name), 'attachment', `for ${JSON.stringify(name)}`);
    }
  });

  it('removes NUL and other control characters', () => {
    assert.equal(toSafeFilename('evil\u0000.txt'), 'evil.txt');
    assert.equal(toSafeFilename('a\r\nb\tc\u007f\u0085.txt'), 'abc.txt');
  });

  it('prefixes reserved Windows device names, with or without extension and in any case', () => {
    assert.equal(toSafeFilename('CON.txt'), '_CON.txt');
    assert.equal(toSafeFilename('nul'), '_nul');
    assert.equal(toSafeFilename('Com1.tar.gz'), '_Com1.tar.gz');
    assert.equal(toSafeFilename('lpt9'), '_lpt9');
    assert.equal(toSafeFilename('aux .log'), '_aux .log');
    assert.equal(toSafeFilename('console.txt'), 'console.txt');
  });

  it('removes trailing dots and spaces and leading dots (no hidden files)', () => {
    assert.equal(toSafeFilename('report.exe. . '), 'report.exe');
    assert.equal(toSafeFilename('.bashrc'), 'bashrc');
    assert.equal(toSafeFilename('..hidden.txt'), 'hidden.txt');
  });

  it('strips bidi controls that disguise the extension', () => {
    assert.equal(toSafeFilename('invoice\u202Efdp.exe'), 'invoicefdp.exe');
    assert.equal(toSafeFilename('a\u2066b\u2069\u200f.txt'), 'ab.txt');
  });

  it('keeps right-to-left scripts and emoji as they are', () => {
    assert.equal(toSafeFilename('חשבונית.pdf'), 'חשבונית.pdf');
    assert.equal(toSafeFilename('فاتورة 📄.pdf'), 'فاتورة 📄.pdf');
    assert.equal(toSafeFilename('👩‍👩‍👧 family.jpg'), '👩‍👩‍👧 family.jpg');
  });

  it('caps long names at 200 UTF-8 bytes and keeps the extension', () => {
    const ascii = toSafeFilename('a'.repeat(400) + '.docx');
    assert.equal(utf8Bytes(ascii), MAX_FILENAME_BYTES);
    assert.ok(ascii.endsWith('.docx'));

    const emoji = toSafeFilename('😀'.repeat(100) + '.png');
    assert.ok(utf8Bytes(emoji) <= MAX_FILENAME_BYTES);
    assert.ok(emoji.endsWith('.png'));
    assert.ok(!emoji.includes('\ufffd'), 'no character is split');
    assert.match(emoji.slice(0, -4), /^(😀)+$/u);
  });

  it('treats an absurdly long "extension" as part of the name', () => {
    const name = toSafeFilename('x.' + 'y'.repeat(300));
    assert.ok(utf8Bytes(name) <= MAX_FILENAME_BYTES);
    assert.ok(name.startsWith('x.y'));
  });
});

describe('withDuplicateSuffix', () => {
  it('puts the counter before the extension', () => {
    assert.equal(withDuplicateSuffix('report.pdf', 0), 'report.pdf');
    assert.equal(withDuplicateSuffix('report.pdf', 1), 'report (1).pdf');
    assert.equal(withDuplicateSuffix('README', 12), 'README (12)');
  });

  it('stays within the byte cap for names already at the cap', () => {
    const long = toSafeFilename('b'.repeat(400) + '.txt');
    const suffixed = withDuplicateSuffix(long, 3);
    assert.ok(utf8Bytes(suffixed) <= MAX_FILENAME_BYTES);
    assert.ok(suffixed.endsWith(' (3).txt'));
  });
});
