/**
 * No mail may stop Node-RED: over the whole hostile corpus (generated) and the shared corpus of
 * other projects' test mails, the mail pipeline never keeps the event loop busy for longer than
 * 250 ms on any one mail. A mail over the limit is tried again (the machine may be busy with
 * other work, which delays the loop too); it fails when it blocks that long on every try.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { escapeTargetPath, hostileCorpus } from './hostile-corpus';
import { measureEventLoopBlocks, SHARED_MIME_CORPUS, sharedCorpus } from './event-loop-block';

const MAX_BLOCK_MS = 250;

describe('hostile input: no mail blocks the event loop', function () {
  this.timeout(600_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'm365-block-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it(`never blocks it for more than ${MAX_BLOCK_MS} ms on any one mail`, async function () {
    const generated = hostileCorpus(escapeTargetPath(), { hugeAttachmentBytes: 30 * 1024 * 1024 });
    const shared = sharedCorpus();
    const mails = [...generated, ...shared];
    const report = await measureEventLoopBlocks(mails, path.join(dir, 'attachments'), MAX_BLOCK_MS);
    const megabytes = mails.reduce((sum, mail) => sum + mail.raw.length, 0) / 1e6;
    console.log(`      ${mails.length} mails (${generated.length} generated, ${shared.length} from ${SHARED_MIME_CORPUS}; ${megabytes.toFixed(1)} MB), `
      + `${report.rejected} rejected; longest event-loop block ${report.longestMs.toFixed(0)} ms (first pass ${report.firstPassMs.toFixed(0)} ms); `
      + `slowest: ${report.perMail.slice(0, 5).map((mail) => `${mail.name} ${mail.ms.toFixed(0)} ms${mail.tries > 1 ? ` (least of ${mail.tries} tries)` : ''}`).join(', ')}`);
    const over = report.perMail.filter((mail) => mail.ms > MAX_BLOCK_MS);
    assert.deepEqual(over.map((mail) => `${mail.name} (${mail.bytes} B): ${mail.ms.toFixed(0)} ms in each of ${mail.tries} tries`), [], 'mails that blocked the event loop');
  });
});
