import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { linesBySeq, parseSegmentName, parseWatermark, segmentName, storedMailCount, WATERMARK_FILE, WatermarkFile } from '../../../src/smtp/outbox-files';

describe('smtp outbox files', () => {
  it('tells segments and single mails of the earlier layout from any other file by name', () => {
    assert.equal(segmentName(1, 64), '000000000001-000000000064.mails');
    assert.deepEqual(parseSegmentName('000000000001-000000000064.mails'), { name: '000000000001-000000000064.mails', first: 1, last: 64 });
    assert.deepEqual(parseSegmentName('000000000007.mail'), { name: '000000000007.mail', first: 7, last: 7 });
    for (const other of ['000000000064-000000000001.mails', '000000000000.mail', '000000000007.mail.bad', '000000000001-000000000002.mails.123-ab.tmp', WATERMARK_FILE]) {
      assert.equal(parseSegmentName(other), undefined, other);
    }
  });

  it('reads the watermark as a number, and anything else as nothing finished', () => {
    assert.equal(parseWatermark('000000000000042\n'), 42);
    for (const bad of [undefined, '', 'x', '-3', '1.5']) assert.equal(parseWatermark(bad), 0);
  });

  it('finds each mail line of a segment by its number and skips what is not a mail', () => {
    const lines = linesBySeq('{"v":1,"seq":3,"a":1}\n{"v":1,"seq":4,"a":2}\nnot a mail\n');
    assert.deepEqual([...lines.keys()], [3, 4]);
    assert.equal(lines.get(4), '{"v":1,"seq":4,"a":2}');
  });

  it('counts the stored mails from names and watermark; the watermark is rewritten in place', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-outbox-files-'));
    try {
      assert.equal(storedMailCount(path.join(dir, 'missing')), 0);
      for (const name of [segmentName(1, 10), segmentName(11, 12), '000000000013.mail', 'other.txt']) await fs.writeFile(path.join(dir, name), '');
      assert.equal(storedMailCount(dir), 13);
      const watermark = new WatermarkFile(dir);
      watermark.write(999);
      watermark.write(5);
      watermark.close();
      assert.equal(await fs.readFile(path.join(dir, WATERMARK_FILE), 'utf8'), '000000000000005\n', 'no longer number left behind');
      assert.equal(storedMailCount(dir), 8);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
