/**
 * The register of the nodes that use one `m365-account`, as Node-RED's MQTT broker node keeps its
 * `users`. Every node that takes tokens from an account registers with it when it starts and
 * deregisters when it closes:
 *
 *     account.register({ id: node.id, protocols: ['imap'], signedIn, signedOut });
 *     node.on('close', (removed, done) => account.deregister(user, done));
 *
 * - `protocols` ('imap' | 'pop3' | 'smtp') decide the scopes the account's tokens ask for: the
 *   union over all registered users (see auth/scopes.ts), so an account whose nodes only read
 *   never asks for SMTP.Send. With no user registered the account asks for IMAP and POP3.
 * - `signedIn(account)` is pushed to every user when a delegated sign-in finished (in the
 *   account's edit dialog), `signedOut()` when the user signed out; no node polls for them.
 *   A user that registers later asks the token provider itself (`getAccount()`).
 * - `deregister(user, done)` calls `done` at once (the account holds no connection of its own);
 *   it takes `done` so a close handler can hand its own on, as with the MQTT broker.
 */
import type { SignedInAccount } from '../../auth/token-provider';
import { MAIL_PROTOCOLS, type MailProtocol } from '../../core/protocol';

/** A node that uses an account, as it registers itself. */
export interface AccountUser {
  /** The node's id: registering the same id again replaces the earlier entry. */
  readonly id: string;
  /** The protocols this node uses the account's tokens for. */
  readonly protocols: readonly MailProtocol[];
  /** A user signed in (delegated accounts). */
  signedIn?(account: SignedInAccount): void;
  /** The signed-in user signed out (delegated accounts). */
  signedOut?(): void;
}

/** The register itself, kept by the account node. */
export class AccountUsers {
  private readonly users = new Map<string, AccountUser>();

  register(user: AccountUser): void {
    this.users.set(user.id, user);
  }

  deregister(user: AccountUser, done?: () => void): void {
    // Only the registered entry itself: a redeployed node with the same id may have replaced it.
    if (this.users.get(user.id) === user) this.users.delete(user.id);
    done?.();
  }

  /** The protocols of all registered users, in MAIL_PROTOCOLS order. */
  protocols(): MailProtocol[] {
    const used = new Set<MailProtocol>();
    for (const user of this.users.values()) for (const protocol of user.protocols) used.add(protocol);
    return MAIL_PROTOCOLS.filter((p) => used.has(p));
  }

  get size(): number {
    return this.users.size;
  }

  /** Pushes a sign-in (account) or sign-out (undefined) to every registered user. */
  signInChanged(account: SignedInAccount | undefined): void {
    for (const user of [...this.users.values()]) {
      if (account) user.signedIn?.(account);
      else user.signedOut?.();
    }
  }
}
