/**
 * The browser sign-ins (auth code + PKCE) started here and not yet finished: each one's `state`,
 * PKCE verifier and redirect URI, for at most 10 minutes and at most 10 at a time, so a redirect
 * back is accepted only for a sign-in this account started.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { M365MailError } from '../core/errors';

export interface PendingAuthCode {
  verifier: string;
  redirectUri: string;
  createdAt: number;
}

const AUTH_CODE_TTL_MS = 10 * 60_000;
const MAX_PENDING_AUTH_CODES = 10;

function stateMismatch(): M365MailError {
  return new M365MailError('The sign-in response does not belong to a sign-in started here (state mismatch).', {
    kind: 'bad-request', code: 'state_mismatch',
    fix: 'Start the sign-in again from the account settings and finish it in the same browser within 10 minutes.',
  });
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export class PendingAuthCodes {
  private readonly pending = new Map<string, PendingAuthCode>();

  constructor(private readonly now: () => number) {}

  /** Remembers a new sign-in and returns its fresh `state`. */
  add(verifier: string, redirectUri: string): string {
    const state = randomBytes(24).toString('base64url');
    this.prune();
    this.pending.set(state, { verifier, redirectUri, createdAt: this.now() });
    return state;
  }

  delete(state: string): void {
    this.pending.delete(state);
  }

  /** Takes the sign-in the redirect's `state` belongs to (compared in constant time); throws on none. */
  take(state: string | undefined): [string, PendingAuthCode] {
    this.prune();
    const entry = [...this.pending.entries()].find(([known]) => state !== undefined && safeEqual(known, state));
    if (!entry) throw stateMismatch();
    this.pending.delete(entry[0]);
    return entry;
  }

  clear(): void {
    this.pending.clear();
  }

  private prune(): void {
    const now = this.now();
    for (const [state, pending] of this.pending) {
      if (now - pending.createdAt > AUTH_CODE_TTL_MS) this.pending.delete(state);
    }
    while (this.pending.size >= MAX_PENDING_AUTH_CODES) {
      const oldest = this.pending.keys().next().value;
      if (oldest === undefined) break;
      this.pending.delete(oldest);
    }
  }
}
