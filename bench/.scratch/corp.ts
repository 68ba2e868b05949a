import { forEachChunk } from '/work/main/bench/corpus';
import { simpleParser } from 'mailparser';
import { corpusMail } from '/work/main/bench/corpus';
(async () => {
  const t = Date.now();
  const s = await forEachChunk(0, 5000, 1000, async () => {});
  console.log(s, (s.bytes / s.count / 1024).toFixed(1), 'KB avg', Date.now() - t, 'ms');
  const t2 = Date.now();
  for (let i = 0; i < 1000; i++) await simpleParser(corpusMail(i));
  console.log('parse 1000', Date.now() - t2);
  const p = await simpleParser(corpusMail(7)); console.log(p.subject, p.attachments.length, p.text?.slice(0,80));
})();
