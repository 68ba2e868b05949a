import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isM365MailError } from '../../../src/core/errors';
import { buildMailMessage, type MailMeta } from '../../../src/mail';
import { MAX_FILENAME_BYTES } from '../../../src/mail/safe-filename';
import { attachmentsMail, typicalMail } from './test-mails';

const meta: MailMeta = { protocol: 'pop3', mailbox: 'user@contoso.com', uidl: 'u1' };

/** Every file below `dir`, as paths relative to it. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

const HOSTILE_NAMES = [
  '../../etc/passwd',
  '/abs/path',
  'C:\\x\\y.txt',
  '..\\..\\boot.ini',
  'CON.txt',
  'nul',
  'with\u0000nul.txt',
  'x'.repeat(400) + '.txt',
  'invoice\u202Efdp.exe',
  '📄 report 😀.pdf',
  'עברית.txt',
  'same.txt',
  'same.txt',
  'SAME.txt',
  '.hidden',
  '..',
  '',
];

describe('attachments: save', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-save-'));
    dir = path.join(root, 'attachments');
  });

  afterEach(async () => {
    await fs.chmod(root, 0o700).catch(() => undefined);
    await fs.rm(root, { recursive: true, force: true });
  });

  it('writes each hostile-named attachment to a distinct file inside the folder and nowhere else', async () => {
    const msg = await buildMailMessage(attachmentsMail(HOSTILE_NAMES), { meta, attachments: 'save', attachmentDir: dir });

    assert.equal(msg.attachments.length, HOSTILE_NAMES.length);
    const realDir = await fs.realpath(dir);
    const paths = msg.attachments.map((attachment) => attachment.path ?? assert.fail('path missing'));
    assert.equal(new Set(paths).size, paths.length, 'every attachment gets its own file');
    for (const [index, attachment] of msg.attachments.entries()) {
      const filePath = paths[index] ?? '';
      assert.equal(path.dirname(filePath), realDir);
      assert.equal('content' in attachment, false);
      assert.ok(Buffer.byteLength(path.basename(filePath)) <= MAX_FILENAME_BYTES);
      assert.equal(await fs.readFile(filePath, 'utf8'), `content of attachment ${index}`);
    }
    // Nothing outside the attachment folder, nothing in subfolders.
    assert.deepEqual(await fs.readdir(root), ['attachments']);
    const written = await listTree(dir);
    assert.equal(written.length, HOSTILE_NAMES.length);
    assert.ok(written.every((name) => !name.includes(path.sep)));

    const names = paths.map((p) => path.basename(p));
    assert.ok(names.includes('passwd'));
    assert.ok(names.includes('_CON.txt'));
    assert.ok(names.includes('_nul'));
    assert.ok(names.includes('invoicefdp.exe'));
    assert.ok(names.includes('📄 report 😀.pdf'));
    assert.ok(names.includes('עברית.txt'));
    assert.ok(names.includes('same.txt') && names.includes('same (1).txt'));
    assert.ok(names.every((name) => !name.startsWith('.') && !/[\u0000-\u001f\u202a-\u202e]/.test(name)));
  });

  it('gives the safe name in filename and the sender\'s name in originalFilename, whatever the policy', async () => {
    const names = ['../../etc/passwd', '/evil/filename', '..\\..\\x', '/home1/user/postcard.gif', 'CON.txt', 'report.pdf'];
    const safe = ['passwd', 'filename', 'x', 'postcard.gif', '_CON.txt', 'report.pdf'];
    for (const attachments of ['save', 'include', 'omit'] as const) {
      const msg = await buildMailMessage(attachmentsMail(names), { meta, attachments, attachmentDir: dir });
      assert.deepEqual(msg.attachments.map((a) => a.filename), safe, attachments);
      assert.deepEqual(msg.attachments.map((a) => a.originalFilename), names, attachments);
    }
    const saved = await buildMailMessage(attachmentsMail(['../../etc/passwd']), { meta, attachments: 'save', attachmentDir: dir });
    assert.equal(path.basename(saved.attachments[0]?.path ?? ''), 'passwd (1)');
  });

  it('never runs out of names: the 10,002nd image001.png is saved too', async function () {
    this.timeout(60_000);
    await fs.mkdir(dir);
    const taken = ['image001.png', ...Array.from({ length: 10_000 }, (_, i) => `image001 (${i + 1}).png`)];
    for (let i = 0; i < taken.length; i += 500) {
      await Promise.all(taken.slice(i, i + 500).map((name) => fs.writeFile(path.join(dir, name), '')));
    }
    const first = await buildMailMessage(attachmentsMail(['image001.png']), { meta, attachments: 'save', attachmentDir: dir });
    const second = await buildMailMessage(attachmentsMail(['image001.png']), { meta, attachments: 'save', attachmentDir: dir });
    const saved = [first.attachments[0]?.path ?? '', second.attachments[0]?.path ?? ''];
    assert.notEqual(saved[0], saved[1]);
    for (const file of saved) {
      assert.match(path.basename(file), /^image001 \(.+\)\.png$/);
      assert.ok(!taken.includes(path.basename(file)), `${file} is a new name`);
      assert.equal(await fs.readFile(file, 'utf8'), 'content of attachment 0');
    }
  });

  it('never overwrites an existing file, also across mails', async () => {
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'report.pdf'), 'precious');
    const first = await buildMailMessage(typicalMail, { meta, attachments: 'save', attachmentDir: dir });
    const second = await buildMailMessage(typicalMail, { meta, attachments: 'save', attachmentDir: dir });
    assert.equal(await fs.readFile(path.join(dir, 'report.pdf'), 'utf8'), 'precious');
    assert.equal(path.basename(first.attachments[0]?.path ?? ''), 'report (1).pdf');
    assert.equal(path.basename(second.attachments[0]?.path ?? ''), 'report (2).pdf');
  });

  it('does not follow a symlink planted under the attachment name', async () => {
    await fs.mkdir(dir);
    const outside = path.join(root, 'outside.txt');
    await fs.symlink(outside, path.join(dir, 'report.pdf'));
    const msg = await buildMailMessage(typicalMail, { meta, attachments: 'save', attachmentDir: dir });
    assert.equal(path.basename(msg.attachments[0]?.path ?? ''), 'report (1).pdf');
    await assert.rejects(fs.stat(outside), { code: 'ENOENT' });
  });

  it('creates a missing attachment folder with its parents', async () => {
    const nested = path.join(dir, 'a', 'b');
    const msg = await buildMailMessage(typicalMail, { meta, attachments: 'save', attachmentDir: nested });
    assert.equal(path.dirname(msg.attachments[0]?.path ?? ''), await fs.realpath(nested));
  });

  it('rejects with kind storage and a fix when the folder cannot be created', async () => {
    const blocker = path.join(root, 'a-file');
    await fs.writeFile(blocker, 'x');
    const error = await buildMailMessage(typicalMail, {
      meta,
      attachments: 'save',
      attachmentDir: path.join(blocker, 'sub'),
    }).then(() => assert.fail('expected a rejection'), (e: unknown) => e);
    assert.ok(isM365MailError(error));
    assert.equal(error.kind, 'storage');
    assert.match(error.fix, /attachmentDir/);
  });

  it('rejects with kind storage when the folder is not writable', async function () {
    // chmod does not stop root (CI runs as root); /proc refuses new files to everyone.
    const readOnlyDir = process.getuid?.() === 0 ? '/proc' : dir;
    if (readOnlyDir === dir) {
      await fs.mkdir(dir);
      await fs.chmod(dir, 0o500);
    }
    const error = await buildMailMessage(typicalMail, { meta, attachments: 'save', attachmentDir: readOnlyDir }).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(isM365MailError(error));
    assert.equal(error.kind, 'storage');
  });

  it('removes the partial file of an attachment over the size cap and marks it omitted', async () => {
    const msg = await buildMailMessage(typicalMail, { meta, attachments: 'save', attachmentDir: dir, maxAttachmentBytes: 10 });
    assert.equal(msg.attachments[0]?.omitted, true);
    assert.equal(msg.attachments[0]?.path, undefined);
    assert.deepEqual(await listTree(dir), []);
  });

  it('removes files already saved for a mail that then fails to parse', async () => {
    const good = attachmentsMail(['kept-until-failure.txt']).toString('utf8');
    // Same mail, but a later part carries a header block larger than mailparser accepts.
    const broken = Buffer.from(
      good.replace('--many--', `--many\r\nX-Long: ${'a'.repeat(1_100_000)}\r\nContent-Type: text/plain\r\n\r\nx\r\n--many--`),
    );
    const error = await buildMailMessage(broken, { meta, attachments: 'save', attachmentDir: dir }).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(isM365MailError(error));
    assert.equal(error.kind, 'mail-parse');
    assert.deepEqual(await listTree(dir), []);
  });
});
