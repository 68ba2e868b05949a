/**
 * Attachment policies of m365-imap-in inside the Node-RED runtime: include, omit, save (with
 * hostile file names, nothing may land outside attachmentDir) and the default 25 MiB cap.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../../env/identity/directory';
import { errorTexts, mail, tempDir, useImapInBed, type TempDir } from './imap-in-support';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

interface Attachment {
  filename?: string;
  size: number;
  content?: Buffer;
  checksum?: string;
  path?: string;
  omitted?: true;
}

/** Every file below `dir`, relative to it. */
function filesBelow(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesBelow(full).map((f) => path.join(entry.name, f)));
    else found.push(entry.name);
  }
  return found;
}

describe('m365-imap-in attachments (Node-RED runtime, test bed)', function () {
  this.timeout(30000);
  const { bed, start } = useImapInBed();
  let sandbox: TempDir;

  beforeEach(function () {
    sandbox = tempDir('m365-att-');
  });
  afterEach(function () {
    sandbox.remove();
  });

  /** Runs one mail through a node with the given properties and returns its msg. */
  async function emitOne(folder: string, raw: string | Buffer, props: Record<string, unknown>, timeoutMs = 10000): Promise<{ msg: Record<string, unknown>; node: unknown }> {
    await bed.dovecot.createFolder(USERS.alice, folder);
    const { node, out } = await start({ folder, criteria: 'new', ...props });
    await bed.dovecot.deliver(USERS.alice, raw, { folder });
    await out.waitForCount(1, timeoutMs);
    return { msg: out.received[0].msg, node };
  }

  const report = { filename: 'report.pdf', content: randomBytes(3000), contentType: 'application/pdf' };
  const notes = { filename: 'notes.txt', content: Buffer.from('line 1\nline 2\n'), contentType: 'text/plain' };

  it('includes attachment content with checksums (attachments: include)', async function () {
    const { msg } = await emitOne('Att-include', mail('two attachments', { attachments: [report, notes] }), { attachments: 'include' });
    const attachments = msg.attachments as Attachment[];
    assert.deepEqual(attachments.map((a) => a.filename), ['report.pdf', 'notes.txt']);
    assert.ok(report.content.equals(attachments[0].content!), 'binary content arrives intact');
    assert.equal(attachments[0].checksum, createHash('sha256').update(report.content).digest('hex'));
    assert.equal(attachments[1].content?.toString(), 'line 1\nline 2\n');
  });

  it('lists attachments without content (attachments: omit)', async function () {
    const { msg } = await emitOne('Att-omit', mail('omitted', { attachments: [report, notes] }), { attachments: 'omit' });
    const attachments = msg.attachments as Attachment[];
    assert.deepEqual(attachments.map((a) => [a.filename, a.size, a.content]), [['report.pdf', 3000, undefined], ['notes.txt', 14, undefined]]);
  });

  it('saves attachments with hostile names only inside attachmentDir (attachments: save)', async function () {
    const attachmentDir = path.join(sandbox.path, 'inbox-files');
    mkdirSync(attachmentDir);
    const absolute = path.join(sandbox.path, 'absolute-target.txt');
    const hostile = [
      { filename: '../../escape.txt', content: Buffer.from('dot-dot') },
      { filename: '../sibling.txt', content: Buffer.from('sibling') },
      { filename: absolute, content: Buffer.from('absolute') },
      { filename: 'CON.txt', content: Buffer.from('device name') },
      { filename: 'nul\u0000byte.txt', content: Buffer.from('nul byte') },
      { filename: 'dup.txt', content: Buffer.from('first') },
      { filename: 'dup.txt', content: Buffer.from('second') },
      { filename: '..', content: Buffer.from('dots only') },
    ];
    const { msg, node } = await emitOne('Att-save', mail('hostile names', { attachments: hostile }), { attachments: 'save', attachmentDir });
    const attachments = msg.attachments as Attachment[];
    assert.equal(attachments.length, hostile.length);
    const realDir = realpathSync(attachmentDir);
    const paths = new Set<string>();
    attachments.forEach((attachment, i) => {
      assert.ok(attachment.path, `attachment ${i} was saved`);
      assert.equal(path.dirname(attachment.path), realDir, `${JSON.stringify(hostile[i].filename)} was saved directly in attachmentDir`);
      assert.ok(!attachment.path.includes('\u0000'), 'no NUL byte in the file name');
      assert.equal(attachment.content, undefined, 'saved attachments carry no content');
      assert.deepEqual(readFileSync(attachment.path), hostile[i].content, `file of ${JSON.stringify(hostile[i].filename)} holds its content`);
      paths.add(attachment.path);
    });
    assert.equal(paths.size, hostile.length, 'duplicates got their own files, nothing was overwritten');
    // Nothing anywhere in the sandbox outside attachmentDir, and the absolute name was not used.
    assert.deepEqual(filesBelow(sandbox.path).filter((f) => !f.startsWith('inbox-files')), []);
    assert.equal(existsSync(absolute), false);
    assert.equal(existsSync(path.resolve(attachmentDir, '../../escape.txt')), false);
    assert.ok(statSync(attachmentDir).isDirectory());
    assert.deepEqual(errorTexts(node), []);
  });

  it('leaves out a 30 MB attachment under the default 25 MiB cap (listed with omitted: true)', async function () {
    const big = { filename: 'huge.bin', content: randomBytes(30 * 1000 * 1000) };
    const { msg, node } = await emitOne('Att-huge', mail('huge', { attachments: [big, notes] }), {}, 20000);
    const attachments = msg.attachments as Attachment[];
    assert.equal(attachments.length, 2);
    const huge = attachments[0];
    assert.equal(huge.filename, 'huge.bin');
    assert.equal(huge.omitted, true);
    assert.equal(huge.content, undefined, 'no content above the cap');
    assert.ok(huge.size >= 25 * 1024 * 1024, `size counts what was seen (${huge.size})`);
    assert.equal(attachments[1].content?.toString(), 'line 1\nline 2\n', 'the small attachment is still included');
    assert.deepEqual(errorTexts(node), []);
  });
  const inlineImageMail = (): string => [
    'From: alice@example.com', `To: ${USERS.alice}`, 'Subject: inline image', 'MIME-Version: 1.0',
    'Content-Type: multipart/related; boundary="rel"', '', '--rel', 'Content-Type: text/html', '', '<img src="cid:logo@x">',
    '--rel', 'Content-Type: image/png', 'Content-Transfer-Encoding: base64', 'Content-ID: <logo@x>', '', PNG.toString('base64'), '--rel--', '',
  ].join('\r\n');

  it('shows inline images in msg.html as data: URIs by default, as node-red-node-email does', async function () {
    const { msg, node } = await emitOne('Att-inline', inlineImageMail(), {});
    assert.equal(msg.html, `<img src="data:image/png;base64,${PNG.toString('base64')}">`);
    assert.deepEqual(errorTexts(node), []);
  });

  it('keeps the cid: links in msg.html with inlineImages "cid"', async function () {
    const { msg, node } = await emitOne('Att-cid', inlineImageMail(), { inlineImages: 'cid' });
    assert.equal(msg.html, '<img src="cid:logo@x">');
    assert.deepEqual(errorTexts(node), []);
  });
});
