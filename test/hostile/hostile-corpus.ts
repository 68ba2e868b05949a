/**
 * A generated corpus of hostile mail (no fixtures on disk): broken MIME, wrong charsets, huge
 * headers, deep nesting, empty and huge attachments, attachment names that try to escape the
 * attachment folder, HTML with scripts, and plain garbage. Each entry says what it attacks.
 */
import os from 'node:os';
import path from 'node:path';

export interface HostileMail {
  /** What this mail attacks, for failure messages. */
  name: string;
  raw: Buffer;
}

const CRLF = '\r\n';

function head(name: string, extra: string[] = []): string[] {
  return [
    'From: Mallory <mallory@example.com>', 'To: alice@contoso.com', `Subject: hostile ${name}`,
    `Message-ID: <hostile-${name.replace(/[^A-Za-z0-9-]/g, '_')}@hostile.example>`, 'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0',
    ...extra,
  ];
}

function text(lines: string[]): Buffer {
  return Buffer.from(lines.join(CRLF), 'utf8');
}

function base64Lines(content: Buffer): string {
  const encoded = content.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  return lines.join(CRLF);
}

/** RFC 2231 `filename*=` so any byte of a name (NUL, slashes, RTL) reaches the parser intact. */
function rfc2231(name: string): string {
  return `filename*=utf-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/** A mail with one attachment whose Content-Disposition header is given as is. */
function withAttachment(name: string, disposition: string, content: Buffer, contentType = 'application/octet-stream'): HostileMail {
  return {
    name,
    raw: Buffer.concat([text([
      ...head(name, ['Content-Type: multipart/mixed; boundary="hb"']), '',
      '--hb', 'Content-Type: text/plain; charset=utf-8', '', 'See attachment.',
      '--hb', `Content-Type: ${contentType}`, 'Content-Transfer-Encoding: base64', disposition, '', '',
    ]), Buffer.from(base64Lines(content)), text(['', '--hb--', ''])]),
  };
}

/** Names that try to leave the attachment folder or upset a file system. */
export function hostileFileNames(escapeTarget: string): string[] {
  const names = [
    '../escape.txt', '../../escape.txt', '../../../../../../../../etc/passwd', '..\\..\\escape.txt', '..', '.', '...',
    `../${path.basename(escapeTarget)}`, escapeTarget, '/etc/passwd', '/tmp/evil.sh', 'C:\\Windows\\System32\\evil.dll',
    'C:evil.txt', '\\\\server\\share\\evil.txt', '//server/share/evil.txt', 'sub/dir/file.txt', 'sub\\dir\\file.txt',
    'nul\u0000byte.txt', '\u0000', 'evil.txt\u0000.pdf', 'CON', 'con.txt', 'PRN', 'AUX.pdf', 'NUL', 'nul.tar.gz', 'COM1', 'com9.txt',
    'LPT1', 'lpt9.doc', 'CONIN$', 'trailing-dot.', 'trailing-space ', ' leading-space', 'a'.repeat(300), `${'b'.repeat(5000)}.pdf`,
    `${'ü'.repeat(200)}.txt`, '\u202Egnp.exe', 'invoice\u202Efdp.exe', 'عربي.pdf', 'עברית.docx', '📎🔥💣.png', '👨‍👩‍👧‍👦.txt',
    'control\u0001\u001f\u007f.txt', 'tab\there.txt', 'new\nline.txt', 'cr\rreturn.txt', 'quote".txt', 'star*.txt', 'question?.txt',
    'pipe|.txt', 'lt<gt>.txt', 'colon:stream.txt', 'file.txt:$DATA', '~', '~/escape.txt', '$HOME/escape.txt', '%2e%2e%2fescape.txt',
    '..%2Fescape.txt', '.%2e/escape.txt', '....//escape.txt', '.htaccess', '.bashrc', '', ' ', '   ', 'a/../../escape.txt',
    'file:///etc/passwd', 'same-name.txt', 'same-name.txt', 'SAME-NAME.TXT', '\uFEFFbom.txt', '\u200Bzero-width.txt', 'x'.repeat(255),
  ];
  return names;
}

/** ≥ 200 hostile mails. `escapeTarget` is an absolute path a name must never reach. */
export function hostileCorpus(escapeTarget: string, options: { hugeAttachmentBytes: number }): HostileMail[] {
  const mails: HostileMail[] = [];
  const small = Buffer.from('payload of a hostile attachment\n');

  // Attachment names, each in three encodings: RFC 2231, a plain quoted filename, an encoded word.
  hostileFileNames(escapeTarget).forEach((name, i) => {
    mails.push(withAttachment(`name-2231-${i}`, `Content-Disposition: attachment; ${rfc2231(name)}`, small));
    const quoted = name.replace(/[\r\n"\\]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : ''));
    mails.push(withAttachment(`name-quoted-${i}`, `Content-Disposition: attachment; filename="${quoted}"`, small));
    mails.push(withAttachment(`name-word-${i}`, `Content-Disposition: attachment; filename="=?utf-8?B?${Buffer.from(name).toString('base64')}?="`, small));
  });
  // The name in Content-Type only, and both headers disagreeing.
  mails.push(withAttachment('name-in-type', 'Content-Disposition: attachment', small, 'application/pdf; name="../../type-escape.pdf"'));
  mails.push(withAttachment('name-conflict', 'Content-Disposition: attachment; filename="../a.txt"', small, 'text/plain; name="/b.txt"'));

  // Zero-byte attachments.
  for (let i = 0; i < 10; i++) mails.push(withAttachment(`zero-byte-${i}`, `Content-Disposition: attachment; filename="empty-${i}.bin"`, Buffer.alloc(0)));
  // A huge attachment.
  const huge = Buffer.alloc(options.hugeAttachmentBytes);
  for (let i = 0; i + 4 <= huge.length; i += 4) huge.writeUInt32LE((i * 2654435761) >>> 0, i);
  mails.push(withAttachment('huge-attachment', 'Content-Disposition: attachment; filename="../huge.bin"', huge));

  // Broken MIME boundaries.
  const boundaryCases: Array<[string, string[]]> = [
    ['no-closing-boundary', ['Content-Type: multipart/mixed; boundary="x"', '', '--x', 'Content-Type: text/plain', '', 'never closed']],
    ['boundary-never-used', ['Content-Type: multipart/mixed; boundary="nothere"', '', 'just text', '--other--']],
    ['empty-boundary', ['Content-Type: multipart/mixed; boundary=""', '', '--', 'Content-Type: text/plain', '', 'x', '----']],
    ['no-boundary-param', ['Content-Type: multipart/mixed', '', '--x', 'Content-Type: text/plain', '', 'x', '--x--']],
    ['boundary-in-body', ['Content-Type: multipart/mixed; boundary="a"', '', '--a', 'Content-Type: text/plain', '', '--a--inside', '--a', '--a--']],
    ['nested-same-boundary', ['Content-Type: multipart/mixed; boundary="s"', '', '--s', 'Content-Type: multipart/alternative; boundary="s"', '', '--s', 'Content-Type: text/plain', '', 'inner', '--s--', '--s--']],
    ['huge-boundary', [`Content-Type: multipart/mixed; boundary="${'b'.repeat(100_000)}"`, '', `--${'b'.repeat(100_000)}`, 'Content-Type: text/plain', '', 'x']],
    ['multipart-no-parts', ['Content-Type: multipart/mixed; boundary="z"', '', '--z--']],
    ['part-without-headers', ['Content-Type: multipart/mixed; boundary="p"', '', '--p', '', 'no headers here', '--p--']],
    ['unterminated-headers', ['Content-Type: multipart/mixed; boundary="u"', '', '--u', 'Content-Type: text/plain']],
    ['only-preamble', ['Content-Type: multipart/alternative; boundary="o"', '', 'preamble only, no parts at all']],
    ['whitespace-boundary', ['Content-Type: multipart/mixed; boundary="   "', '', '--   ', 'Content-Type: text/plain', '', 'x', '--   --']],
    ['bad-base64', ['Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="bad.pdf"', '', '!!!!not base64 at all ****', '====']],
    ['bad-quoted-printable', ['Content-Type: text/plain', 'Content-Transfer-Encoding: quoted-printable', '', '=ZZ=0=\u00ff=', '=']],
    ['unknown-transfer-encoding', ['Content-Type: text/plain', 'Content-Transfer-Encoding: x-martian', '', 'beep']],
    ['uuencode-junk', ['Content-Type: text/plain', 'Content-Transfer-Encoding: x-uuencode', '', 'begin 644 ../escape.txt', 'M9F]O', 'end']],
    ['rfc822-in-rfc822', ['Content-Type: message/rfc822', '', 'Content-Type: message/rfc822', '', 'Content-Type: message/rfc822', '', 'Subject: inner']],
  ];
  for (const [name, lines] of boundaryCases) mails.push({ name, raw: text([...head(name), ...lines, '']) });

  // Wrong or hostile charsets.
  const charsetCases: Array<[string, string, Buffer]> = [
    ['utf8-declared-latin1-bytes', 'utf-8', Buffer.from('caf\u00e9 na\u00efve', 'latin1')],
    ['unknown-charset', 'x-unknown-42', Buffer.from('hello')],
    ['utf7', 'utf-7', Buffer.from('+AGEAYgBj-')],
    ['iso2022-broken', 'iso-2022-jp', Buffer.from([0x1b, 0x24, 0x42, 0xff, 0xfe, 0x1b])],
    ['utf16-odd', 'utf-16', Buffer.from([0xff, 0xfe, 0x41])],
    ['charset-injection', 'utf-8"; boundary="evil', Buffer.from('x')],
    ['gb18030-garbage', 'gb18030', Buffer.from([0x81, 0x30, 0xff, 0x00])],
    ['empty-charset', '', Buffer.from('x')],
    ['shift-jis-invalid', 'shift_jis', Buffer.from([0x81, 0x00, 0xa0, 0xfd])],
    ['utf8-overlong', 'utf-8', Buffer.from([0xc0, 0xaf, 0xe0, 0x80, 0xaf, 0xed, 0xa0, 0x80])],
  ];
  for (const [name, charset, body] of charsetCases) {
    mails.push({ name, raw: Buffer.concat([text([...head(name), `Content-Type: text/plain; charset="${charset}"`, 'Content-Transfer-Encoding: 8bit', '', '']), body, Buffer.from(CRLF)]) });
    mails.push({ name: `${name}-html`, raw: Buffer.concat([text([...head(`${name}-html`), `Content-Type: text/html; charset=${charset || 'x'}`, '', '<p>']), body, Buffer.from(`</p>${CRLF}`)]) });
  }
  mails.push({ name: 'encoded-word-bad-charset', raw: text(['From: =?x-nope?B?QUJD?= <a@example.com>', 'Subject: =?utf-8?Q?=FF=FE?= =?utf-8?B?!!!?=', 'Message-ID: <hostile-ew@hostile.example>', '', 'x']) });
  mails.push({ name: 'eight-bit-headers', raw: Buffer.concat([Buffer.from('Subject: '), Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.from(`${CRLF}Message-ID: <hostile-8bit@hostile.example>${CRLF}${CRLF}x${CRLF}`)]) });

  // Huge headers.
  mails.push({ name: 'huge-subject', raw: text([...head('huge-subject'), `X-Long: ${'y'.repeat(2_000_000)}`, 'Content-Type: text/plain', '', 'x']) });
  mails.push({ name: 'many-headers', raw: text([...head('many-headers'), ...Array.from({ length: 20_000 }, (_, i) => `X-H${i}: value ${i}`), 'Content-Type: text/plain', '', 'x']) });
  mails.push({ name: 'endless-folding', raw: text([...head('endless-folding'), 'X-Folded: start', ...Array.from({ length: 50_000 }, () => ' continued'), '', 'x']) });
  mails.push({ name: 'header-without-colon', raw: text([...head('header-without-colon'), 'This line is no header', 'Another one', '', 'x']) });
  mails.push({ name: 'many-recipients', raw: text([...head('many-recipients'), `To: ${Array.from({ length: 20_000 }, (_, i) => `u${i}@example.com`).join(', ')}`, '', 'x']) });
  mails.push({ name: 'address-garbage', raw: text(['From: <<<>>>@@@"', 'To: ,,,;;;<', 'Reply-To: "unterminated', 'Message-ID: <hostile-addr@hostile.example>', '', 'x']) });
  mails.push({ name: 'date-garbage', raw: text([...head('date-garbage'), 'Date: Tuesday 99 Smarch 99999 25:61:61 +9999', '', 'x']) });
  mails.push({ name: 'huge-content-type-params', raw: text([...head('huge-params'), `Content-Type: text/plain; ${Array.from({ length: 5_000 }, (_, i) => `p${i}="${i}"`).join('; ')}`, '', 'x']) });

  // Deeply nested multiparts.
  for (const depth of [10, 50, 200, 1000, 3000]) {
    const lines = [...head(`nested-${depth}`)];
    for (let d = 0; d < depth; d++) lines.push(`Content-Type: multipart/mixed; boundary="n${d}"`, '', `--n${d}`);
    lines.push('Content-Type: text/plain', '', `deepest of ${depth}`);
    for (let d = depth - 1; d >= 0; d--) lines.push(`--n${d}--`);
    mails.push({ name: `nested-${depth}`, raw: text([...lines, '']) });
  }
  mails.push({ name: 'many-parts', raw: text([...head('many-parts'), 'Content-Type: multipart/mixed; boundary="m"', '', ...Array.from({ length: 5_000 }, (_, i) => [`--m`, `Content-Type: text/plain`, `Content-Disposition: attachment; filename="p${i}.txt"`, '', `part ${i}`]).flat(), '--m--', '']) });

  // HTML with scripts and tricks.
  const htmlCases = [
    '<script>alert(1)</script><p>hi</p>', '<img src=x onerror="alert(1)">', '<a href="javascript:alert(1)">click</a>',
    '<svg onload=alert(1)>', '<iframe src="https://evil.example"></iframe>', '<style>*{display:none}</style><p>x</p>',
    '<scr<script>ipt>alert(1)</script>', '<div>'.repeat(100_000), '<p>' + '&#x'.repeat(10_000), '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">', '<!-- <script>x</script> -->', '<object data="evil.swf"></object>',
    `<p>${'&nbsp;'.repeat(200_000)}</p>`, '<table>'.repeat(20_000),
  ];
  htmlCases.forEach((html, i) => {
    mails.push({ name: `html-${i}`, raw: text([...head(`html-${i}`), 'Content-Type: text/html; charset=utf-8', '', html, '']) });
  });

  mails.push(...heavyMails());

  // Plain garbage.
  mails.push({ name: 'no-headers', raw: Buffer.from(`just a body without any header${CRLF}`) });
  mails.push({ name: 'only-headers', raw: text(['Subject: only headers', 'Message-ID: <hostile-oh@hostile.example>']) });
  mails.push({ name: 'binary-garbage', raw: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)) });
  mails.push({ name: 'nul-bytes', raw: Buffer.concat([text([...head('nul-bytes'), '', 'a']), Buffer.alloc(1000), Buffer.from(CRLF)]) });
  mails.push({ name: 'bare-lf', raw: Buffer.from(['Subject: bare lf', 'Message-ID: <hostile-lf@hostile.example>', '', 'body'].join('\n')) });
  mails.push({ name: 'bare-cr', raw: Buffer.from(['Subject: bare cr', 'Message-ID: <hostile-cr@hostile.example>', '', 'body'].join('\r')) });
  mails.push({ name: 'tnef-like', raw: withAttachment('tnef-like', 'Content-Disposition: attachment; filename="winmail.dat"', Buffer.from([0x78, 0x9f, 0x3e, 0x22, 0, 0, 0, 0]), 'application/ms-tnef').raw });
  return mails;
}

/** A multipart/mixed mail with the given HTML part, no text part, and a small PDF attachment. */
function htmlWithAttachment(name: string, html: string): HostileMail {
  return {
    name,
    raw: text([
      ...head(name, ['Content-Type: multipart/mixed; boundary="hh"']), '',
      '--hh', 'Content-Type: text/html; charset=utf-8', '', html,
      '--hh', 'Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="a.pdf"', '',
      base64Lines(Buffer.from('%PDF-1.4\n%hostile\n')), '--hh--', '',
    ]),
  };
}

/**
 * Mails that cost CPU rather than break the parser: each was (or could be) a long block of the
 * event loop, which stops every flow in Node-RED. Shapes: deep and wide HTML where we convert it
 * (HTML plus attachment, no text part) and where mailparser converts it (single-part HTML, HTML
 * parts beside a text part), huge and many headers, many addresses and encoded words, long lines,
 * many and deeply nested parts.
 */
export function heavyMails(): HostileMail[] {
  const mails: HostileMail[] = [];
  const paragraph = '<p>Hello <b>world</b>, a <a href="https://example.com/x?y=1">link</a> &amp; text that goes on a while.</p>\n';
  // 240,000 and 480,000 unclosed <div>s: 1.2 MB and 2.4 MB.
  mails.push(htmlWithAttachment('deep-div-240k', `<html><body>${'<div>'.repeat(240_000)}deep</body></html>`));
  mails.push(htmlWithAttachment('deep-div-480k', `<html><body>${'<div>'.repeat(480_000)}deep</body></html>`));
  mails.push(htmlWithAttachment('deep-closed-999', `${'<div>'.repeat(999)}x${'</div>'.repeat(999)}`.repeat(200)));
  mails.push(htmlWithAttachment('flat-html-4mb', paragraph.repeat(Math.ceil(4_000_000 / paragraph.length))));
  mails.push(htmlWithAttachment('deep-span-b-mix', '<span><b><i>'.repeat(100_000)));
  // Single-part HTML: mailparser converts it to text itself.
  const single = (name: string, html: string): HostileMail => ({ name, raw: text([...head(name), 'Content-Type: text/html; charset=utf-8', '', html, '']) });
  mails.push(single('single-deep-999-repeated', `${'<div>'.repeat(999)}x${'</div>'.repeat(999)}`.repeat(300)));
  mails.push(single('single-flat-4mb', paragraph.repeat(Math.ceil(4_000_000 / paragraph.length))));
  mails.push(single('single-table-2mb', `<table>${'<tr><td>a</td><td>b</td><td>c</td></tr>'.repeat(50_000)}</table>`));
  // A text part and many HTML parts beside it (not alternatives): mailparser converts every one.
  mails.push({
    name: 'html-parts-beside-text',
    raw: text([
      ...head('html-parts-beside-text', ['Content-Type: multipart/mixed; boundary="hp"']), '',
      '--hp', 'Content-Type: text/plain', '', 'the text part',
      ...Array.from({ length: 300 }, () => ['--hp', 'Content-Type: text/html', '', paragraph.repeat(100)]).flat(), '--hp--', '',
    ]),
  });
  // Headers, each just below mailsplit's 1 MiB limit for one part's header block.
  mails.push({ name: 'many-addresses', raw: text([...head('many-addresses'), `Cc: ${Array.from({ length: 40_000 }, (_, i) => `U${i} <u${i}@ex.co>`).join(',')}`, '', 'x']) });
  mails.push({ name: 'many-encoded-words', raw: text([...head('many-encoded-words'), `Subject: ${Array.from({ length: 30_000 }, () => '=?utf-8?Q?caf=C3=A9?=').join(' ')}`, '', 'x']) });
  mails.push({ name: 'encoded-word-addresses', raw: text([...head('encoded-word-addresses'), `To: ${Array.from({ length: 15_000 }, (_, i) => `=?utf-8?B?${Buffer.from(`Ü${i}`).toString('base64')}?= <a${i}@ex.co>`).join(', ')}`, '', 'x']) });
  mails.push({ name: 'huge-header-1mb', raw: text([...head('huge-header-1mb'), `X-Huge: ${'h'.repeat(1_000_000)}`, '', 'x']) });
  mails.push({ name: 'folded-header-1mb', raw: text([...head('folded-header-1mb'), `X-Folded: ${Array.from({ length: 100_000 }, () => 'abcdefg').join('\r\n ')}`, '', 'x']) });
  // Many parts, each with a header block of short lines (about 60 KB): the whole-mail parse
  // reads headers in one synchronous stretch, so these must go the streaming way.
  const headerHeavy = (name: string, parts: number): HostileMail => ({
    name,
    raw: text([...head(name, ['Content-Type: multipart/mixed; boundary="hh"']), '', ...Array.from({ length: parts }, (_, i) => ['--hh', 'Content-Type: text/plain', ...Array.from({ length: 5_000 }, () => `List-A: <a${i}>`), '', `part ${i}`]).flat(), '--hh--', '']),
  });
  mails.push(headerHeavy('header-heavy-parts-16', 16), headerHeavy('header-heavy-parts-64', 64));
  // Long lines.
  mails.push({ name: 'long-line-text-8mb', raw: text([...head('long-line-text-8mb'), 'Content-Type: text/plain', '', 'l'.repeat(8_000_000), '']) });
  mails.push(htmlWithAttachment('long-line-html-4mb', `<p>${'word '.repeat(800_000)}</p>`));
  mails.push({ name: 'long-line-base64-8mb', raw: text([...head('long-line-base64-8mb', ['Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="one-line.bin"']), '', 'QUJD'.repeat(2_000_000), '']) });
  // As many parts as mailsplit allows (1,000), each an attachment of the same name, and deep
  // nesting with content at every level.
  mails.push({ name: 'many-parts-990', raw: text([...head('many-parts-990', ['Content-Type: multipart/mixed; boundary="m"']), '', ...Array.from({ length: 990 }, (_, i) => ['--m', 'Content-Type: image/png', 'Content-Transfer-Encoding: base64', `Content-Disposition: inline; filename="image001.png"`, `Content-ID: <img${i}@x>`, '', base64Lines(Buffer.alloc(3000, i))]).flat(), '--m--', '']) });
  const nested: string[] = [...head('nested-with-text-300')];
  for (let d = 0; d < 300; d++) nested.push(`Content-Type: multipart/mixed; boundary="q${d}"`, '', `--q${d}`, 'Content-Type: text/plain', '', `level ${d}`, `--q${d}`);
  nested.push('Content-Type: text/html', '', '<p>bottom</p>');
  for (let d = 299; d >= 0; d--) nested.push(`--q${d}--`);
  mails.push({ name: 'nested-with-text-300', raw: text([...nested, '']) });
  return mails;
}

/** An absolute path outside every folder the test uses, unique per run. */
export function escapeTargetPath(): string {
  return path.join(os.tmpdir(), `m365-hostile-escape-${process.pid}-${Date.now()}.txt`);
}
