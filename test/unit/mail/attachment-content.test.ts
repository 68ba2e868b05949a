import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { consumeAttachment } from '../../../src/mail/attachment-sink';

const MB = 1024 * 1024;

/** `total` bytes of a fixed pattern in 64 KiB chunks, like a parser hands them out. */
function contentStream(total: number): { stream: Readable; digest: string } {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < total; offset += 64 * 1024) {
    const chunk = Buffer.alloc(Math.min(64 * 1024, total - offset));
    for (let i = 0; i < chunk.length; i++) chunk[i] = (offset + i) % 251;
    chunks.push(chunk);
  }
  return { stream: Readable.from(chunks), digest: createHash('sha256').update(Buffer.concat(chunks)).digest('hex') };
}

const include = { policy: 'include' as const, maxBytes: Infinity };

describe('attachments: content kept in the msg', () => {
  it('gathers a large attachment in place in one buffer sized from the size of the raw mail (no join copy)', async () => {
    const { stream, digest } = contentStream(6 * MB);
    // base64 on the wire: 8 MB raw decode to 6 MB.
    const result = await consumeAttachment(stream, 'scan.pdf', include, { rawMailBytes: 8 * MB + 4096, transferEncoding: 'base64' });
    assert.equal(result.size, 6 * MB);
    assert.equal(createHash('sha256').update(result.content!).digest('hex'), digest);
    // A view into the one buffer reserved up front (3/4 of the raw mail), not a joined copy.
    assert.equal(result.content!.buffer.byteLength, Math.ceil(((8 * MB + 4096) * 3) / 4));
  });

  it('keeps the content right when the hint was too small (falls back to joining chunks)', async () => {
    const { stream, digest } = contentStream(5 * MB);
    const result = await consumeAttachment(stream, 'a.bin', include, { rawMailBytes: 2 * MB });
    assert.equal(result.size, 5 * MB);
    assert.equal(createHash('sha256').update(result.content!).digest('hex'), digest);
  });

  it('keeps an exact copy when the reserved room was far too big (hint covered later attachments)', async () => {
    const { stream, digest } = contentStream(2 * MB);
    const result = await consumeAttachment(stream, 'first.bin', include, { rawMailBytes: 40 * MB });
    assert.equal(createHash('sha256').update(result.content!).digest('hex'), digest);
    assert.equal(result.content!.buffer.byteLength, 2 * MB);
  });

  it('joins small attachments and those without a hint as before', async () => {
    for (const hint of [{}, { rawMailBytes: 100 * 1024 }]) {
      const { stream, digest } = contentStream(300 * 1024);
      const result = await consumeAttachment(stream, 'small.txt', include, hint);
      assert.equal(result.size, 300 * 1024);
      assert.equal(createHash('sha256').update(result.content!).digest('hex'), digest);
    }
  });

  it('never reserves more than the cap, and drops content above it', async () => {
    const { stream } = contentStream(3 * MB);
    const result = await consumeAttachment(stream, 'big.bin', { policy: 'include', maxBytes: 2 * MB }, { rawMailBytes: 100 * MB });
    assert.deepEqual(result, { size: 3 * MB, omitted: true });
  });
});
