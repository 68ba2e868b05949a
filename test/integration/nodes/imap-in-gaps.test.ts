/**
 * m365-imap-in in the Node-RED runtime against the test bed, for what Exchange does now and then:
 * a folder whose UIDVALIDITY changes (under a running flow and while it is stopped), the criteria
 * `unseen` and `custom` across a restart of the flow, and a session Exchange ends with
 * `* BYE … AccessTokenExpired` (through a relay in front of Dovecot).
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import { helper } from '../../support/helper';
import { startImapRelay, type ImapRelay } from '../imap/imap-relay';
import { assertExactlyOnce, errorTexts, mail, useImapInBed, waitFor } from './imap-in-support';

interface SpiedMethod {
  args?: unknown[][];
  thisValues?: unknown[];
}

/** Texts `node` passed to node.warn (the test helper spies on the Node prototype). */
function warnTexts(node: unknown): string[] {
  const spy = (node as Record<string, SpiedMethod>).warn;
  return (spy.args ?? []).filter((_, i) => spy.thisValues?.[i] === node).map((call) => String(call[0]));
}

/** A mail from `from` instead of the fixtures' sender@example.com. */
function mailFrom(from: string, subject: string): string {
  return mail(subject).replace(/^From: .*$/m, `From: ${from}`);
}

describe('m365-imap-in: UIDVALIDITY changes, unseen/custom criteria across restarts, invalidated sessions (Node-RED runtime, test bed)', function () {
  this.timeout(30000);
  // start() loads the flow (same node id and user dir each time) and waits until the node idles.
  const { bed, start } = useImapInBed();
  let relay: ImapRelay | undefined;

  afterEach(async function () {
    await relay?.close();
    relay = undefined;
  });

  async function setUidValidity(folder: string, value: number): Promise<void> {
    await bed.dovecot.doveadm(['mailbox', 'update', '-u', USERS.alice, '--uid-validity', String(value), folder]);
    assert.equal((await bed.dovecot.folderStatus(USERS.alice, folder)).uidvalidity, value);
  }

  it('warns when UIDVALIDITY changes under a running flow and while it is stopped, re-emits nothing, and emits later mail once', async function () {
    const folder = 'GapsUidValidity';
    await bed.dovecot.deliverMany(USERS.alice, ['old 1', 'old 2'].map((s) => mail(s)), { folder });
    // criteria all: a watcher that started over at UID 0 after the change would emit the old mail again.
    const first = await start({ folder, criteria: 'all' });
    await first.out.waitForCount(2);
    await bed.dovecot.deliver(USERS.alice, mail('run 1'), { folder });
    await first.out.waitForCount(3);

    // An idling Dovecot session notices the change only with the next change of the folder (then
    // it says "* BYE IMAP session state is inconsistent"); the kick stands in for that, and the
    // watcher reconnects and finds the new UIDVALIDITY.
    const { uidvalidity } = await bed.dovecot.folderStatus(USERS.alice, folder);
    await setUidValidity(folder, uidvalidity + 1000);
    await bed.dovecot.kick(USERS.alice);
    await waitFor(() => warnTexts(first.node).some((t) => /UIDVALIDITY/.test(t)), () => `a UIDVALIDITY warning (warnings: ${warnTexts(first.node).join(' | ')})`);
    await bed.dovecot.deliver(USERS.alice, mail('after change'), { folder });
    await waitFor(() => first.out.topics.includes('after change'), 'the mail delivered after the change');
    assertExactlyOnce(first.out.topics, ['old 1', 'old 2', 'run 1', 'after change']);
    assert.equal(warnTexts(first.node).filter((t) => /UIDVALIDITY/.test(t)).length, 1, 'warned once');
    assert.match(warnTexts(first.node).find((t) => /UIDVALIDITY/.test(t))!, /not emitted again/);
    assert.deepEqual(errorTexts(first.node), [], 'the server ending the session for it is not a node error');
    await helper.unload();

    await setUidValidity(folder, uidvalidity + 2000);
    const second = await start({ folder, criteria: 'all' });
    await waitFor(() => warnTexts(second.node).some((t) => /UIDVALIDITY/.test(t)), 'a UIDVALIDITY warning after the restart');
    await bed.dovecot.deliver(USERS.alice, mail('after restart'), { folder });
    await waitFor(() => second.out.topics.includes('after restart'), 'the mail delivered after the restart');
    assertExactlyOnce(second.out.topics, ['after restart']);
    assert.deepEqual(errorTexts(second.node), []);
  });

  it('emits mail delivered after a UIDVALIDITY change while the flow was stopped exactly once, and no old mail', async function () {
    const folder = 'GapsUidValidityRecover';
    await bed.dovecot.deliverMany(USERS.alice, ['old 1', 'old 2'].map((s) => mail(s)), { folder });
    const first = await start({ folder, criteria: 'all' });
    await first.out.waitForCount(2);
    await helper.unload();
    const stoppedAt = Date.now();

    const { uidvalidity } = await bed.dovecot.folderStatus(USERS.alice, folder);
    await setUidValidity(folder, uidvalidity + 1000);
    // INTERNALDATE has whole seconds and mail of the checkpoint's own second counts as older, so
    // these are dated in the second after the stop (the last save was before it).
    const internalDate = new Date(Math.floor(stoppedAt / 1000) * 1000 + 1000);
    await bed.dovecot.deliverMany(USERS.alice, ['down 1', 'down 2'].map((s) => mail(s)), { folder, internalDate });
    const second = await start({ folder, criteria: 'all' });
    await waitFor(() => warnTexts(second.node).some((t) => /UIDVALIDITY/.test(t)), 'a UIDVALIDITY warning after the restart');
    await second.out.waitForCount(2);
    await bed.dovecot.deliver(USERS.alice, mail('after restart'), { folder });
    await waitFor(() => second.out.topics.includes('after restart'), 'the mail delivered after the restart');

    assertExactlyOnce(first.out.topics, ['old 1', 'old 2']);
    assertExactlyOnce(second.out.topics, ['down 1', 'down 2', 'after restart']);
    const warnings = warnTexts(second.node).filter((t) => /UIDVALIDITY/.test(t));
    assert.equal(warnings.length, 1, 'warned once');
    assert.match(warnings[0], /Emitting 2 mail\(s\).*not emitted again/);
    assert.deepEqual(errorTexts(second.node), []);
  });

  it('with criteria unseen emits only mail without \\Seen, and none of it again after the flow restarts', async function () {
    const folder = 'GapsUnseen';
    await bed.dovecot.deliver(USERS.alice, mail('pre seen'), { folder, seen: true });
    await bed.dovecot.deliver(USERS.alice, mail('pre unseen'), { folder });
    const first = await start({ folder, criteria: 'unseen' });
    await waitFor(() => first.out.topics.includes('pre unseen'), 'the unseen mail already in the folder');
    await bed.dovecot.deliver(USERS.alice, mail('run 1 seen'), { folder, seen: true });
    await bed.dovecot.deliver(USERS.alice, mail('run 1 unseen'), { folder });
    // The seen mail has the lower UID: by the time the later one is out, it had its chance.
    await waitFor(() => first.out.topics.includes('run 1 unseen'), 'the unseen mail delivered while running');
    await helper.unload();

    await bed.dovecot.deliver(USERS.alice, mail('down seen'), { folder, seen: true });
    await bed.dovecot.deliver(USERS.alice, mail('down unseen'), { folder });
    const second = await start({ folder, criteria: 'unseen' });
    await waitFor(() => second.out.topics.includes('down unseen'), 'the unseen mail delivered while stopped');
    await bed.dovecot.deliver(USERS.alice, mail('run 2 unseen'), { folder });
    await waitFor(() => second.out.topics.includes('run 2 unseen'), 'the last mail');

    assertExactlyOnce(first.out.topics, ['pre unseen', 'run 1 unseen']);
    // 'pre unseen' and 'run 1 unseen' are still unseen on the server (disposition none): only the checkpoint keeps them out.
    assertExactlyOnce(second.out.topics, ['down unseen', 'run 2 unseen']);
    const unseen = (await bed.dovecot.listMessages(USERS.alice, folder)).filter((m) => !m.flags.includes('\\Seen')).length;
    assert.equal(unseen, 4, 'the node changed no flags');
  });

  it('with criteria custom emits only matching mail, and none of it again after the flow restarts', async function () {
    const folder = 'GapsCustom';
    const alerts = 'Alerts <alerts@example.com>';
    const props = { folder, criteria: 'custom', customCriteria: '{"from": "alerts@example.com"}' };
    await bed.dovecot.deliver(USERS.alice, mail('pre other'), { folder });
    await bed.dovecot.deliver(USERS.alice, mailFrom(alerts, 'pre alert'), { folder });
    const first = await start(props);
    await waitFor(() => first.out.topics.includes('pre alert'), 'the matching mail already in the folder');
    await bed.dovecot.deliver(USERS.alice, mail('run 1 other'), { folder });
    await bed.dovecot.deliver(USERS.alice, mailFrom(alerts, 'run 1 alert'), { folder });
    await waitFor(() => first.out.topics.includes('run 1 alert'), 'the matching mail delivered while running');
    await helper.unload();

    await bed.dovecot.deliver(USERS.alice, mail('down other'), { folder });
    await bed.dovecot.deliver(USERS.alice, mailFrom(alerts, 'down alert'), { folder });
    const second = await start(props);
    await waitFor(() => second.out.topics.includes('down alert'), 'the matching mail delivered while stopped');
    await bed.dovecot.deliver(USERS.alice, mailFrom(alerts, 'run 2 alert'), { folder });
    await waitFor(() => second.out.topics.includes('run 2 alert'), 'the last mail');

    assertExactlyOnce(first.out.topics, ['pre alert', 'run 1 alert']);
    assertExactlyOnce(second.out.topics, ['down alert', 'run 2 alert']);
    assert.ok(second.out.received.every((r) => r.msg.from === 'alerts@example.com'));
    assert.deepEqual([...errorTexts(first.node), ...errorTexts(second.node)], []);
  });

  it('logs in again with a fresh token after "* BYE … AccessTokenExpired", with no node error, and emits mail after it', async function () {
    const folder = 'GapsTokenExpired';
    await bed.dovecot.createFolder(USERS.alice, folder);
    relay = await startImapRelay({
      upstream: { host: bed.dovecot.host, port: bed.dovecot.imapPort, caPem: bed.ca.caCertPem },
      tls: { certPem: bed.ca.serverCertPem, keyPem: bed.ca.serverKeyPem },
    });
    const wire = relay;
    const account = { ...bed.accountFor('daemon').node('acc'), imapHost: wire.host, imapPort: String(wire.port) };
    const { node, out } = await start({ folder, mode: 'idle' }, account);
    await waitFor(() => wire.idleCommands() >= 1, 'IDLE through the relay');

    // (That the new login asks for a force-refreshed token is shown at library level: the account
    // answers a forced refresh within 5 s of its last token with that token, so it is not visible here.)
    assert.equal(wire.injectBye('Session invalidated - AccessTokenExpired'), 1);
    await waitFor(() => wire.connections.length === 2 && wire.idleCommands() >= 2, () => `a second session idling (${wire.connections.length} connections)`);
    await bed.dovecot.deliver(USERS.alice, mail('after bye'), { folder });
    await out.waitForCount(1);
    assertExactlyOnce(out.topics, ['after bye']);
    assert.deepEqual(errorTexts(node), [], 'an invalidated session is routine, not a node error');
  });
});
