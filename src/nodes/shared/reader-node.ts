import type { Node, NodeAPI } from 'node-red';
import { isAppOnly } from '../../auth/account-config';
import { M365MailError, isM365MailError, type ErrorKind } from '../../core/errors';
import type { M365TokenProvider } from '../../auth/token-provider';
import type { ReaderConfigBase } from '../../config/reader-config';
import { buildMailMessage } from '../../mail';
import type { MailMeta } from '../../mail/types';
import type { MailProtocol } from '../../core/protocol';
import type { AccountNode } from '../m365-account/runtime';
import type { AccountUser } from '../m365-account/users';
import { reportError, runtimeTranslator, type NodeProps } from './red';
import { NewCountPacer, readerStatusUpdate, showStatus, type ReaderEngineStatus } from './status';

/** What the IMAP watcher and the POP3 poller have in common, as seen by the node. */
export interface MailEngine {
  start(): void;
  checkNow(): Promise<void>;
  pause(): Promise<void> | void;
  resume(): void;
  stop(): Promise<void>;
}

export interface EngineContext {
  mailbox: string;
  provider: M365TokenProvider;
  appOnly: boolean;
  /** Builds the msg for one raw mail and sends it; resolves when it was sent. */
  deliver(source: Buffer | NodeJS.ReadableStream, meta: MailMeta): Promise<void>;
  /** What the engine reports; status.ts decides what the node shows. */
  onStatus(status: ReaderEngineStatus): void;
  onError(error: M365MailError): void;
  warn(text: string): void;
}

/**
 * Start-up checks shared by every node that uses an account: the account exists and is valid, and the node's own
 * properties parse. Returns the account node, or undefined after reporting every problem.
 */
export function checkAccountSetup(RED: NodeAPI, node: Node, props: NodeProps, ownProblems: M365MailError[]): AccountNode | undefined {
  const t = runtimeTranslator(RED);
  const account = RED.nodes.getNode(String(props.account ?? '')) as AccountNode | null;
  const problems = [...ownProblems];
  if (!account) {
    problems.push(new M365MailError(t('common.errors.noAccount'), { kind: 'config', fix: t('common.errors.noAccountFix') }));
  } else if (account.problems.length > 0) {
    problems.push(new M365MailError(t('common.errors.accountInvalid'), { kind: 'config', fix: account.problems.map((p) => p.toString()).join(' ') }));
  }
  if (problems.length > 0) {
    for (const problem of problems) reportError(node, problem);
    showStatus(node, { state: 'error', errorKind: 'config' }, t);
    return undefined;
  }
  return account ?? undefined;
}

/**
 * The Node-RED side of a reader node: input control (check now, pause, resume), status, errors to
 * Catch nodes, mail → msg, and a close that stops the engine within Node-RED's time limit. The
 * protocol specific part is the engine that `createEngine` returns. The node registers with its
 * account for `protocol`; a delegated reader starts when a sign-in is pushed to it and stops at a
 * sign-out.
 */
export function runReaderNode(RED: NodeAPI, node: Node, account: AccountNode, config: ReaderConfigBase, protocol: MailProtocol, createEngine: (context: EngineContext) => MailEngine): void {
  const t = runtimeTranslator(RED);
  const provider = account.tokenProvider();
  const appOnly = isAppOnly(account.accountConfig.authType);
  let engine: MailEngine | undefined;
  /** The signed-in user whose own mailbox the engine reads (delegated, no mailbox configured). */
  let engineUser: string | undefined;
  let starting = false;
  let stopping: Promise<void> = Promise.resolve();
  let closed = false;
  let lastErrorKind: ErrorKind | undefined;
  const newCounts = new NewCountPacer();

  const deliver = async (source: Buffer | NodeJS.ReadableStream, meta: MailMeta): Promise<void> => {
    try {
      const msg = await buildMailMessage(source as Buffer, {
        output: config.output, attachments: config.attachments, attachmentDir: config.attachmentDir || undefined,
        maxAttachmentBytes: config.maxAttachmentBytes, inlineImages: config.inlineImages, meta,
      });
      node.send(msg as unknown as Record<string, unknown>);
      // Node-RED delivers the msg on the next turn of the event loop (setImmediate). Resolving only
      // after that turn keeps the engine's bookkeeping (checkpoint, next command, status) from
      // running first and delaying the msg.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } catch (error) {
      // An unreadable mail is reported here and counts as handled. Anything else (the attachment
      // folder cannot be written, the download broke off) goes back to the engine, which retries
      // and reports it once, with the attempt count, unless the connection simply dropped.
      if (isM365MailError(error) && error.kind !== 'mail-parse') throw error;
      const wrapped = reportError(node, error, { mail: { ...meta, flags: meta.flags ? [...meta.flags] : undefined } });
      if (wrapped.kind !== 'mail-parse') throw wrapped;
    }
  };

  const context = (mailbox: string): EngineContext => ({
    mailbox, provider, appOnly, deliver,
    onStatus: (status) => {
      if (closed) return;
      if (status.state !== 'error') lastErrorKind = undefined;
      const update = readerStatusUpdate(status, newCounts, lastErrorKind);
      if (update) showStatus(node, update, t);
    },
    onError: (error) => {
      if (closed) return;
      lastErrorKind = error.kind;
      reportError(node, error);
      const update = readerStatusUpdate({ state: 'error', errorKind: error.kind }, newCounts);
      if (update) showStatus(node, update, t);
    },
    warn: (text) => node.warn(text),
  });

  const startWith = (mailbox: string): void => {
    if (closed) return;
    try {
      engine = createEngine(context(mailbox));
      engine.start();
    } catch (error) {
      // A bad environment or setting (an unsupported HTTPS_PROXY, a state folder that cannot be
      // written) is this node's error with its fix, never an exception that stops Node-RED.
      engine = undefined;
      context(mailbox).onError(isM365MailError(error) ? error : new M365MailError(error instanceof Error ? error.message : String(error), { kind: 'unknown', cause: error }));
    }
  };

  /** Stops the engine, if one runs; a start waits for the stop, so two engines never overlap. */
  const stopEngine = (): Promise<void> => {
    const running = engine;
    engine = undefined;
    engineUser = undefined;
    if (running) stopping = running.stop().catch(() => undefined);
    return stopping;
  };

  // A delegated reader waits for a user to sign in (in the account's edit dialog); the account
  // pushes the sign-in to it. Without a mailbox it then reads that user's own. Until then it says
  // so in its status, not as an error.
  let toldSignedOut = false;
  const resolveMailboxAndStart = (): void => {
    if (appOnly) {
      startWith(config.mailbox);
      return;
    }
    if (engine || starting) return;
    starting = true;
    stopping.then(() => provider.getAccount()).then((signedIn) => {
      starting = false;
      if (closed || engine) return;
      if (signedIn) {
        startWith(config.mailbox || signedIn.username);
        engineUser = config.mailbox ? undefined : signedIn.username;
        return;
      }
      showStatus(node, { state: 'signed-out' }, t);
      if (!toldSignedOut) node.log(t('common.errors.signInFirst'));
      toldSignedOut = true;
    }, (error: unknown) => {
      starting = false;
      if (!closed) reportError(node, error);
    });
  };

  const user: AccountUser = {
    id: node.id,
    protocols: [protocol],
    signedIn: (signedIn) => {
      if (closed || appOnly) return;
      // Another user signed in while this reader reads the previous user's own mailbox: switch.
      if (engine && engineUser !== undefined && engineUser !== signedIn.username) {
        void stopEngine();
      }
      resolveMailboxAndStart();
    },
    signedOut: () => {
      if (closed || appOnly) return;
      toldSignedOut = false;
      void stopEngine().then(() => {
        if (closed || engine || starting) return;
        showStatus(node, { state: 'signed-out' }, t);
        node.log(t('common.errors.signInFirst'));
        toldSignedOut = true;
      });
    },
  };
  account.register(user);

  node.on('input', (msg: Record<string, unknown>, send: unknown, done: (err?: Error) => void) => {
    const command = typeof msg.payload === 'string' ? msg.payload.trim().toLowerCase() : '';
    if (!engine) {
      done();
      return;
    }
    if (command === 'pause') {
      Promise.resolve(engine.pause()).then(() => done(), (error: unknown) => done(isM365MailError(error) ? error : new Error(String(error))));
      return;
    }
    if (command === 'resume') engine.resume();
    engine.checkNow().then(() => done(), (error: unknown) => {
      // The engine has reported it already; the input msg goes to Catch nodes with it.
      reportError(node, error, msg);
      done();
    });
  });

  node.on('close', (removed: boolean, closeDone: () => void) => {
    closed = true;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      closeDone();
    };
    account.deregister(user);
    // Never hold Node-RED's close longer than it allows (15 s); the engines stop in a few seconds.
    const guard = setTimeout(done, 10000);
    stopEngine().then(() => {
      clearTimeout(guard);
      node.status({});
      done();
    });
  });

  resolveMailboxAndStart();
}
