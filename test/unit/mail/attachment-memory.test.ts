import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { buildMailMessage, type AttachmentPolicy } from '../../../src/mail';
import { bigAttachmentMailStream } from './test-mails';

const MB = 1024 * 1024;
const ATTACHMENT_BYTES = 30 * MB;
const CAP_BYTES = 25 * MB;

// A forced GC before each sample measures what is *held*, not garbage waiting for collection.
// Thresholds leave a few MB for stream buffers and backing stores V8 frees in the background.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

function liveArrayBuffers(): number {
  collectGarbage();
  return process.memoryUsage().arrayBuffers;
}

/**
 * Passes the source through and records the highest live Buffer memory seen while the mail
 * streams (sampled every ~3 MB of input).
 */
function memoryProbe(baseline: number): { stream: Transform; peak: () => number } {
  let peak = 0;
  let sinceSample = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sinceSample += chunk.length;
      if (sinceSample >= 3 * MB) {
        sinceSample = 0;
        peak = Math.max(peak, liveArrayBuffers() - baseline);
      }
      callback(null, chunk);
    },
  });
  return { stream, peak: () => peak };
}

async function runBigMail(policy: AttachmentPolicy, maxAttachmentBytes: number, attachmentDir?: string) {
  const baseline = liveArrayBuffers();
  const probe = memoryProbe(baseline);
  const source: Readable = bigAttachmentMailStream(ATTACHMENT_BYTES).pipe(probe.stream);
  const msg = await buildMailMessage(source, {
    meta: { protocol: 'pop3', mailbox: 'user@contoso.com' },
    attachments: policy,
    attachmentDir,
    maxAttachmentBytes,
  });
  return { msg, peak: probe.peak(), retained: liveArrayBuffers() - baseline };
}

describe('attachments: memory with a 30 MB attachment', function () {
  this.timeout(60_000);
  let root: string;

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-mem-'));
  });

  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('omit: lists it with its full size and never holds it in memory', async () => {
    const { msg, peak, retained } = await runBigMail('omit', CAP_BYTES);
    const [big] = msg.attachments;
    assert.equal(big?.size, ATTACHMENT_BYTES);
    assert.equal(big?.omitted, true);
    assert.equal(big && 'content' in big, false);
    assert.match(big?.checksum ?? '', /^[0-9a-f]{64}$/);
    assert.ok(peak < 10 * MB, `peak live buffers ${(peak / MB).toFixed(1)} MB`);
    assert.ok(retained < 5 * MB, `retained ${(retained / MB).toFixed(1)} MB`);
  });

  it('include with a 25 MB cap: drops it once past the cap, never holds all 30 MB', async () => {
    const { msg, peak, retained } = await runBigMail('include', CAP_BYTES);
    const [big] = msg.attachments;
    assert.equal(big?.omitted, true);
    assert.equal(big?.size, ATTACHMENT_BYTES);
    assert.equal(big && 'content' in big, false);
    // `include` must buffer up to the cap before it can know the size; it never gets further.
    assert.ok(peak < CAP_BYTES + 4 * MB, `peak live buffers ${(peak / MB).toFixed(1)} MB`);
    assert.ok(retained < 5 * MB, `retained ${(retained / MB).toFixed(1)} MB`);
  });

  it('save without a cap: streams it to disk with flat memory', async () => {
    const dir = path.join(root, 'save');
    const { msg, peak } = await runBigMail('save', 0, dir);
    const [big] = msg.attachments;
    assert.equal(big?.size, ATTACHMENT_BYTES);
    assert.equal((await fs.stat(big?.path ?? '')).size, ATTACHMENT_BYTES);
    assert.ok(peak < 10 * MB, `peak live buffers ${(peak / MB).toFixed(1)} MB`);
  });
});
