import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveAttachmentFiles } from '../../../src/smtp/attachments';
import { compileMail } from '../../../src/smtp/compile';
import { composeMailOptions, DEFAULT_SUBJECT, type ComposeDefaults } from '../../../src/smtp/compose';
import { decodeMsg, encodeMsg } from '../../../src/smtp/msg-codec';
import { prepareMail } from '../../../src/smtp/prepare';

const NODE: ComposeDefaults = { mailbox: 'alice@contoso.com', to: '', cc: '', bcc: '', subject: '' };

describe('smtp compose (node-red-node-email compatible)', () => {
  it('takes body, subject and recipients from the msg and sends from the mailbox', () => {
    const options = composeMailOptions({ payload: 'hello', topic: 'Hi', to: 'bob@contoso.com, carol@contoso.com', cc: ['dave@contoso.com'] }, NODE);
    assert.equal(options.from, 'alice@contoso.com');
    assert.equal(options.to, 'bob@contoso.com, carol@contoso.com');
    assert.deepEqual(options.cc, ['dave@contoso.com']);
    assert.equal(options.subject, 'Hi');
    assert.equal(options.text, 'hello');
    assert.equal(options.html, undefined);
  });

  it('detects HTML in the payload as node-red-node-email does, with msg.plaintext as the text part', () => {
    const options = composeMailOptions({ payload: '<p>hi</p>', plaintext: 'hi', to: 'bob@contoso.com' }, NODE);
    assert.equal(options.html, '<p>hi</p>');
    assert.equal(options.text, 'hi');
  });

  it('uses the node\'s recipients when the node has a To, ignoring msg.to/cc/bcc/replyTo', () => {
    const options = composeMailOptions({ payload: 'x', to: 'mallory@evil.example', bcc: 'mallory@evil.example', replyTo: 'mallory@evil.example' },
      { ...NODE, to: 'ops@contoso.com', cc: 'boss@contoso.com' });
    assert.equal(options.to, 'ops@contoso.com');
    assert.equal(options.cc, 'boss@contoso.com');
    assert.equal(options.bcc, undefined);
    assert.equal(options.replyTo, undefined);
  });

  it('falls back to the node\'s subject, then to node-red-node-email\'s default; an empty topic stays empty', () => {
    assert.equal(composeMailOptions({ payload: 'x', to: 'b@c.de' }, { ...NODE, subject: 'Alert' }).subject, 'Alert');
    assert.equal(composeMailOptions({ payload: 'x', to: 'b@c.de' }, NODE).subject, DEFAULT_SUBJECT);
    assert.equal(composeMailOptions({ payload: 'x', to: 'b@c.de', topic: '' }, { ...NODE, subject: 'Alert' }).subject, '');
  });

  it('answers a mail from a reader: In-Reply-To from header.message-id and "Re: " subject', () => {
    const options = composeMailOptions({ payload: 'thanks', topic: 'Order 7', to: 'bob@contoso.com', header: { 'message-id': '<m1@contoso.com>' } }, NODE);
    assert.equal(options.inReplyTo, '<m1@contoso.com>');
    assert.equal(options.subject, 'Re: Order 7');
  });

  it('accepts the address objects the readers emit', () => {
    const options = composeMailOptions({ payload: 'x', to: { value: [{ name: 'Bob', address: 'bob@contoso.com' }], text: 'Bob <bob@contoso.com>' } }, NODE);
    assert.deepEqual(options.to, [{ name: 'Bob', address: 'bob@contoso.com' }]);
  });

  it('turns a Buffer payload into an attachment with a guessed name', () => {
    const options = composeMailOptions({ payload: Buffer.from([0x89, 0x50, 0x4e, 0x47]), to: 'bob@contoso.com' }, NODE);
    assert.equal(options.attachments?.[0].filename, 'attachment.png');
    assert.match(String(options.text), /attachment\.png/);
  });

  it('refuses attachment content that is neither a string nor a Buffer, and a msg without recipient', () => {
    assert.throws(() => composeMailOptions({ payload: 'x', to: 'b@c.de', attachments: [{ filename: 'a', content: 42 }] }, NODE), /String or buffer/);
    assert.throws(() => composeMailOptions({ payload: 'x' }, NODE), (e: Error & { kind?: string }) => e.kind === 'config');
  });

  it('compiles with a fixed Message-ID and Date, Bcc only in the envelope', async () => {
    const date = new Date('2026-01-02T03:04:05Z');
    const compiled = await compileMail(composeMailOptions({ payload: 'x', to: 'b@contoso.com', bcc: 'hidden@contoso.com' }, NODE), NODE.mailbox, date);
    const text = compiled.raw.toString();
    assert.match(compiled.messageId, /^<[0-9a-f-]{36}@contoso\.com>$/);
    assert.ok(text.includes(`Message-ID: ${compiled.messageId}`));
    assert.ok(text.includes('Date: Fri, 02 Jan 2026 03:04:05 +0000'));
    assert.ok(!/hidden@contoso\.com/.test(text));
    assert.deepEqual(compiled.envelope, { from: 'alice@contoso.com', to: ['b@contoso.com', 'hidden@contoso.com'] });
  });
});

describe('smtp attachments by path', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-att-'));
    await fs.mkdir(path.join(dir, 'allowed'));
    await fs.writeFile(path.join(dir, 'allowed', 'report.txt'), 'report');
    await fs.writeFile(path.join(dir, 'secret.txt'), 'secret');
    await fs.symlink(path.join(dir, 'secret.txt'), path.join(dir, 'allowed', 'link.txt'));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('reads a file inside the allowed folder into the attachment', async () => {
    const [attachment] = (await resolveAttachmentFiles([{ path: 'report.txt' }], path.join(dir, 'allowed')))!;
    assert.equal(attachment.filename, 'report.txt');
    assert.equal(String(attachment.content), 'report');
    assert.equal(attachment.path, undefined);
  });

  it('refuses files outside the folder, through ../ or a symbolic link, URLs, and any path without a folder', async () => {
    const allowed = path.join(dir, 'allowed');
    await assert.rejects(resolveAttachmentFiles([{ path: '../secret.txt' }], allowed), /outside the allowed folder/);
    await assert.rejects(resolveAttachmentFiles([{ path: path.join(dir, 'secret.txt') }], allowed), /outside the allowed folder/);
    await assert.rejects(resolveAttachmentFiles([{ path: 'link.txt' }], allowed), /outside the allowed folder/);
    await assert.rejects(resolveAttachmentFiles([{ path: 'http://example.com/x' }], allowed), /is a URL/);
    await assert.rejects(resolveAttachmentFiles([{ href: 'http://example.com/x' }], allowed), /href/);
    await assert.rejects(resolveAttachmentFiles([{ path: 'report.txt' }], ''), /no attachment folder/);
  });

  it('prepareMail gives the outbox a compiled mail with the msg', async () => {
    const mail = await prepareMail({ payload: 'x', to: 'b@contoso.com', attachments: [{ path: 'report.txt' }] }, { ...NODE, attachmentDir: path.join(dir, 'allowed') });
    assert.match(mail.raw.toString(), /filename=report\.txt/);
    assert.equal(mail.mailbox, 'alice@contoso.com');
  });
});

describe('smtp msg codec', () => {
  it('keeps Buffers, drops req/res, functions and cycles', () => {
    const msg: Record<string, unknown> = { payload: Buffer.from('abc'), req: { x: 1 }, res: {}, fn: () => 1, nested: { b: Buffer.from([1, 2]) } };
    msg.self = msg;
    const back = decodeMsg(encodeMsg(msg));
    assert.ok(Buffer.isBuffer(back.payload));
    assert.equal(String(back.payload), 'abc');
    assert.deepEqual((back.nested as { b: Buffer }).b, Buffer.from([1, 2]));
    assert.equal(back.req, undefined);
    assert.equal(back.res, undefined);
    assert.equal(back.fn, undefined);
    assert.equal(back.self, undefined);
  });

  it('reads a msg without Buffers as it was, also one whose text names the Buffer tag', () => {
    const plain = { payload: 'text', topic: 'T', to: ['a@b.c'], n: 3, deep: { list: [1, { x: null }] } };
    assert.deepEqual(decodeMsg(encodeMsg(plain)), plain);
    const tricky = { payload: 'a "__m365Buffer" in the text', data: Buffer.from('x') };
    const back = decodeMsg(encodeMsg(tricky));
    assert.equal(back.payload, tricky.payload);
    assert.ok(Buffer.isBuffer(back.data));
  });
});
