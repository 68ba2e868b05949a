import { startBenchBed } from '../bed';
import { seedCorpus } from '../seed';
import { startBenchNodeRed } from '../node-red';
import { counter, emailIn, flow, imapIn, ACCOUNT_ID } from '../flows';
import { ensureTestCa } from '../../test/env/ca';
process.env.NODE_EXTRA_CA_CERTS ||= ensureTestCa().caCertFile;
(async () => {
  const bed = await startBenchBed({ scaleMailboxes: 0 });
  await seedCorpus(bed, 300, 0);
  const red = await startBenchNodeRed();
  const which = process.argv[2];
  const reader = which === 'email' ? emailIn('reader', bed, { folder: 'INBOX', criteria: 'ALL', disposition: 'None' }, 'counter') : imapIn('reader', ACCOUNT_ID, { mailbox: 'alice@contoso.com', folder: 'INBOX' }, 'counter');
  const t = await red.deploy(flow(bed, [reader, counter('counter', 300)], which !== 'email'));
  await new Promise((r) => setTimeout(r, 8000));
  console.log(red.proc.log().split('\n').slice(-25).join('\n'));
  console.log(red.markers.slice(0, 5), t);
  await red.stop();
  await bed.stop();
})();
