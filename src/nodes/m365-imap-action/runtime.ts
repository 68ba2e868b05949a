import type { Node, NodeAPI } from 'node-red';
import { isAppOnly } from '../../auth/account-config';
import { parseImapActionConfig } from '../../config/action-config';
import { M365MailError } from '../../core/errors';
import {
  ActionRunner, PendingActions, acquireActionSession, describeAction, releaseActionSession, reportOf, resolveActionRequest, sessionKey,
  type ActionRequest, type ActionSession, type SessionState, type UidOutcome,
} from '../../imap-action';
import { buildMailMessage } from '../../mail';
import { mailProxy } from '../shared/mail-proxy';
import { checkAccountSetup } from '../shared/reader-node';
import { debugLoggingEnabled, reportError, runtimeTranslator, type NodeProps } from '../shared/red';
import { showStatus } from '../shared/status';
import { checkpointStore } from '../shared/storage';
import type { CheckpointStore } from '../../state';

type Msg = Record<string, unknown>;
type Send = (msg: Msg | Msg[]) => void;

// Status changes at most this often while a backlog is acknowledged.
const STATUS_EVERY_MS = 250;

export default function registerImapActionNode(RED: NodeAPI): void {
  function M365ImapActionNode(this: Node, props: NodeProps): void {
    RED.nodes.createNode(this, props);
    const node = this;
    const { config, errors } = parseImapActionConfig(props);
    const account = checkAccountSetup(RED, node, props, errors);
    if (!account) return;
    const t = runtimeTranslator(RED);
    let store: CheckpointStore;
    try {
      store = checkpointStore(RED);
    } catch (error) {
      // The state folder cannot be created: say so with its fix instead of failing the constructor.
      showStatus(node, { state: 'error', errorKind: reportError(node, error).kind }, t);
      return;
    }
    const sessions = new Map<string, { session: ActionSession; unsubscribe: () => void }>();
    // On the account's register for IMAP, so its tokens carry the IMAP scope; a sign-in ends the
    // wait of actions that were held back for want of one.
    const accountUser = {
      id: node.id, protocols: ['imap'] as const,
      signedIn: () => { for (const entry of sessions.values()) entry.session.retryNow(); },
    };
    account.register(accountUser);
    const provider = account.tokenProvider();
    const appOnly = isAppOnly(account.accountConfig.authType);
    const storeKey = `imap-action:${node.id}`;
    const pending = PendingActions.open(store, storeKey);
    let closed = false;
    let doneCount = 0;
    let sessionState: SessionState = { state: 'idle' };
    let statusTimer: ReturnType<typeof setTimeout> | undefined;

    const showNow = (): void => {
      statusTimer = undefined;
      if (closed) return;
      if (sessionState.state === 'error') showStatus(node, { state: 'error', errorKind: sessionState.error.kind }, t);
      else if (sessionState.state === 'connecting' && runner.inFlight > 0) showStatus(node, { state: 'connecting' }, t);
      else if (runner.inFlight > 0) showStatus(node, { state: 'pending', count: runner.inFlight }, t);
      else showStatus(node, doneCount > 0 ? { state: 'done', count: doneCount } : { state: 'clear' }, t);
    };
    const updateStatus = (): void => { statusTimer ??= setTimeout(showNow, STATUS_EVERY_MS); };

    let toldError = false;
    const onSessionState = (state: SessionState): void => {
      sessionState = state;
      if (state.state === 'error' && state.retryInMs !== undefined && !toldError) {
        // The msgs wait and are tried again: say it once per outage, not per attempt.
        toldError = true;
        node.warn(state.error.toString());
      }
      if (state.state === 'connected') toldError = false;
      updateStatus();
    };

    const runner = new ActionRunner({
      owner: node.id,
      pending,
      warn: (text) => node.warn(text),
      sessionFor: (mailbox) => {
        const key = sessionKey(account.id, mailbox);
        let entry = sessions.get(key);
        if (!entry) {
          const endpoint = provider.endpoints.imap;
          const session = acquireActionSession(key, node.id, () => ({
            connection: {
              host: endpoint.host, port: endpoint.port, mailbox, tokenSource: provider, appOnly,
              proxy: mailProxy(endpoint.host, endpoint.port, account.accountConfig.proxy)?.toString(),
              logger: { debug: (m: string) => node.debug(m), warn: (m: string) => node.warn(m), debugEnabled: debugLoggingEnabled(RED) },
            },
          }));
          entry = { session, unsubscribe: session.onState(onSessionState) };
          sessions.set(key, entry);
        }
        return entry.session;
      },
    });

    // An empty mailbox means the msg's own, else the node's, else the signed-in user's.
    const resolveMailbox = async (mailbox: string): Promise<string> => {
      if (mailbox) return mailbox;
      const signedIn = appOnly ? undefined : await provider.getAccount();
      if (signedIn) return signedIn.username;
      throw new M365MailError(appOnly ? 'No mailbox: the msg names none and the node has none set' : t('common.errors.signInFirst'), {
        kind: appOnly ? 'config' : 'sign-in-required',
        fix: appOnly ? 'Set "Mailbox" on the node, or send the msg of an "imap in" node (msg.mail.mailbox).' : 'Open the m365-account node and press Sign in.',
      });
    };

    const failureOf = (outcomes: UidOutcome[]): M365MailError | undefined => {
      const failed = outcomes.find((o) => o.result === 'failed');
      return failed && failed.result === 'failed' ? failed.error : undefined;
    };

    /** Puts the outcome on the msg (and, for fetch, the mail's fields as the readers set them) and sends it on. */
    const passOn = async (msg: Msg, request: ActionRequest, outcomes: UidOutcome[], send: Send): Promise<void> => {
      const report = reportOf(request, outcomes);
      if (!report) throw failureOf(outcomes) ?? new M365MailError('The action failed', { kind: 'action-refused' });
      const mail = typeof msg.mail === 'object' && msg.mail !== null ? (msg.mail as Msg) : { protocol: 'imap', mailbox: request.mailbox, folder: request.folder, uid: request.uids.length === 1 ? request.uids[0] : request.uids };
      if (request.action !== 'fetch') {
        msg.mail = { ...mail, action: report };
        send(msg);
        return;
      }
      // fetch: one msg per mail found (the first is the input msg itself), with the fields of a reader's msg.
      const found = outcomes.filter((o) => o.result === 'done' && o.fetched);
      if (found.length === 0) {
        msg.mail = { ...mail, action: report };
        send(msg);
        return;
      }
      const out: Msg[] = [];
      for (const [index, outcome] of found.entries()) {
        if (outcome.result !== 'done' || !outcome.fetched) continue;
        const built = await buildMailMessage(outcome.fetched.source, {
          output: config.output, attachments: 'include',
          meta: { protocol: 'imap', mailbox: request.mailbox, folder: request.folder, uid: outcome.uid, uidValidity: request.uidValidity, flags: outcome.fetched.flags, size: outcome.fetched.size },
        });
        const target = index === 0 ? msg : (RED.util.cloneMessage(msg) as Msg);
        Object.assign(target, built, { mail: { ...built.mail, uidValidity: built.mail.uidValidity ?? mail.uidValidity, action: { name: 'fetch', result: 'done', uid: outcome.uid } } });
        out.push(target);
      }
      for (const each of out) send(each);
    };

    node.on('input', (msg: Msg, send: Send, done: (error?: Error) => void) => {
      const asked = resolveActionRequest(msg, config);
      if (asked instanceof M365MailError) {
        reportError(node, asked, msg);
        done();
        return;
      }
      const handle = async (): Promise<void> => {
        const request = { ...asked, mailbox: await resolveMailbox(asked.mailbox) };
        updateStatus();
        const outcomes = await runner.run(request);
        // Closed before the server answered: the action stays stored and runs at the next start.
        if (!outcomes) return;
        await passOn(msg, request, outcomes, send);
        doneCount += request.uids.length;
      };
      handle().then(() => { updateStatus(); done(); }, (error: unknown) => {
        const reported = reportError(node, error, msg);
        if (!closed) showStatus(node, { state: 'error', errorKind: reported.kind }, t);
        done();
      });
    });

    // Actions accepted before a restart (or a crash) and never confirmed: applied once, now.
    runner.replay((stored, outcomes) => {
      const failure = failureOf(outcomes);
      if (failure) reportError(node, failure, { mail: { protocol: 'imap', mailbox: stored.mailbox, folder: stored.folder, uid: stored.uids.length === 1 ? stored.uids[0] : stored.uids } });
      else doneCount += stored.uids.length;
      updateStatus();
    }).then((count) => {
      if (count > 0) node.log(`Applying ${count} stored action(s) accepted before the restart`);
    }, (error: unknown) => reportError(node, error));

    node.on('close', (removed: boolean, closeDone: () => void) => {
      closed = true;
      clearTimeout(statusTimer);
      account.deregister(accountUser);
      runner.close(5000).then(async () => {
        for (const [key, entry] of sessions) {
          entry.unsubscribe();
          await releaseActionSession(key, node.id);
        }
        // A deleted node takes its stored actions with it; a restarted one keeps them.
        if (removed) await store.delete(storeKey).catch(() => undefined);
      }).catch(() => undefined).then(() => {
        node.status({});
        closeDone();
      });
    });

    node.debug(`ready to ${describeAction(config.action, config)} mails`);
  }

  RED.nodes.registerType('m365-imap-action', M365ImapActionNode);
}
