import { startBenchBed } from '../bed';
import { seedCorpus } from '../seed';
(async () => {
  const t = Date.now();
  const bed = await startBenchBed({ scaleMailboxes: 100 });
  console.log('bed', Date.now() - t);
  const s = await seedCorpus(bed, 5000, 20000);
  console.log('seed', s.seconds, s.small.bytes, s.large.bytes);
  console.log(await bed.dovecot.folderStatus('alice@contoso.com', 'Bench20k'));
  await bed.stop();
})();
