import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isM365MailError } from '../../../src/core/errors';
import { buildMailMessage, type MailMeta } from '../../../src/mail';
import {
  brokenBoundaryMail,
  htmlOnlyMail,
  htmlWithAttachmentMail,
  inlineImageBytes,
  inlineImageMail,
  nestedMultipartMail,
  plainMail,
  typicalMail,
  wrongCharsetMail,
} from './test-mails';

const imapMeta: MailMeta = {
  protocol: 'imap',
  mailbox: 'shared@contoso.com',
  folder: 'INBOX',
  uid: 42,
  uidValidity: 1700000000n,
  flags: new Set(['\\Seen', '\\Flagged']),
};
const pop3Meta: MailMeta = { protocol: 'pop3', mailbox: 'user@contoso.com', uidl: 'AAMkAG-1', size: 1234 };

/** Feeds a buffer in small chunks, as a socket would. */
function chunked(data: Buffer, chunkSize = 7): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += chunkSize) chunks.push(data.subarray(offset, offset + chunkSize));
  return Readable.from(chunks);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('buildMailMessage', () => {
  it('fills every CONTRACT field of a typical mail', async () => {
    const msg = await buildMailMessage(typicalMail, { meta: imapMeta });

    assert.deepEqual(Object.keys(msg).sort(), [
      'attachments', 'bcc', 'cc', 'date', 'from', 'header', 'html', 'mail', 'messageId', 'payload', 'replyTo', 'to', 'topic',
    ]);
    assert.equal(msg.payload, 'Hello Bob, the report is attached.');
    assert.equal(msg.html, '<p>Hello Bob, the <b>report</b> is attached.</p>');
    assert.equal(msg.topic, 'Quarterly report');
    assert.equal(msg.from, 'alice@example.com');
    assert.deepEqual(msg.to?.value, [
      { address: 'bob@example.com', name: 'Bob' },
      { address: 'carol@example.com', name: '' },
    ]);
    assert.equal(msg.to?.text, '"Bob" <bob@example.com>, carol@example.com');
    assert.deepEqual(msg.cc?.value, [{ address: 'dave@example.com', name: 'Dave' }]);
    assert.deepEqual(msg.bcc?.value, [{ address: 'eve@example.com', name: '' }]);
    assert.deepEqual(msg.replyTo?.value, [{ address: 'replies@example.com', name: '' }]);
    assert.ok(msg.date instanceof Date);
    assert.equal(msg.date.toISOString(), '2025-03-04T10:15:00.000Z');
    assert.equal(msg.messageId, '<report-1@example.com>');

    // header: lower-cased names, mailparser values (as node-red-node-email)
    assert.equal(msg.header['x-custom-header'], 'custom value');
    assert.equal(msg.header['subject'], 'Quarterly report');
    assert.equal(msg.header['message-id'], '<report-1@example.com>');
    assert.ok(msg.header['date'] instanceof Date);
    assert.ok(Object.keys(msg.header).every((name) => name === name.toLowerCase()));

    assert.equal(msg.attachments.length, 1);
    const [pdf] = msg.attachments;
    const pdfBytes = Buffer.from('%PDF-1.4 fake pdf content');
    assert.deepEqual(pdf, {
      filename: 'report.pdf',
      originalFilename: 'report.pdf',
      contentType: 'application/pdf',
      size: pdfBytes.length,
      content: pdfBytes,
      checksum: createHash('sha256').update(pdfBytes).digest('hex'),
    });

    assert.deepEqual(msg.mail, {
      protocol: 'imap',
      mailbox: 'shared@contoso.com',
      folder: 'INBOX',
      uid: 42,
      uidValidity: '1700000000',
      flags: ['\\Seen', '\\Flagged'],
      size: typicalMail.length,
    });
  });

  it('parses a stream fed in small chunks the same as a buffer', async () => {
    const fromBuffer = await buildMailMessage(typicalMail, { meta: imapMeta });
    const fromStream = await buildMailMessage(chunked(typicalMail), { meta: imapMeta });
    assert.deepEqual(fromStream, fromBuffer);
  });

  it('builds fresh objects: the meta it was given is copied, not referenced', async () => {
    const flags = ['\\Seen'];
    const meta: MailMeta = { protocol: 'imap', mailbox: 'm', flags };
    const msg = await buildMailMessage(plainMail, { meta });
    assert.notEqual(msg.mail, meta);
    assert.notEqual(msg.mail.flags, flags);
    flags.push('\\Deleted');
    assert.deepEqual(msg.mail.flags, ['\\Seen']);
  });

  it('puts the pop3 meta into msg.mail and keeps a given size', async () => {
    const msg = await buildMailMessage(plainMail, { meta: pop3Meta });
    assert.deepEqual(msg.mail, { protocol: 'pop3', mailbox: 'user@contoso.com', uidl: 'AAMkAG-1', size: 1234 });
  });

  it('gives the plain text of a text-only mail and no html', async () => {
    const msg = await buildMailMessage(plainMail, { meta: pop3Meta });
    assert.equal(msg.payload, 'Just text.\n');
    assert.equal('html' in msg, false);
    assert.deepEqual(msg.attachments, []);
  });

  it('keeps the text parts of a mail that mixes text and HTML parts in html, escaped', async () => {
    const mixed = Buffer.from([
      'From: a@example.com', 'To: b@example.com', 'Subject: mixed', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="m"', '',
      '--m', 'Content-Type: text/plain; charset=utf-8', '', 'Total < 5 & rising', '',
      '--m', 'Content-Type: text/html; charset=utf-8', '', '<p>Chart</p>', '',
      '--m--', '',
    ].join('\r\n'));
    const msg = await buildMailMessage(mixed, { meta: pop3Meta });
    assert.match(String(msg.html), /Total &lt; 5 &amp; rising/);
    assert.match(String(msg.html), /<p>Chart<\/p>/);
    assert.match(String(msg.payload), /Total < 5 & rising/);
  });

  it('converts an HTML-only mail to plain text for payload, as node-red-node-email does', async () => {
    const msg = await buildMailMessage(htmlOnlyMail, { meta: pop3Meta });
    assert.match(String(msg.html), /<h1>Title<\/h1>/);
    assert.equal(msg.payload, 'TITLE\n\nSome bold text.');
  });

  it('also converts HTML to payload text when the HTML sits beside an attachment', async () => {
    const msg = await buildMailMessage(htmlWithAttachmentMail, { meta: pop3Meta });
    assert.equal(msg.payload, 'See the file.');
    assert.equal(msg.attachments[0]?.filename, 'a.txt');
  });

  it('lists an inline image with its cid (and keeps the cid link in html with inlineImages cid)', async () => {
    const msg = await buildMailMessage(inlineImageMail, { meta: pop3Meta, inlineImages: 'cid' });
    assert.match(String(msg.html), /src="cid:logo@example.com"/);
    assert.equal(msg.attachments.length, 1);
    const [image] = msg.attachments;
    assert.equal(image?.cid, 'logo@example.com');
    assert.equal(image?.contentType, 'image/png');
    assert.deepEqual(image?.content, inlineImageBytes);
  });

  it('finds text, html and every attachment in nested multiparts', async () => {
    const msg = await buildMailMessage(nestedMultipartMail, { meta: pop3Meta });
    assert.equal(msg.payload, 'Deep text');
    assert.equal(msg.html, '<p>Deep html</p>');
    assert.deepEqual(
      msg.attachments.map((a) => [a.filename, a.contentType, a.cid]),
      [
        ['spacer.gif', 'image/gif', 'spacer'],
        ['data.csv', 'text/csv', undefined],
      ],
    );
    assert.equal(msg.attachments[1]?.content?.toString(), 'a,b\r\n1,2');
  });

  it('survives wrong and unknown charset declarations', async () => {
    const msg = await buildMailMessage(wrongCharsetMail, { meta: pop3Meta });
    assert.equal(msg.from, 'juergen@example.com');
    assert.equal(typeof msg.topic, 'string');
    assert.match(String(msg.payload), /Grüße aus Köln/);
    assert.match(String(msg.payload), /Caf/);
  });

  it('returns a message for a mail whose boundary is broken instead of failing', async () => {
    const msg = await buildMailMessage(brokenBoundaryMail, { meta: pop3Meta });
    assert.equal(msg.topic, 'Broken boundary');
    assert.equal(typeof msg.payload, 'string');
    assert.ok(Array.isArray(msg.attachments));
  });

  it('joins repeated address headers into one address object', async () => {
    const raw = Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nTo: "C" <c@example.com>\r\nSubject: x\r\n\r\nbody\r\n');
    const msg = await buildMailMessage(raw, { meta: pop3Meta });
    assert.deepEqual(msg.to?.value.map((entry) => entry.address), ['b@example.com', 'c@example.com']);
    assert.equal(msg.to?.text, 'b@example.com, "C" <c@example.com>');
  });

  it('takes the first sender address from a group', async () => {
    const raw = Buffer.from('From: Team: x@example.com, y@example.com;\r\nSubject: g\r\n\r\nbody\r\n');
    const msg = await buildMailMessage(raw, { meta: pop3Meta });
    assert.equal(msg.from, 'x@example.com');
  });

  it('gives the raw source as payload for output raw, still filling the other fields', async () => {
    const fromBuffer = await buildMailMessage(typicalMail, { meta: imapMeta, output: 'raw' });
    assert.ok(Buffer.isBuffer(fromBuffer.payload));
    assert.deepEqual(fromBuffer.payload, typicalMail);
    assert.equal(fromBuffer.topic, 'Quarterly report');

    const fromStream = await buildMailMessage(chunked(typicalMail, 100), { meta: imapMeta, output: 'raw' });
    assert.deepEqual(fromStream.payload, typicalMail);
  });

  it('lists attachments without content for attachments omit', async () => {
    const msg = await buildMailMessage(typicalMail, { meta: imapMeta, attachments: 'omit' });
    const [pdf] = msg.attachments;
    assert.equal(pdf?.filename, 'report.pdf');
    assert.equal(pdf?.size, 25);
    assert.equal(typeof pdf?.checksum, 'string');
    assert.equal(pdf && 'content' in pdf, false);
    assert.equal(pdf?.omitted, undefined, 'omitted marks only attachments over the size cap');
  });

  it('marks an attachment above maxAttachmentBytes as omitted with the size seen', async () => {
    const msg = await buildMailMessage(typicalMail, { meta: imapMeta, maxAttachmentBytes: 10 });
    const [pdf] = msg.attachments;
    assert.equal(pdf?.omitted, true);
    assert.equal(pdf?.size, 25);
    assert.equal(pdf && 'content' in pdf, false);
  });

  it('treats maxAttachmentBytes 0 as no limit', async () => {
    const msg = await buildMailMessage(typicalMail, { meta: imapMeta, maxAttachmentBytes: 0 });
    assert.equal(msg.attachments[0]?.content?.length, 25);
  });

  it('rejects with kind mail-parse when mailparser gives up, without throwing from a stream', async () => {
    const hugeHeader = Buffer.from('Subject: x\r\nX-Long: ' + 'a'.repeat(1_100_000) + '\r\n\r\nbody\r\n');
    const error = await rejection(buildMailMessage(chunked(hugeHeader, 64 * 1024), { meta: pop3Meta }));
    assert.ok(isM365MailError(error));
    assert.equal(error.kind, 'mail-parse');
    assert.ok(error.fix.length > 0);
  });

  it('rejects with kind network when the source stream fails, and a later mail still parses', async () => {
    const failing = new Readable({
      read() {
        this.push('Subject: cut off\r\n');
        this.destroy(new Error('socket closed'));
      },
    });
    const error = await rejection(buildMailMessage(failing, { meta: pop3Meta }));
    assert.ok(isM365MailError(error));
    assert.equal(error.kind, 'network');
    assert.equal(error.retryable, true);

    const next = await buildMailMessage(plainMail, { meta: pop3Meta });
    assert.equal(next.topic, 'Plain');
  });

  it('drains the source stream when it fails, so the connection behind it stays in sync', async () => {
    const hugeHeader = Buffer.from('Subject: x\r\nX-Long: ' + 'a'.repeat(1_100_000) + '\r\n\r\nbody\r\n' + 'tail\r\n'.repeat(10_000));
    const source = chunked(hugeHeader, 16 * 1024);
    const ended = new Promise<void>((resolve) => source.once('end', resolve));
    await rejection(buildMailMessage(source, { meta: pop3Meta }));
    await ended;
    assert.equal(source.readableEnded, true);
  });

  it('rejects invalid options with kind config', async () => {
    const cases = [
      { meta: pop3Meta, output: 'json' as never },
      { meta: pop3Meta, attachments: 'keep' as never },
      { meta: pop3Meta, maxAttachmentBytes: -1 },
      { meta: pop3Meta, attachments: 'save' as const },
      { meta: { mailbox: 'x' } as never },
    ];
    for (const options of cases) {
      const error = await rejection(buildMailMessage(plainMail, options));
      assert.ok(isM365MailError(error), JSON.stringify(options));
      assert.equal(error.kind, 'config');
    }
  });
});
