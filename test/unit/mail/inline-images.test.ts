import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { isM365MailError } from '../../../src/core/errors';
import { buildMailMessage, type MailMeta } from '../../../src/mail';
import { inlineCidImages } from '../../../src/mail/inline-images';
import { inlineImageBytes, inlineImageMail, mail } from './test-mails';

const meta: MailMeta = { protocol: 'pop3', mailbox: 'user@contoso.com', uidl: 'u1' };
const dataUri = `data:image/png;base64,${inlineImageBytes.toString('base64')}`;

/** An HTML mail showing two images by cid: (one twice), plus a PDF with a Content-ID and a link to an image the mail lacks. */
const twoImagesMail = mail([
  'From: alice@example.com', 'Subject: two images', 'MIME-Version: 1.0', 'Content-Type: multipart/related; boundary="rel"', '',
  '--rel', 'Content-Type: text/html; charset=utf-8', '',
  '<p><img src="cid:a@x"> <img src=\'cid:b@x\'> <img src="cid:a@x"> <a href="cid:doc@x">doc</a> <img src="cid:missing@x"></p>',
  '--rel', 'Content-Type: image/png', 'Content-Transfer-Encoding: base64', 'Content-ID: <a@x>', '', inlineImageBytes.toString('base64'),
  '--rel', 'Content-Type: image/gif', 'Content-Transfer-Encoding: base64', 'Content-ID: <b@x>', '', Buffer.from('GIF89a-bytes').toString('base64'),
  '--rel', 'Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', 'Content-ID: <doc@x>', '', Buffer.from('%PDF').toString('base64'),
  '--rel--',
]);

describe('inline images in msg.html', () => {
  it('carries cid: images as data: URIs by default, as node-red-node-email (simpleParser) does', async () => {
    for (const raw of [inlineImageMail, twoImagesMail]) {
      const msg = await buildMailMessage(raw, { meta });
      const reference = await simpleParser(raw);
      assert.equal(msg.html, reference.html);
    }
    const msg = await buildMailMessage(inlineImageMail, { meta });
    assert.equal(msg.html, `<p>Logo: <img src="${dataUri}"></p>`);
    assert.deepEqual(msg.attachments[0]?.content, inlineImageBytes, 'the image stays in attachments as well');
  });

  it('replaces only images: other parts with a Content-ID and unknown cids keep their links', async () => {
    const msg = await buildMailMessage(twoImagesMail, { meta });
    const html = String(msg.html);
    assert.equal(html.split(dataUri).length - 1, 2);
    assert.ok(html.includes(`data:image/gif;base64,${Buffer.from('GIF89a-bytes').toString('base64')}`));
    assert.ok(html.includes('href="cid:doc@x"'));
    assert.ok(html.includes('src="cid:missing@x"'));
  });

  it('keeps the cid: links with inlineImages "cid"', async () => {
    const msg = await buildMailMessage(inlineImageMail, { meta, inlineImages: 'cid' });
    assert.match(String(msg.html), /src="cid:logo@example.com"/);
    assert.deepEqual(msg.attachments[0]?.content, inlineImageBytes);
  });

  it('inlines with attachments omit or save too, without putting content into attachments', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-inline-'));
    try {
      for (const attachments of ['omit', 'save'] as const) {
        const msg = await buildMailMessage(inlineImageMail, { meta, attachments, attachmentDir: dir });
        assert.equal(msg.html, `<p>Logo: <img src="${dataUri}"></p>`, attachments);
        assert.equal(msg.attachments[0]?.content, undefined, attachments);
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves images over the attachment size cap as cid: links', async () => {
    const msg = await buildMailMessage(inlineImageMail, { meta, maxAttachmentBytes: inlineImageBytes.length - 1 });
    assert.match(String(msg.html), /src="cid:logo@example.com"/);
    assert.equal(msg.attachments[0]?.omitted, true);
  });

  it('stops inlining once the URIs would pass the budget', () => {
    const images = new Map([['a@x', { contentType: 'image/png', content: Buffer.alloc(30) }]]);
    const uri = `data:image/png;base64,${Buffer.alloc(30).toString('base64')}`;
    assert.equal(inlineCidImages('cid:a@x cid:a@x cid:a@x', images, uri.length * 2), `${uri} ${uri} cid:a@x`);
  });

  it('rejects an unknown inlineImages value with kind config', async () => {
    const error = await buildMailMessage(inlineImageMail, { meta, inlineImages: 'base64' as never }).then(() => assert.fail('expected a rejection'), (e: unknown) => e);
    assert.ok(isM365MailError(error));
    assert.equal(error.kind, 'config');
  });
});
