import { Readable } from 'node:stream';

/** Raw test mails, built here so every test shows exactly what it feeds the parser. */

const CRLF = '\r\n';

export function mail(lines: string[]): Buffer {
  return Buffer.from(lines.join(CRLF) + CRLF, 'utf8');
}

function base64Lines(data: Buffer): string {
  return data.toString('base64').replace(/.{1,76}/g, (line) => line + CRLF).trimEnd();
}

/** RFC 2231 encoding so any (hostile) Unicode name survives the MIME header. */
function encodedFilenameParam(name: string): string {
  return `filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())}`;
}

export const typicalMail = mail([
  'From: "Alice Example" <alice@example.com>',
  'To: Bob <bob@example.com>, carol@example.com',
  'Cc: Dave <dave@example.com>',
  'Bcc: eve@example.com',
  'Reply-To: replies@example.com',
  'Subject: Quarterly report',
  'Date: Tue, 04 Mar 2025 10:15:00 +0000',
  'Message-ID: <report-1@example.com>',
  'X-Custom-Header: custom value',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  '--outer',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Bob, the report is attached.',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Hello Bob, the <b>report</b> is attached.</p>',
  '--alt--',
  '--outer',
  'Content-Type: application/pdf; name="report.pdf"',
  'Content-Disposition: attachment; filename="report.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  base64Lines(Buffer.from('%PDF-1.4 fake pdf content')),
  '--outer--',
]);

export const plainMail = mail([
  'From: alice@example.com',
  'To: bob@example.com',
  'Subject: Plain',
  'Date: Tue, 04 Mar 2025 10:15:00 +0000',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Just text.',
]);

export const htmlOnlyMail = mail([
  'From: alice@example.com',
  'Subject: HTML only',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<html><body><h1>Title</h1><p>Some <b>bold</b> text.</p></body></html>',
]);

/** HTML plus an attachment and no text alternative: mailparser itself gives no text here. */
export const htmlWithAttachmentMail = mail([
  'From: alice@example.com',
  'Subject: HTML and file',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>See the <i>file</i>.</p>',
  '--b1',
  'Content-Type: text/plain; name="a.txt"',
  'Content-Disposition: attachment; filename="a.txt"',
  '',
  'file body',
  '--b1--',
]);

const pngBytes = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

export const inlineImageMail = mail([
  'From: alice@example.com',
  'Subject: Inline image',
  'Content-Type: multipart/related; boundary="rel"',
  '',
  '--rel',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Logo: <img src="cid:logo@example.com"></p>',
  '--rel',
  'Content-Type: image/png; name="logo.png"',
  'Content-Disposition: inline; filename="logo.png"',
  'Content-ID: <logo@example.com>',
  'Content-Transfer-Encoding: base64',
  '',
  base64Lines(pngBytes),
  '--rel--',
]);
export const inlineImageBytes = pngBytes;

export const nestedMultipartMail = mail([
  'From: alice@example.com',
  'Subject: Nested',
  'Content-Type: multipart/mixed; boundary="l1"',
  '',
  '--l1',
  'Content-Type: multipart/related; boundary="l2"',
  '',
  '--l2',
  'Content-Type: multipart/alternative; boundary="l3"',
  '',
  '--l3',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Deep text',
  '--l3',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Deep html</p>',
  '--l3--',
  '--l2',
  'Content-Type: image/gif; name="spacer.gif"',
  'Content-ID: <spacer>',
  'Content-Transfer-Encoding: base64',
  '',
  'R0lGODlhAQABAAAAACw=',
  '--l2--',
  '--l1',
  'Content-Type: text/csv; name="data.csv"',
  'Content-Disposition: attachment; filename="data.csv"',
  '',
  'a,b',
  '1,2',
  '--l1--',
]);

/** Declares us-ascii and an unknown charset but carries UTF-8 / Latin-1 bytes. */
export const wrongCharsetMail = Buffer.concat([
  mail([
    'From: =?utf-8?B?SsO8cmdlbg==?= <juergen@example.com>',
    'Subject: =?x-unknown-charset?Q?Gr=FC=DFe?=',
    'Content-Type: multipart/mixed; boundary="cs"',
    '',
    '--cs',
    'Content-Type: text/plain; charset=x-does-not-exist',
    'Content-Transfer-Encoding: 8bit',
    '',
  ]),
  Buffer.from('Gr\u00fc\u00dfe aus K\u00f6ln\r\n', 'utf8'),
  mail(['--cs', 'Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 8bit', '']),
  Buffer.from('Caf\u00e9\r\n', 'latin1'),
  mail(['--cs--']),
]);

/** The body never uses the declared boundary and the closing delimiter is missing. */
export const brokenBoundaryMail = mail([
  'From: alice@example.com',
  'Subject: Broken boundary',
  'Content-Type: multipart/mixed; boundary="declared"',
  '',
  '--other',
  'Content-Type: text/plain',
  '',
  'Text after a wrong boundary',
  '--other',
  'Content-Type: application/octet-stream; name="x.bin"',
  '',
  'binary?',
]);

/** One mail with a text body and one small attachment per name. */
export function attachmentsMail(names: string[]): Buffer {
  const lines = ['From: alice@example.com', 'Subject: Many files', 'Content-Type: multipart/mixed; boundary="many"', ''];
  lines.push('--many', 'Content-Type: text/plain', '', 'see attachments');
  names.forEach((name, index) => {
    lines.push(
      '--many',
      'Content-Type: application/octet-stream',
      `Content-Disposition: attachment; ${encodedFilenameParam(name)}`,
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(Buffer.from(`content of attachment ${index}`)),
    );
  });
  lines.push('--many--');
  return mail(lines);
}

/**
 * A mail with one base64 attachment of `attachmentBytes` bytes (every byte 0x41 + i % 26), produced
 * lazily so the test itself never holds it in memory.
 */
export function bigAttachmentMailStream(attachmentBytes: number): Readable {
  const head = mail([
    'From: alice@example.com',
    'Subject: Big attachment',
    'Content-Type: multipart/mixed; boundary="big"',
    '',
    '--big',
    'Content-Type: text/plain',
    '',
    'A big file follows.',
    '--big',
    'Content-Type: application/octet-stream; name="big.bin"',
    'Content-Disposition: attachment; filename="big.bin"',
    'Content-Transfer-Encoding: base64',
    '',
  ]);
  const tail = mail(['', '--big--']);
  // 57 raw bytes make one 76-character base64 line; 1,000 lines per chunk.
  const rawPerChunk = 57 * 1000;
  const pattern = Buffer.alloc(rawPerChunk);
  for (let i = 0; i < rawPerChunk; i++) pattern[i] = 0x41 + (i % 26);
  let sent = 0;
  let stage: 'head' | 'body' | 'tail' | 'done' = 'head';
  return new Readable({
    read() {
      if (stage === 'head') {
        stage = 'body';
        this.push(head);
        return;
      }
      if (stage === 'body') {
        const n = Math.min(rawPerChunk, attachmentBytes - sent);
        sent += n;
        if (sent >= attachmentBytes) stage = 'tail';
        this.push(base64Lines(pattern.subarray(0, n)) + CRLF);
        return;
      }
      if (stage === 'tail') {
        stage = 'done';
        this.push(tail);
        return;
      }
      this.push(null);
    },
  });
}
