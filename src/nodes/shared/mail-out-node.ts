import path from 'node:path';
import type { Node, NodeAPI, NodeStatus } from 'node-red';
import { isAppOnly } from '../../auth/account-config';
import type { MailOutConfig } from '../../config/mail-out-config';
import { M365MailError } from '../../core/errors';
import { nextTurnOfLoop, TaskLimiter } from '../../core/tasks';
import { MailboxSender, Outbox, OutboxDrain, prepareMail, type DrainStatus, type SmtpTokenSource } from '../../smtp';
import type { AccountNode } from '../m365-account/runtime';
import type { AccountUser } from '../m365-account/users';
import { mailProxy } from './mail-proxy';
import { reportError, runtimeTranslator } from './red';
import { acquireSender, releaseSender } from './smtp-senders';
import { stateDir } from './storage';

/** The folder of one node's outbox under `<userDir>/m365-mail/outbox/`. */
export function outboxDir(RED: NodeAPI, nodeId: string): string {
  return path.join(stateDir(RED), 'outbox', nodeId.replace(/[^A-Za-z0-9._-]/g, '_'));
}

const STATUS_INTERVAL_MS = 250;
/**
 * Msgs composed and written at the same time: the outbox writes those that arrive while it commits
 * a group as the next group (one folder fsync for all), so this bounds a group's size and the
 * memory of msgs being prepared.
 */
const INTAKE_CONCURRENCY = 64;

/**
 * The Node-RED side of m365-mail-out: each input msg is composed and written to the outbox before
 * `done()`; the drain sends in order through the mailbox's one connection; an accepted mail goes
 * to the output with `msg.mail`, a refused one to Catch nodes with its msg. Status shows the
 * outbox size and what the node is doing.
 */
export function runMailOutNode(RED: NodeAPI, node: Node, account: AccountNode, config: MailOutConfig): void {
  const t = runtimeTranslator(RED);
  const provider = account.tokenProvider();
  const appOnly = isAppOnly(account.accountConfig.authType);
  let dir: string;
  try {
    dir = outboxDir(RED, node.id);
  } catch (error) {
    // The state folder cannot be created: say so with its fix instead of failing the constructor.
    const reported = reportError(node, error);
    node.status({ fill: 'red', shape: 'ring', text: t(`common.errorKind.${reported.kind}`) });
    return;
  }
  // Msgs taken by the intake and not yet handed to the outbox (being composed): the outbox's next
  // group waits for them, so a burst is written in few commits.
  let composing = 0;
  const outbox = new Outbox(dir, { moreComing: () => composing > 0 });
  let closed = false;
  let drain: OutboxDrain | undefined;
  let mailbox = config.mailbox;
  let lastStatus: DrainStatus = { state: 'idle', queued: 0 };
  let statusTimer: ReturnType<typeof setTimeout> | undefined;
  let errorKind: string | undefined;

  const paint = (): void => {
    statusTimer = undefined;
    if (closed) return;
    const count = lastStatus.queued;
    let status: NodeStatus;
    if (lastStatus.state === 'retrying') {
      status = { fill: 'red', shape: 'ring', text: `${t(`common.errorKind.${lastStatus.errorKind ?? errorKind ?? 'unknown'}`)} · ${t('common.status.queued', { count })}` };
    } else if (lastStatus.state === 'sending') {
      status = { fill: 'green', shape: 'dot', text: t('common.status.sending', { count }) };
    } else if (count > 0) {
      status = { fill: 'yellow', shape: 'ring', text: t('common.status.queued', { count }) };
    } else {
      status = { fill: 'green', shape: 'ring', text: t('common.status.sent') };
    }
    node.status(status);
  };
  const showStatus = (status: DrainStatus, now = false): void => {
    lastStatus = status;
    if (now) {
      if (statusTimer) clearTimeout(statusTimer);
      paint();
    } else {
      statusTimer ??= setTimeout(paint, STATUS_INTERVAL_MS);
    }
  };

  const tokens: SmtpTokenSource = {
    getAccessToken: (protocol, options) => provider.getAccessToken(protocol, options),
    expectedToken: () => provider.expectedToken?.(),
  };

  const startDrain = (sendAs: string): void => {
    if (closed) return;
    mailbox = sendAs;
    const endpoint = provider.endpoints.smtp;
    const sender = acquireSender(account.id, sendAs, node.id, () => new MailboxSender({
      host: endpoint.host,
      port: endpoint.port,
      mailbox: sendAs,
      tokens,
      proxy: mailProxy(endpoint.host, endpoint.port, account.accountConfig.proxy),
      refusalContext: { appOnly, clientId: account.accountConfig.clientId },
      log: (text) => node.debug(text),
    }));
    drain = new OutboxDrain({
      outbox,
      sender,
      pace: config.pace,
      events: {
        onSent: (mail, info) => {
          node.send({
            ...mail.msg,
            mail: { protocol: 'smtp', messageId: mail.messageId, accepted: info.accepted, rejected: info.rejected, response: info.response, mailbox: mail.mailbox },
          });
        },
        onRefused: (mail, error) => {
          reportError(node, error, { ...mail.msg, mail: { protocol: 'smtp', messageId: mail.messageId, mailbox: mail.mailbox } });
        },
        onRetry: (error) => {
          errorKind = error.kind;
          reportError(node, error);
        },
        onStatus: (status) => showStatus(status, status.state === 'retrying'),
        onDamaged: (seq, error) => node.warn(`Outbox mail ${seq} could not be read and was set aside (${error.message})`),
      },
    });
    drain.start();
  };

  // A delegated node without a mailbox sends as the signed-in user: until someone signs in (in the
  // account's dialog, which the account pushes to its registered nodes) it says so in its status,
  // as the readers do. Registered for SMTP, so the account's tokens carry SMTP.Send.
  let toldSignedOut = false;
  let outboxOpen = false;
  const startWhenSignedIn = (): void => {
    provider.getAccount().then((signedIn) => {
      if (closed || drain) return;
      if (signedIn) return startDrain(signedIn.username);
      node.status({ fill: 'grey', shape: 'ring', text: t('common.status.signed-out') });
      if (!toldSignedOut) node.log(t('common.errors.signInFirst'));
      toldSignedOut = true;
    }, (error: unknown) => {
      if (!closed) reportError(node, error);
    });
  };
  const user: AccountUser = {
    id: node.id,
    protocols: ['smtp'],
    signedIn: (signedIn) => {
      if (closed || drain || appOnly || config.mailbox || !outboxOpen) return;
      startDrain(signedIn.username);
    },
  };
  account.register(user);

  const opened = outbox.open().then(() => {
    if (closed) return;
    outboxOpen = true;
    showStatus({ state: 'idle', queued: outbox.size }, true);
    if (config.mailbox) return startDrain(config.mailbox);
    if (appOnly) {
      throw new M365MailError('App-only sending needs a mailbox', { kind: 'config', fix: 'Enter the mailbox to send as (e.g. alerts@contoso.com) in the node.' });
    }
    startWhenSignedIn();
  });
  opened.catch((error: unknown) => {
    if (closed) return;
    reportError(node, error);
    node.status({ fill: 'red', shape: 'ring', text: t(`common.errorKind.${(error as M365MailError).kind ?? 'unknown'}`) });
  });

  // Msgs are composed and written a few at a time: a flow that emits 10,000 msgs at once then
  // costs memory for a few mails being prepared, not for 10,000 (Node-RED holds the rest queued).
  const intake = new TaskLimiter(INTAKE_CONCURRENCY);
  // Msgs are composed one after the other, in the order they arrived, each in a turn of the event
  // loop of its own: the SMTP session's replies are never held up for more than one mail's
  // composing (64 composed at once kept the loop busy ~10 ms at a time and slowed sending).
  let previousTurn: Promise<unknown> = Promise.resolve();
  node.on('input', (msg: Record<string, unknown>, _send: unknown, done: (err?: Error) => void) => {
    intake.run(() => opened.then(async () => {
      if (!drain) throw new M365MailError(t('common.errors.signInFirst'), { kind: 'sign-in-required', fix: t('common.errors.signInFirst') });
      // The turn ends when add() fixed the mail's place, not when it is durable (group commit).
      composing++;
      const placed = previousTurn.then(nextTurnOfLoop).then(() => prepareMail(msg, { ...config, mailbox })).then((mail) => {
        composing--;
        return { durable: outbox.add(mail) };
      }, (error: unknown) => {
        composing--;
        outbox.flush();
        throw error;
      });
      previousTurn = placed.catch(() => undefined);
      await (await placed).durable;
      showStatus({ ...lastStatus, queued: outbox.size });
    })).then(() => done(), (error: unknown) => {
      reportError(node, error, msg);
      done();
    });
  });

  node.on('close', (removed: boolean, closeDone: () => void) => {
    closed = true;
    if (statusTimer) clearTimeout(statusTimer);
    account.deregister(user);
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      closeDone();
    };
    // Never hold Node-RED's close longer than it allows (15 s).
    const guard = setTimeout(done, 10_000);
    (async () => {
      await drain?.stop();
      outbox.close();
      await releaseSender(account.id, mailbox, node.id);
      if (removed) {
        const dropped = await outbox.destroy();
        if (dropped > 0) node.warn(`The node was deleted with ${dropped} unsent mail(s) in its outbox; they were discarded.`);
      }
    })().catch(() => undefined).then(() => {
      clearTimeout(guard);
      node.status({});
      done();
    });
  });
}
