import { startTestBed } from '/work/main/test/env/testbed';
import { USERS } from '/work/main/test/env/identity/directory';
import { builtNodes, helper } from '/work/main/test/support/helper';
import { Collector, flowWith, imapInNode, mail, tempDir, waitForStatus } from '/work/main/test/integration/nodes/imap-in-support';
it('dbg', async function () {
  this.timeout(30000);
  const bed = await startTestBed();
  const ud = tempDir('dbg-');
  helper.settings({ userDir: ud.path });
  const folder = 'Redeploy';
  await bed.dovecot.createFolder(USERS.alice, folder);
  const load = async () => {
    await helper.load(builtNodes(), flowWith(bed.accountFor('daemon'), imapInNode('in', { folder })), { acc: bed.accountFor('daemon').credentials });
    const n = helper.getNode('in') as any;
    n.on('call:debug', (c: any) => console.log(Date.now() % 100000, 'DEBUG', String(c.args[0]).slice(0, 150)));
    n.on('call:status', (c: any) => console.log(Date.now() % 100000, 'STATUS', JSON.stringify(c.args[0])));
    n.on('call:error', (c: any) => console.log(Date.now() % 100000, 'ERROR', String(c.args[0])));
    return n;
  };
  let n = await load();
  await waitForStatus(n, /watching/);
  console.log('--- unload');
  const t = Date.now();
  await helper.unload();
  console.log('--- unloaded in', Date.now() - t);
  n = await load();
  try { await waitForStatus(n, /watching/, 0, 8000); } catch (e) { console.log(String(e)); }
  await helper.unload();
  await bed.stop(); ud.remove();
});
