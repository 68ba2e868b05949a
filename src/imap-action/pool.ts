/**
 * The action sessions of the process, one per account + mailbox: the first action node that acts
 * on a mailbox creates its session, later ones share it, and the last one to leave stops it.
 */
import { ActionSession, type ActionSessionOptions } from './session';

interface Entry {
  session: ActionSession;
  users: Set<string>;
}

const sessions = new Map<string, Entry>();

/** The key of a session: the account node's id and the mailbox (addresses are case-insensitive). */
export function sessionKey(accountId: string, mailbox: string): string {
  return `${accountId}\n${mailbox.toLowerCase()}`;
}

/**
 * The session for `key`, created with `options()` when there is none; `user` (a node id) holds
 * it until it calls {@link releaseActionSession}.
 */
export function acquireActionSession(key: string, user: string, options: () => ActionSessionOptions): ActionSession {
  let entry = sessions.get(key);
  if (!entry) {
    entry = { session: new ActionSession(options()), users: new Set() };
    sessions.set(key, entry);
  }
  entry.users.add(user);
  return entry.session;
}

/** Lets go of a session; the last user's release stops it (closing its connection). */
export async function releaseActionSession(key: string, user: string): Promise<void> {
  const entry = sessions.get(key);
  if (!entry) return;
  entry.users.delete(user);
  if (entry.users.size > 0) return;
  sessions.delete(key);
  await entry.session.stop();
}

/** How many sessions are open (for tests). */
export function openActionSessions(): number {
  return sessions.size;
}
