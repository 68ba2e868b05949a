import assert from 'node:assert/strict';
import { convert } from 'html-to-text';
import { simpleParser } from 'mailparser';
import { buildMailMessage, type MailMeta } from '../../../src/mail';
import { nestsDeeperThan, simpleHtmlToText } from '../../../src/mail/html-text-simple';
import { ADDRESS_HEADER_CHARS, PARAMETER_HEADER_CHARS } from '../../../src/mail/parser-limits';
import { htmlToPlainText, INLINE_HTML_CHARS } from '../../../src/mail/plain-text';
import { mail } from './test-mails';

const meta: MailMeta = { protocol: 'imap', mailbox: 'user@contoso.com', uid: 1 };
const paragraph = '<p>Hello <b>world</b>, a <a href="https://example.com/x?y=1">link</a> &amp; some more text.</p>\n';
/** A newsletter-like HTML body of about `chars` characters. */
const largeHtml = (chars: number): string => `<html><body><h1>News</h1>${paragraph.repeat(Math.ceil(chars / paragraph.length))}<table><tr><td>a</td><td>b</td></tr></table></body></html>`;

describe('HTML to text without blocking', function () {
  this.timeout(60_000);

  it('gives the same text as html-to-text for HTML above the in-place limit (worker thread)', async () => {
    const html = largeHtml(4 * INLINE_HTML_CHARS);
    assert.ok(html.length > INLINE_HTML_CHARS);
    assert.equal(await htmlToPlainText(html), convert(html, { limits: { maxDepth: 250 } }));
  });

  it('gives the same payload as before for single-part HTML and HTML beside an attachment, large or small', async () => {
    for (const html of [largeHtml(1000), largeHtml(3 * INLINE_HTML_CHARS)]) {
      const single = mail(['From: a@example.com', 'Subject: html', 'Content-Type: text/html; charset=utf-8', '', html]);
      const mixed = mail([
        'From: a@example.com', 'Subject: html', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/html', '', html,
        '--b', 'Content-Type: application/pdf', 'Content-Disposition: attachment; filename="a.pdf"', '', '%PDF', '--b--',
      ]);
      const expected = convert(html, { limits: { maxDepth: 250 } });
      assert.equal((await buildMailMessage(single, { meta })).payload, expected);
      assert.equal((await buildMailMessage(single, { meta })).payload, (await simpleParser(single)).text, 'as mailparser (node-red-node-email)');
      assert.equal((await buildMailMessage(mixed, { meta })).payload, expected);
    }
  });

  it('gives text and HTML parts side by side as mailparser does, also when the HTML is large', async () => {
    const raw = mail([
      'From: a@example.com', 'Subject: both', 'Content-Type: multipart/mixed; boundary="b"', '',
      '--b', 'Content-Type: text/plain', '', 'the text part', '--b', 'Content-Type: text/html', '', largeHtml(2 * INLINE_HTML_CHARS),
      '--b', 'Content-Type: text/plain', '', 'another text part', '--b', 'Content-Type: text/html', '', '<p>small <i>html</i></p>', '--b--',
    ]);
    const msg = await buildMailMessage(raw, { meta });
    const reference = await simpleParser(raw);
    assert.equal(msg.payload, reference.text);
    assert.equal(msg.html, reference.html);
    const payload = String(msg.payload);
    assert.match(payload, /^the text part/);
    assert.match(payload, /Hello world, a link \[https:\/\/example\.com\/x\?y=1\] & some more text\./);
  });

  it('builds html as mailparser does whether text parts feed it (mixed, delivery report) or not (alternatives)', async () => {
    const shapes: Record<string, string[]> = {
      alternative: [
        'Content-Type: multipart/alternative; boundary="a"', '',
        '--a', 'Content-Type: text/plain', '', 'plain <b>not bold</b> & more', '--a', 'Content-Type: text/html', '', '<p>the <b>html</b></p>', '--a--',
      ],
      'alternative beside an attachment': [
        'Content-Type: multipart/mixed; boundary="m"', '', '--m', 'Content-Type: multipart/alternative; boundary="a"', '',
        '--a', 'Content-Type: text/plain', '', 'plain text', '--a', 'Content-Type: text/html', '', '<p>html</p>', '--a--',
        '--m', 'Content-Type: application/octet-stream; name="x.bin"', 'Content-Transfer-Encoding: base64', '', 'AAEC', '--m--',
      ],
      'text beside HTML (mixed)': [
        'Content-Type: multipart/mixed; boundary="m"', '',
        '--m', 'Content-Type: text/plain', '', 'first <text> & part', '--m', 'Content-Type: text/html', '', '<p>html part</p>', '--m--',
      ],
      'alternative, then a text part': [
        'Content-Type: multipart/mixed; boundary="m"', '', '--m', 'Content-Type: multipart/alternative; boundary="a"', '',
        '--a', 'Content-Type: text/plain', '', 'alt text', '--a', 'Content-Type: text/html', '', '<p>alt html</p>', '--a--',
        '--m', 'Content-Type: text/plain', '', 'a footer <with> markup', '--m--',
      ],
      'delivery report with HTML': [
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"', '',
        '--r', 'Content-Type: text/html', '', '<p>could not deliver</p>',
        '--r', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.example.com', '', 'Final-Recipient: rfc822; <x@example.com>', 'Status: 5.1.1', '--r--',
      ],
      'text only': ['Content-Type: text/plain', '', 'just <text>'],
      'HTML only': ['Content-Type: text/html', '', '<p>just <i>html</i></p>'],
    };
    for (const [shape, body] of Object.entries(shapes)) {
      const raw = mail(['From: a@example.com', `Subject: ${shape}`, 'MIME-Version: 1.0', ...body]);
      // Links in text parts are not detected (see parseMail), so the reference skips them too.
      const [msg, reference] = await Promise.all([buildMailMessage(raw, { meta }), simpleParser(raw, { skipTextLinks: true })]);
      assert.equal(msg.html, reference.html || undefined, `html of "${shape}"`);
      assert.equal(msg.payload, reference.text ?? '', `text of "${shape}"`);
    }
  });

  it('converts HTML nested 240,000 levels deep with the simple conversion', async () => {
    const html = `<html><body>${'<div>'.repeat(240_000)}deep &amp; deeper</body></html>`;
    assert.equal(await nestsDeeperThan(html, 1000), true);
    assert.equal(await htmlToPlainText(html), 'deep & deeper');
    const raw = mail([
      'From: a@example.com', 'Subject: deep', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/html', '', html,
      '--b', 'Content-Type: application/pdf', 'Content-Disposition: attachment; filename="a.pdf"', '', '%PDF', '--b--',
    ]);
    const msg = await buildMailMessage(raw, { meta });
    assert.equal(msg.payload, 'deep & deeper');
    assert.equal(msg.html, html);
  });

  it('simple conversion: drops tags, scripts, styles and comments, breaks lines at blocks, decodes entities', async () => {
    const html = '<head><title>t</title><style>p{}</style></head><script>alert(1)</script><!-- note -->'
      + '<h1>Title</h1><p>One&nbsp;&lt;two&gt; &#x263A; &#169;</p><div>a<br>b</div><table><tr><td>c1</td><td>c2</td></tr></table>x < y';
    assert.equal(await simpleHtmlToText(html), 'Title\n\nOne <two> ☺ ©\n\na\nb\n\nc1 c2\n\nx < y');
  });

  it('nesting check: closed and implied-end elements do not add up', async () => {
    assert.equal(await nestsDeeperThan('<div></div>'.repeat(5000), 10), false);
    assert.equal(await nestsDeeperThan('<p>x'.repeat(5000), 10), false);
    assert.equal(await nestsDeeperThan('<div>'.repeat(11), 10), true);
  });

  it(`reads address headers up to ${ADDRESS_HEADER_CHARS} characters per mail, cutting after a whole address`, async () => {
    const addresses = Array.from({ length: 40_000 }, (_, i) => `u${i}@example.com`);
    const raw = mail(['From: a@example.com', `To: b@example.com`, `Cc: ${addresses.join(', ')}`, 'Subject: many', '', 'x']);
    const msg = await buildMailMessage(raw, { meta });
    const cc = msg.cc?.value ?? [];
    assert.ok(cc.length > 1000 && cc.length < addresses.length, `${cc.length} addresses kept`);
    assert.deepEqual(cc.map((entry) => entry.address), addresses.slice(0, cc.length));
    assert.equal(msg.to?.value[0]?.address, 'b@example.com');
    const few = await buildMailMessage(mail(['From: a@example.com', `Cc: ${addresses.slice(0, 500).join(', ')}`, '', 'x']), { meta });
    assert.equal(few.cc?.value.length, 500);
  });

  it(`reads a Content-Type up to ${PARAMETER_HEADER_CHARS} characters, cutting after a whole parameter`, async () => {
    const params = Array.from({ length: 5_000 }, (_, i) => `p${i}="${i}"`).join('; ');
    const raw = mail(['From: a@example.com', 'Subject: params', `Content-Type: text/plain; charset=utf-8; ${params}`, '', 'caf\u00e9']);
    const msg = await buildMailMessage(raw, { meta });
    assert.equal(String(msg.payload).trim(), 'caf\u00e9');
    const contentType = msg.header['content-type'] as { value: string; params: Record<string, string> };
    assert.equal(contentType.value, 'text/plain');
    assert.equal(contentType.params.p0, '0');
    assert.ok(Object.keys(contentType.params).length < 5_000);
  });
});
