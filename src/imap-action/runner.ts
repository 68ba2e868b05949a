/**
 * What one action node does between an accepted msg and the server's answer, without Node-RED:
 * store the request durably, hand it to the shared session of its mailbox, forget it once the
 * server answered. On start it applies what a previous run left stored; on close it takes back
 * what was not sent yet (it stays stored for the next start) and waits briefly for what was.
 */
import { M365MailError, isM365MailError } from '../core/errors';
import type { ActionRequest } from './request';
import type { PendingActions, StoredAction } from './pending';
import type { ActionSession, SessionItem } from './session';
import type { UidOutcome } from './apply';
import { MAX_UIDS_PER_COMMAND, MAX_UIDS_PER_FETCH } from './batching';

export interface ActionRunnerOptions {
  /** The node's id: owner of its items in the shared sessions. */
  owner: string;
  pending: Promise<PendingActions>;
  /** The shared session of a mailbox (the glue acquires it once per mailbox). */
  sessionFor(mailbox: string): ActionSession;
  /** Reports a problem that has no msg to go with (a failed store write). */
  warn(text: string): void;
}

/** A request whose mailbox is known (the signed-in user's filled in). */
export type ResolvedRequest = ActionRequest;

interface Waiting {
  session: ActionSession;
  item: SessionItem;
  finish(outcomes: UidOutcome[] | undefined): void;
}

export class ActionRunner {
  private readonly waiting = new Set<Waiting>();
  private closing = false;

  constructor(private readonly options: ActionRunnerOptions) {}

  /** Requests waiting for the server. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /**
   * Stores the request, applies it and forgets it again.
   * @returns the outcome per UID, or undefined when the node closed first (the request stays stored)
   */
  async run(request: ResolvedRequest): Promise<UidOutcome[] | undefined> {
    const pending = await this.options.pending;
    const id = await pending.add(toStored(request));
    const forget = (): void => { pending.remove(id).catch((error: unknown) => this.options.warn(`Could not update the stored actions: ${String(error)}`)); };
    let outcomes: UidOutcome[] | undefined;
    try {
      outcomes = await this.apply(request);
    } catch (error) {
      // Reported with its msg now: it must not be applied behind the user's back at the next start.
      forget();
      throw error;
    }
    if (outcomes) forget();
    return outcomes;
  }

  /**
   * Applies, once, what an earlier run of this node accepted but never saw confirmed.
   * @param settled called with each stored action's outcome
   * @returns how many stored actions there were
   */
  async replay(settled: (stored: StoredAction, outcomes: UidOutcome[]) => void): Promise<number> {
    const pending = await this.options.pending;
    const stored = pending.list();
    for (const action of stored) {
      this.apply(action).then((outcomes) => {
        if (!outcomes) return;
        pending.remove(action.id).catch((error: unknown) => this.options.warn(`Could not update the stored actions: ${String(error)}`));
        settled(action, outcomes);
      }, (error: unknown) => {
        // Not even handed to a session (e.g. the proxy setting is unusable): it stays stored for the next start.
        const reason = isM365MailError(error) ? error : new M365MailError(String(error), { kind: 'unknown' });
        settled(action, action.uids.map((uid) => ({ uid, result: 'failed', error: reason })));
      });
    }
    return stored.length;
  }

  /** Applies a request; a list of UIDs longer than one command takes goes out in several. */
  private async apply(request: ResolvedRequest): Promise<UidOutcome[] | undefined> {
    const limit = request.action === 'fetch' ? MAX_UIDS_PER_FETCH : MAX_UIDS_PER_COMMAND;
    const parts: Array<Promise<UidOutcome[] | undefined>> = [];
    for (let start = 0; start < request.uids.length; start += limit) parts.push(this.applyPart({ ...request, uids: request.uids.slice(start, start + limit) }));
    const outcomes = await Promise.all(parts);
    return outcomes.some((part) => part === undefined) ? undefined : (outcomes as UidOutcome[][]).flat();
  }

  private applyPart(request: ResolvedRequest): Promise<UidOutcome[] | undefined> {
    if (this.closing) return Promise.resolve(undefined);
    const session = this.options.sessionFor(request.mailbox);
    return new Promise((resolve) => {
      const waiting: Waiting = {
        session,
        item: {
          owner: this.options.owner,
          batch: { folder: request.folder, action: request.action, uids: request.uids, uidValidity: request.uidValidity, keyword: request.keyword, target: request.target },
          settle: (outcomes) => waiting.finish(outcomes),
        },
        finish: (outcomes) => {
          if (!this.waiting.delete(waiting)) return;
          resolve(outcomes);
        },
      };
      this.waiting.add(waiting);
      session.submit(waiting.item);
    });
  }

  /**
   * Takes back what is still queued (it stays stored and runs at the next start) and waits up to
   * `timeoutMs` for what is on the wire.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    const sessions = new Set([...this.waiting].map((w) => w.session));
    for (const session of sessions) {
      const withdrawn = new Set(session.withdraw(this.options.owner));
      for (const waiting of [...this.waiting]) if (withdrawn.has(waiting.item)) waiting.finish(undefined);
    }
    const deadline = Date.now() + timeoutMs;
    while (this.waiting.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const waiting of [...this.waiting]) waiting.finish(undefined);
  }
}

function toStored(request: ResolvedRequest): Omit<StoredAction, 'id'> {
  const stored: Omit<StoredAction, 'id'> = { mailbox: request.mailbox, folder: request.folder, uids: request.uids, action: request.action };
  if (request.uidValidity !== undefined) stored.uidValidity = request.uidValidity;
  if (request.keyword !== undefined) stored.keyword = request.keyword;
  if (request.target !== undefined) stored.target = request.target;
  return stored;
}

/** `msg.mail.action` for the outcomes of one request (CONTRACT.md). */
export interface ActionReport {
  name: string;
  result: 'done' | 'gone';
  /** After move/copy: the new UID the server told; otherwise the mail's UID. */
  uid?: number;
  /** With several UIDs in one msg: each mail's outcome. */
  results?: Array<{ uid: number; result: 'done' | 'gone'; newUid?: number }>;
}

/**
 * Sums the outcomes of one request up for `msg.mail.action`; undefined when any mail failed
 * (the msg then goes to Catch with that mail's error).
 */
export function reportOf(request: Pick<ActionRequest, 'action'>, outcomes: UidOutcome[]): ActionReport | undefined {
  if (outcomes.some((o) => o.result === 'failed')) return undefined;
  const moves = request.action === 'move' || request.action === 'copy';
  const result = outcomes.every((o) => o.result === 'gone') ? 'gone' : 'done';
  if (outcomes.length === 1) {
    const [only] = outcomes;
    const uid = moves ? (only.result === 'done' ? only.newUid : undefined) : only.uid;
    return uid === undefined ? { name: request.action, result } : { name: request.action, result, uid };
  }
  return {
    name: request.action, result,
    results: outcomes.map((o) => (o.result === 'done' && o.newUid !== undefined ? { uid: o.uid, result: 'done', newUid: o.newUid } : { uid: o.uid, result: o.result as 'done' | 'gone' })),
  };
}
