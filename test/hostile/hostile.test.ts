/**
 * Hostile input through m365-imap-in (attachments saved to a folder): every mail of a generated
 * corpus (≥ 200) is either emitted or reported as an error on that one mail; Node-RED keeps
 * running, the watcher keeps going (a normal mail delivered after the corpus still comes out),
 * and nothing is written outside the attachment folder.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { USERS } from '../env/identity/directory';
import { startTestBed, type TestBed } from '../env/testbed';
import { builtNodes, helper } from '../support/helper';
import { escapeTargetPath, hostileCorpus } from './hostile-corpus';
import { Collector, flowWith, imapInNode, tempDir, waitFor, type TempDir } from '../integration/nodes/imap-in-support';

const HUGE_ATTACHMENT_BYTES = 30 * 1024 * 1024;

/** path → size:mtime of every entry under `root` (recursively), except the `skip` subtree. */
function snapshot(root: string, skip?: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (full === skip) continue;
      const stat = lstatSync(full);
      entries.set(full, `${stat.isDirectory() ? 'dir' : stat.size}:${stat.mtimeMs}`);
      if (stat.isDirectory()) walk(full);
    }
  };
  walk(root);
  return entries;
}

/** Where escaping names would land if a path were joined naively (besides the parent folder). */
function escapeCandidates(parent: string, target: string): string[] {
  const tmp = path.dirname(parent);
  return [
    target, path.join(tmp, 'escape.txt'), path.join(tmp, 'huge.bin'), path.join(tmp, 'type-escape.pdf'), path.join(tmp, 'a.txt'),
    '/escape.txt', '/tmp/evil.sh', '/b.txt', '/huge.bin', path.join(os.homedir(), 'escape.txt'), path.join(process.cwd(), 'escape.txt'),
    path.join(process.cwd(), 'evil.txt'), path.join(process.cwd(), 'sub'),
  ];
}

interface SpiedError {
  args?: unknown[][];
  thisValues?: unknown[];
}

/** UIDs named by the node's errors: msg.mail.uid of the error's msg, or "UID n" in its text. */
function uidsWithErrors(node: unknown): Set<number> {
  const spy = (node as { error: SpiedError }).error;
  const uids = new Set<number>();
  (spy.args ?? []).forEach((args, i) => {
    if (spy.thisValues?.[i] !== node) return;
    const msg = args[1] as { mail?: { uid?: number } } | undefined;
    if (typeof msg?.mail?.uid === 'number') uids.add(msg.mail.uid);
    const named = /UID (\d+)/.exec(String(args[0]));
    if (named) uids.add(Number(named[1]));
  });
  return uids;
}

describe('hostile input: broken, huge and malicious mail through m365-imap-in', function () {
  this.timeout(180_000);
  let bed: TestBed;
  let userDir: TempDir;
  let parent: TempDir;

  before(async function () {
    bed = await startTestBed();
    userDir = tempDir('m365-hostile-user-');
    parent = tempDir('m365-hostile-parent-');
    helper.settings({ userDir: userDir.path });
  });

  after(async function () {
    await helper.unload();
    await bed?.stop();
    userDir?.remove();
    parent?.remove();
  });

  it('emits or reports every mail, keeps watching, and writes only inside attachmentDir', async function () {
    const escapeTarget = escapeTargetPath();
    const corpus = hostileCorpus(escapeTarget, { hugeAttachmentBytes: HUGE_ATTACHMENT_BYTES });
    assert.ok(corpus.length >= 200, `corpus has ${corpus.length} mails`);

    // The folder around attachmentDir holds files of its own; none may change.
    const attachmentDir = path.join(parent.path, 'attachments');
    writeFileSync(path.join(parent.path, 'sibling.txt'), 'keep me');
    mkdirSync(path.join(parent.path, 'other'));
    writeFileSync(path.join(parent.path, 'other', 'file.txt'), 'keep me too');
    const before = snapshot(parent.path, attachmentDir);
    const candidates = escapeCandidates(parent.path, escapeTarget);
    const existedBefore = new Map(candidates.map((file) => [file, existsSync(file) ? statSync(file).mtimeMs : undefined]));

    await bed.dovecot.deliverMany(USERS.alice, corpus.map((mail) => mail.raw));
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), flowWith(account, imapInNode('in', {
      criteria: 'all', attachments: 'save', attachmentDir, maxAttachmentBytes: 50 * 1024 * 1024, batchSize: 50,
    })), { acc: account.credentials });
    const inNode = helper.getNode('in');
    const out = new Collector(helper.getNode('out'));

    // Every UID 1..n is either emitted or named by an error.
    const accounted = (): number[] => {
      const done = new Set([...out.uids, ...uidsWithErrors(inNode)]);
      return corpus.map((_, i) => i + 1).filter((uid) => !done.has(uid));
    };
    await waitFor(() => accounted().length === 0, () => {
      const open = accounted();
      return `every mail emitted or reported; still open: ${open.slice(0, 10).map((uid) => `${uid} (${corpus[uid - 1].name})`).join(', ')}${open.length > 10 ? ` … ${open.length} in all` : ''}`;
    }, 150_000);

    // The watcher goes on: a normal mail after the corpus comes out.
    await bed.dovecot.deliver(USERS.alice, [
      'From: Friend <friend@example.com>', `To: ${USERS.alice}`, 'Subject: after the storm', 'Message-ID: <after@hostile.example>',
      'Content-Type: text/plain; charset=utf-8', '', 'still here', '',
    ].join('\r\n'));
    await waitFor(() => out.topics.includes('after the storm'), 'the normal mail after the corpus', 20_000);

    const errored = uidsWithErrors(inNode);
    const emitted = new Set(out.uids.filter((uid) => uid <= corpus.length));
    const errorOnly = [...errored].filter((uid) => !emitted.has(uid));
    console.log(`      hostile corpus: ${corpus.length} mails, ${emitted.size} emitted, ${errorOnly.length} reported as errors`
      + `${errorOnly.length ? ` (${errorOnly.map((uid) => corpus[uid - 1]?.name).join(', ')})` : ''}`);
    if (process.env.HOSTILE_DEBUG) {
      const spy = (inNode as unknown as { error: SpiedError }).error;
      (spy.args ?? []).forEach((args, i) => { if (spy.thisValues?.[i] === inNode) console.log('      error:', String(args[0]).slice(0, 300)); });
    }

    // Nothing outside attachmentDir changed.
    assert.deepEqual([...snapshot(parent.path, attachmentDir)], [...before], 'the folder around attachmentDir is unchanged');
    for (const file of candidates) {
      const now = existsSync(file) ? statSync(file).mtimeMs : undefined;
      assert.equal(now, existedBefore.get(file), `${file} was not created or changed`);
    }
    // Inside attachmentDir: plain files only, all directly in it.
    const realDir = realpathSync(attachmentDir);
    for (const name of readdirSync(attachmentDir)) {
      const full = path.join(attachmentDir, name);
      const stat = lstatSync(full);
      assert.ok(stat.isFile(), `${JSON.stringify(name)} is a plain file`);
      assert.equal(path.dirname(realpathSync(full)), realDir, `${JSON.stringify(name)} lies directly in attachmentDir`);
      assert.ok(!/[\u0000-\u001f/\\]/.test(name), `${JSON.stringify(name)} has no control characters or separators`);
    }
    // The 30 MB attachment was saved whole, under a name without its "../".
    const huge = out.received.find(({ msg }) => msg.topic === 'hostile huge-attachment');
    assert.ok(huge, 'the mail with the 30 MB attachment was emitted');
    const [saved] = huge.msg.attachments as Array<{ path?: string; size: number; filename?: string }>;
    assert.equal(saved.size, HUGE_ATTACHMENT_BYTES);
    assert.equal(statSync(String(saved.path)).size, HUGE_ATTACHMENT_BYTES);
    // Every saved attachment's path points into attachmentDir.
    for (const { msg } of out.received) {
      for (const attachment of (msg.attachments as Array<{ path?: string }> | undefined) ?? []) {
        if (attachment.path) assert.equal(path.dirname(realpathSync(attachment.path)), realDir, `${attachment.path} is inside attachmentDir`);
      }
    }
  });
});
