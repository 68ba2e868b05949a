import { startBenchNodeRed } from '../node-red';
import { readFileSync } from 'node:fs';
import { ensureTestCa } from '../../test/env/ca';
process.env.NODE_EXTRA_CA_CERTS ||= ensureTestCa().caCertFile;
(async () => {
  const red = await startBenchNodeRed();
  console.log(readFileSync(`/proc/${red.pid}/environ`, 'utf8').split('\0').filter((l) => /EXTRA/.test(l)));
  await red.stop();
})();
